import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import type { Agent, buildConnector } from 'undici';
import { ServingCertError } from '../errors.js';
import type { PeerAuthorizer } from '../serve/authorizer.js';
import type { ServingCert } from '../types.js';
import { observePeerLeaf } from '../x509/peerLeaves.js';
import { followMaterialChanges } from './handleFanOut.js';
import { loadUndici } from './loadUndici.js';
import { newMtlsDispatcher, type MtlsDispatcher } from './mtlsDispatcher.js';
import { serviceOfHost } from './serviceOfHost.js';

/** Options of {@link createMtlsDispatcher}: undici Agent options, plus who the server must be. */
export interface MtlsOptions extends Omit<Agent.Options, 'connect'> {
  /** The name to verify the server's certificate against and to send as SNI. Default: the URL's host. Needed when connecting by IP or through another name. */
  serverName?: string;
  /** Check the server by identity instead: its certificate must cover `serviceName.namespace.svc`. */
  peer?: { serviceName: string; namespace: string };
  /**
   * One dispatcher for many Services: each URL must name a Service (`svc.ns.svc[.domain]`),
   * the server's certificate must cover that host, and `authorize` must allow that Service
   * (`allowPeers(...)`, the same authorizer type servers use). Not with `serverName` or `peer`.
   */
  authorize?: PeerAuthorizer;
  /** TLS connect options other than the material and the verification (timeouts, ciphers, a custom DNS `lookup`, ...). */
  connect?: Omit<buildConnector.BuildOptions, 'ca' | 'cert' | 'key' | 'pfx' | 'rejectUnauthorized' | 'checkServerIdentity' | 'servername' | 'secureContext'> &
    Pick<tls.ConnectionOptions, 'lookup'>;
}

/**
 * An undici Dispatcher for mTLS between Services: presents `cert`'s current certificate, trusts
 * `cert.trust` (old and new CA during a rollover) and verifies the server's name or identity
 * (a fixed `serverName` or `peer`, or per URL with `authorize`). On every rotation and trust
 * change it swaps its connector: new connections use the new material, requests in flight
 * finish on theirs. There is no way to turn verification off.
 *
 * Works with undici's `request` and `fetch`, its own typed `dispatcher.fetch(url, init)`, and
 * Node's global `fetch` (`{ dispatcher }`).
 */
export function createMtlsDispatcher(cert: ServingCert, options: MtlsOptions = {}): MtlsDispatcher {
  const { serverName, peer, authorize, connect = {}, ...agentOptions } = options;
  const unsafe = (connect as { rejectUnauthorized?: unknown }).rejectUnauthorized;
  if (unsafe === false) {
    throw new ServingCertError('E_CONFIG', 'createMtlsDispatcher: rejectUnauthorized: false is not supported; serving-cert always verifies the server');
  }
  if (serverName !== undefined && peer !== undefined) {
    throw new ServingCertError('E_CONFIG', 'createMtlsDispatcher: pass serverName or peer, not both');
  }
  if (authorize !== undefined && (serverName !== undefined || peer !== undefined)) {
    throw new ServingCertError('E_CONFIG', 'createMtlsDispatcher: authorize checks each URL\'s Service; serverName and peer fix one server. Pass one of them');
  }
  if (authorize !== undefined && typeof (authorize as Partial<PeerAuthorizer>).allows !== 'function') {
    throw new ServingCertError('E_CONFIG', 'createMtlsDispatcher: authorize takes a PeerAuthorizer, e.g. allowPeers({ namespaces: [\'shop\'] })');
  }
  assertClientUse(cert);
  const expectedName = peer ? `${peer.serviceName}.${peer.namespace}.svc` : serverName;
  const checkIdentity = authorize
    ? (host: string, presented: PeerCertificate) => checkAuthorizedService(host, presented, authorize)
    : (host: string, presented: PeerCertificate) => checkName(expectedName ?? host, presented, peer);
  // Node calls it only once the chain verified: a server that passes is a peer whose CA the handle follows (rollover).
  const checkServerIdentity = (host: string, presented: PeerCertificate): ServingCertError | undefined => {
    const failure = checkIdentity(host, presented);
    if (!failure && presented.raw) observePeerLeaf(cert, new X509Certificate(presented.raw));
    return failure;
  };

  // The handle's own SecureContext (key, cert, trust bundle), rebuilt by it once per change:
  // a thousand dispatchers then cost nothing per rotation. Pooled sockets keep the old client
  // certificate; a new connector (with an empty session cache) only affects new ones.
  const { buildConnector } = loadUndici();
  let connector = build();
  function build(): buildConnector.connector {
    return buildConnector({
      ...connect,
      // undici sets ALPN only on connectors it builds itself: without this, no HTTP/2.
      ...(agentOptions.allowH2 ? { allowH2: true } : {}),
      secureContext: cert.current.secureContext,
      rejectUnauthorized: true,
      checkServerIdentity,
      ...(expectedName ? { servername: expectedName } : {}),
    });
  }
  const stopFollowing = followMaterialChanges(cert, () => {
    connector = build();
  });
  return newMtlsDispatcher({
    ...agentOptions,
    // The connector's own servername (expectedName) wins over the one undici derives from the URL.
    connect: (connectOptions, callback) => connector(connectOptions, callback),
  }, stopFollowing);
}

function covered(presented: PeerCertificate): string {
  return presented.subjectaltname ?? 'none';
}

function checkName(name: string, presented: PeerCertificate, peer: MtlsOptions['peer']): ServingCertError | undefined {
  const failure = tls.checkServerIdentity(name, presented);
  if (!failure) return undefined;
  return new ServingCertError('E_PEER_IDENTITY',
    `the server's certificate (serial ${presented.serialNumber}) does not cover "${name}"${peer ? ` (Service ${peer.serviceName} in ${peer.namespace})` : ''}; ` +
    `it covers ${covered(presented)}. Check the URL, or pass serverName (or peer) with the name the server's certificate carries`,
    { cause: failure, details: { expected: name, presented: covered(presented) } });
}

/** With `authorize`: the URL's host names a Service, the certificate covers it, and the authorizer allows it. */
function checkAuthorizedService(host: string, presented: PeerCertificate, authorize: PeerAuthorizer): ServingCertError | undefined {
  const service = serviceOfHost(host);
  if (!service) {
    return new ServingCertError('E_PEER_IDENTITY',
      `createMtlsDispatcher with authorize: the URL's host "${host}" names no Service; use svc.ns.svc (or svc.ns.svc.<cluster domain>), ` +
      'or a dispatcher with serverName or peer for this server', { details: { expected: 'svc.ns.svc', presented: host } });
  }
  const wrongName = checkName(host, presented, service);
  if (wrongName) return wrongName;
  const dnsNames = covered(presented).split(', ').filter((entry) => entry.startsWith('DNS:')).map((entry) => entry.slice(4));
  if (authorize.allows({ ...service, dnsNames })) return undefined;
  return new ServingCertError('E_PEER_IDENTITY',
    `the server at ${host} is Service ${service.serviceName} in ${service.namespace}, which authorize does not allow (allowed: ${authorize.description})`,
    { details: { expected: authorize.description, presented: `${service.serviceName}.${service.namespace}` } });
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_USAGE = '2.5.29.37.0';

/**
 * A leaf whose extendedKeyUsage leaves out clientAuth is refused by every server that checks
 * client certificates: say so at once rather than at each peer's handshake. (With `clientUse`
 * in ensureServingCert, the gate keeps such a leaf out of rotations too.)
 */
function assertClientUse(cert: ServingCert): void {
  const usages = new X509Certificate(cert.current.certPem).keyUsage; // node's name for extendedKeyUsage
  if (usages && !usages.includes(CLIENT_AUTH) && !usages.includes(ANY_USAGE)) {
    throw new ServingCertError('E_KEY_USAGE',
      `createMtlsDispatcher: the serving certificate (serial ${cert.current.info.serialNumber}) has an extendedKeyUsage without clientAuth, ` +
      'so servers refuse it as a client certificate: remove spec.usages from the Certificate or add "client auth", ' +
      'and pass clientUse: true to ensureServingCert so that the gate requires it of every rotation');
  }
}
