import type { TLSSocket } from 'node:tls';
import { DEFAULT_CLUSTER_DOMAIN } from '../options/platformNames.js';
import { dnsNamesOf, uriNamesOf } from '../x509/certInfo.js';

/** Who called: the Service named by a verified client certificate. */
export interface PeerIdentity {
  serviceName: string;
  namespace: string;
  /** Every DNS name of the client certificate. */
  dnsNames: string[];
}

/** An RFC 1123 label, as Kubernetes names Services and namespaces. */
const LABEL = '[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?';

/**
 * The calling Service, read from the client certificate of `socket`: only when the TLS layer
 * verified it (`socket.authorized`), else undefined. A name identifies a Service only in
 * exactly these forms:
 *
 * - DNS `<svc>.<ns>.svc` or `<svc>.<ns>.svc.<clusterDomain>` (the forms the platform puts in
 *   every serving certificate; `orders.shop.svc.attacker.example` is no identity);
 * - URI `spiffe://<clusterDomain>/ns/<ns>/svc/<svc>` (SPIFFE-style, the trust domain being the
 *   cluster domain).
 *
 * A certificate that names two different Services has no identity. An identity is only as
 * strong as the platform's issuance policy: anyone who can make the ClusterIssuer sign
 * `orders.shop.svc` is `orders` in `shop` here. Install the optional Kyverno policy of
 * `deploy/platform/restrict-certificate-names.yaml` so that a Certificate in namespace N can
 * only name Services of N.
 *
 * @param clusterDomain The cluster's DNS domain. Default 'cluster.local'.
 */
export function peerIdentity(socket: TLSSocket, clusterDomain: string = DEFAULT_CLUSTER_DOMAIN): PeerIdentity | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerX509Certificate();
  if (!cert) return undefined;
  const dnsNames = dnsNamesOf(cert);
  const domain = clusterDomain.replace(/\./g, '\\.');
  const byDns = new RegExp(`^(${LABEL})\\.(${LABEL})\\.svc(?:\\.${domain})?$`);
  const byUri = new RegExp(`^spiffe://${domain}/ns/(${LABEL})/svc/(${LABEL})$`);
  const found = new Map<string, { serviceName: string; namespace: string }>();
  for (const name of dnsNames) {
    const match = byDns.exec(name);
    if (match) found.set(`${match[1]}.${match[2]}`, { serviceName: match[1]!, namespace: match[2]! });
  }
  for (const uri of uriNamesOf(cert)) {
    const match = byUri.exec(uri);
    if (match) found.set(`${match[2]}.${match[1]}`, { serviceName: match[2]!, namespace: match[1]! });
  }
  if (found.size !== 1) return undefined; // none, or two Services: no identity
  const [identity] = found.values();
  return { ...identity!, dnsNames };
}
