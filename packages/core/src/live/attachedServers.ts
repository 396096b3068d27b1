import type * as tls from 'node:tls';
import { ServingCertError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CertificateState, ClientCertMode, ServerOptionsRequest } from '../types.js';
import type { PeerLeafObserver } from '../x509/peerLeaves.js';
import { guardUnverifiedCallers } from './unverifiedCallerGuard.js';

/** TLS settings a server was made with, which setSecureContext would otherwise reset. */
const KEPT_SERVER_SETTINGS = [
  'minVersion', 'maxVersion', 'secureProtocol', 'crl', 'sigalgs', 'ciphers', 'ecdhCurve', 'dhparam',
  'honorCipherOrder', 'secureOptions', 'sessionIdContext', 'clientCertEngine',
] as const;

/**
 * The servers a live certificate keeps current. Installing is all-or-nothing from the caller's
 * view: if OpenSSL refuses the material for one server, the caller re-installs the previous
 * state, so no server is left on a pair the others do not serve.
 */
export class AttachedServers {
  readonly #servers = new Set<tls.Server>();
  readonly #logger: Logger;
  readonly #observePeer: PeerLeafObserver | undefined;

  /** `observePeer` hears of every client certificate an attached server verified. */
  constructor(logger: Logger, observePeer?: PeerLeafObserver) {
    this.#logger = logger;
    this.#observePeer = observePeer;
  }

  get size(): number {
    return this.#servers.size;
  }

  add(server: tls.Server, state: CertificateState, trustPem: string): () => void {
    if (typeof (server as Partial<tls.Server>).setSecureContext !== 'function') {
      throw new ServingCertError('E_CONFIG', 'attach() takes an https, http2 secure or tls server (one with setSecureContext)');
    }
    install(server, state, trustPem);
    guardUnverifiedCallers(server, this.#logger);
    this.#servers.add(server);
    const observe = (socket: tls.TLSSocket): void => {
      const leaf = socket.authorized ? socket.getPeerX509Certificate() : undefined;
      if (leaf) this.#observePeer?.(leaf);
    };
    const observing = Boolean((server as { requestCert?: boolean }).requestCert && this.#observePeer);
    if (observing) server.on('secureConnection', observe);
    return () => {
      this.#servers.delete(server);
      if (observing) server.off('secureConnection', observe);
    };
  }

  /** Installs `state` into every attached server. Throws OpenSSL's refusal of the pair. */
  installAll(state: CertificateState, trustPem: string): void {
    for (const server of this.#servers) install(server, state, trustPem);
  }

  clear(): void {
    this.#servers.clear();
  }
}

function install(server: tls.Server, state: CertificateState, trustPem: string): void {
  const { certPem, keyPem } = state;
  // Only a server that asks for client certificates verifies with the trust bundle.
  const ca = (server as { requestCert?: boolean }).requestCert ? trustPem : '';
  const kept: Record<string, unknown> = {};
  const settings = server as unknown as Record<string, unknown>;
  for (const name of KEPT_SERVER_SETTINGS) if (settings[name] !== undefined) kept[name] = settings[name];
  // setSecureContext, not SNICallback: clients that connect by IP (kubelet probes) send no SNI.
  // It affects new handshakes only; open connections keep the context they started with.
  server.setSecureContext({ ...kept, key: keyPem, cert: certPem, ...(ca ? { ca } : {}) });
}

const MODES: readonly ClientCertMode[] = ['none', 'request', 'require'];

/** The mode a request asks for; `requestClientCert` is the deprecated spelling of `'require'`. */
function clientCertModeOf(request: ServerOptionsRequest): ClientCertMode {
  const { clientCert, requestClientCert } = request;
  if (clientCert !== undefined && !MODES.includes(clientCert)) {
    throw new ServingCertError('E_CONFIG', `serverOptions: clientCert must be 'none', 'request' or 'require'; got ${JSON.stringify(clientCert)}`);
  }
  if (requestClientCert !== undefined && clientCert !== undefined && (requestClientCert ? 'require' : 'none') !== clientCert) {
    throw new ServingCertError('E_CONFIG', `serverOptions: requestClientCert (deprecated) says ${String(requestClientCert)} but clientCert says '${clientCert}'; pass clientCert only`);
  }
  return clientCert ?? (requestClientCert ? 'require' : 'none');
}

/**
 * `https.createServer` options for `state`; with `clientCert: 'request'` or `'require'`,
 * verifying clients with `trustPem`.
 */
export function serverOptionsOf(state: CertificateState, trustPem: string, request: ServerOptionsRequest = {}): tls.TlsOptions {
  const { certPem, keyPem } = state;
  const mode = clientCertModeOf(request);
  if (mode === 'none') return { key: keyPem, cert: certPem };
  if (trustPem === '') {
    throw new ServingCertError('E_CONFIG',
      `clientCert: '${mode}' needs a CA to verify clients with, and none is known: mount service-root-ca (caDir) ` +
      'or use a Secret that carries ca.crt');
  }
  // The trust bundle only where clients are verified: in a context that does not verify
  // anyone, OpenSSL would add the root to the served chain and every handshake would pay.
  // 'request' cannot let OpenSSL refuse (that would refuse callers without a certificate too):
  // attach() closes connections with an unverified certificate instead (unverifiedCallerGuard).
  return { key: keyPem, cert: certPem, ca: trustPem, requestCert: true, rejectUnauthorized: mode === 'require' };
}
