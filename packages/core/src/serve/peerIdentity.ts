import type { TLSSocket } from 'node:tls';
import { dnsNamesOf } from '../x509/certInfo.js';

/** Who called: the Service named by a verified client certificate. */
export interface PeerIdentity {
  serviceName: string;
  namespace: string;
  /** Every DNS name of the client certificate. */
  dnsNames: string[];
}

/** `svc.ns.svc` and `svc.ns.svc.<domain>`: the forms the platform puts in every serving certificate. */
const SERVICE_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.|$)/;

/**
 * The calling Service, read from the client certificate of `socket`: only when the TLS layer
 * verified it (`socket.authorized`), else undefined. Certificates from the platform name the
 * Service as `svc.ns.svc`; the first such name decides.
 */
export function peerIdentity(socket: TLSSocket): PeerIdentity | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerX509Certificate();
  if (!cert) return undefined;
  const dnsNames = dnsNamesOf(cert);
  for (const name of dnsNames) {
    const match = SERVICE_NAME.exec(name);
    if (match) return { serviceName: match[1]!, namespace: match[3]!, dnsNames };
  }
  return undefined;
}
