import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import type { Agent, buildConnector } from 'undici';
import { asServingCertError, ServingCertError } from '../errors.js';
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
 * change, new requests go to a new pool with the new material, while the connections made
 * before finish their requests in flight and close (destroyed after 5 minutes at most): no
 * connection keeps an old certificate or an old trust for long. There is no way to turn
 * verification off.
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
  assertTrust(cert);
  const expectedName = peer ? `${peer.serviceName}.${peer.namespace}.svc` : serverName;
  const checkIdentity = authorize
    ? (host: string, presented: PeerCertificate) => checkAuthorizedService(host, presented, authorize)
    : (host: string, presented: PeerCertificate) => checkName(expectedName ?? host, presented, peer);
  // Node calls it from the handshake's callback, once the chain verified: whatever it throws
  // would be an uncaught exception, so a failure here refuses this call instead. A server that
  // passes is a peer whose CA the handle follows (rollover).
  let observerFailed = false;
  const checkServerIdentity = (host: string, presented: PeerCertificate): ServingCertError | undefined => {
    let failure: ServingCertError | undefined;
    try {
      failure = checkIdentity(host, presented);
    } catch (error) {
      if (!authorize) return asServingCertError(error, `createMtlsDispatcher: checking the name of the server at ${host}`);
      return new ServingCertError('E_PEER_IDENTITY',
        `createMtlsDispatcher: the authorizer (authorize.allows) threw while checking the server at ${host} (${String(error)}), ` +
        'so the call is refused; fix the authorizer: it must return true or false',
        { cause: error, details: { expected: authorize.description, presented: covered(presented) } });
    }
    if (!failure && presented.raw) {
      try {
        observePeerLeaf(cert, new X509Certificate(presented.raw));
      } catch (error) {
        // Following the peer's CA is bookkeeping for a rollover: it must not fail a verified call.
        if (!observerFailed) {
          observerFailed = true;
          process.emitWarning(`serving-cert: following the CA of the server at ${host} failed (${String(error)}); the call goes on. ` +
            'Please report it with this stack', { code: 'SERVING_CERT_PEER_FOLLOW', detail: error instanceof Error ? error.stack : undefined });
        }
      }
    }
    return failure;
  };

  // The handle's own SecureContext (key, cert, trust bundle), rebuilt by it once per change:
  // a thousand dispatchers then cost nothing per rotation. A connector only affects new sockets,
  // so each change also moves requests to a new pool and retires the old one's connections.
  const { buildConnector } = loadUndici();
  let appliedContext = cert.current.secureContext;
  let connector = build();
  function build(): buildConnector.connector {
    return buildConnector({
      ...connect,
      // undici sets ALPN only on connectors it builds itself: without this, no HTTP/2.
      ...(agentOptions.allowH2 ? { allowH2: true } : {}),
      secureContext: appliedContext,
      rejectUnauthorized: true,
      checkServerIdentity,
      ...(expectedName ? { servername: expectedName } : {}),
    });
  }
  let stopFollowing = (): void => {};
  const { dispatcher, renew } = newMtlsDispatcher({
    ...agentOptions,
    // Every pool connects with the newest connector: a retiring one that must reconnect to
    // finish its queue presents the new certificate too. The connector's own servername
    // (expectedName) wins over the one undici derives from the URL.
    connect: (connectOptions, callback) => connector(connectOptions, callback),
  }, () => stopFollowing());
  stopFollowing = followMaterialChanges(cert, () => {
    const context = cert.current.secureContext;
    // A rotation that changes trust too is told twice; an empty trust would verify with Node's default CAs.
    if (context === appliedContext || cert.trust.pem === '') return;
    appliedContext = context;
    connector = build();
    renew();
  });
  return dispatcher;
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

/**
 * With no CA known, the handle's context would verify servers with Node's default CAs (public
 * roots): any server with a public certificate for the name would pass as a peer.
 */
function assertTrust(cert: ServingCert): void {
  if (cert.trust.pem !== '') return;
  throw new ServingCertError('E_CONFIG',
    'createMtlsDispatcher needs a CA to verify servers with, and none is known: mount service-root-ca (caDir) ' +
    'or use a Secret that carries ca.crt');
}
