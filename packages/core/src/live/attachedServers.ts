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
 * The servers a live certificate keeps current, each on its own: a server that refuses new
 * material (its own settings, e.g. a protocol range or ciphers the key cannot serve) is logged
 * and keeps its previous context, and every other server is updated all the same. A server
 * attached twice stays attached until each attachment is detached.
 */
export class AttachedServers {
  /** Each server, with how many attachments hold it. */
  readonly #servers = new Map<tls.Server, number>();
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
    if (typeof (server as Partial<tls.Server> | null | undefined)?.setSecureContext !== 'function') {
      throw new ServingCertError('E_CONFIG', 'attach() takes an https, http2 secure or tls server (one with setSecureContext)');
    }
    const attachments = this.#servers.get(server);
    if (attachments === undefined) {
      install(server, state, trustPem);
      guardUnverifiedCallers(server, this.#logger);
    }
    this.#servers.set(server, (attachments ?? 0) + 1);
    const observe = (socket: tls.TLSSocket): void => {
      const leaf = socket.authorized ? socket.getPeerX509Certificate() : undefined;
      if (leaf) this.#observePeer?.(leaf);
    };
    const observing = attachments === undefined && Boolean((server as { requestCert?: boolean }).requestCert && this.#observePeer);
    if (observing) server.on('secureConnection', observe);
    let detached = false;
    return () => {
      if (detached) return;
      detached = true;
      const left = (this.#servers.get(server) ?? 1) - 1;
      if (left > 0) {
        this.#servers.set(server, left);
        return;
      }
      this.#servers.delete(server);
      if (observing) server.off('secureConnection', observe);
    };
  }

  /**
   * Installs `state` into every attached server; with none, builds the handle's own context.
   * Throws OpenSSL's refusal of the pair itself, when no server took it and a context of the
   * pair alone cannot be built either; a server's own refusal is logged.
   */
  installAll(state: CertificateState, trustPem: string): void {
    const failures: Array<{ server: tls.Server; error: unknown }> = [];
    for (const server of this.#servers.keys()) {
      try {
        install(server, state, trustPem);
      } catch (error) {
        failures.push({ server, error }); // setSecureContext threw before replacing anything
      }
    }
    if (failures.length === this.#servers.size) void state.secureContext; // throws when the pair itself is refused
    for (const { server, error } of failures) {
      this.#logger.error({ code: 'E_CONFIG', server: addressOf(server), serial: state.info.serialNumber, error: String(error) },
        `an attached server (${addressOf(server)}) refused certificate serial ${state.info.serialNumber} and keeps its previous one: ` +
        `${(error as Error | undefined)?.message ?? String(error)}; check the TLS settings it was created with`);
    }
  }

  clear(): void {
    this.#servers.clear();
  }
}

function addressOf(server: tls.Server): string {
  const address = server.address();
  if (address === null) return 'not listening';
  return typeof address === 'string' ? address : `${address.address}:${address.port}`;
}

function install(server: tls.Server, state: CertificateState, trustPem: string): void {
  const { certPem, keyPem } = state;
  // Only a server that asks for client certificates verifies with the trust bundle; with no CA
  // known, an empty store (no ca at all would mean Node's public roots: anyone's client).
  const verifiesClients = Boolean((server as { requestCert?: boolean }).requestCert);
  const kept: Record<string, unknown> = {};
  const settings = server as unknown as Record<string, unknown>;
  for (const name of KEPT_SERVER_SETTINGS) if (settings[name] !== undefined) kept[name] = settings[name];
  // setSecureContext, not SNICallback: clients that connect by IP (kubelet probes) send no SNI.
  // It affects new handshakes only; open connections keep the context they started with.
  server.setSecureContext({ ...kept, key: keyPem, cert: certPem, ...(verifiesClients ? { ca: trustPem === '' ? [] : trustPem } : {}) });
}

const MODES: readonly ClientCertMode[] = ['none', 'request', 'require'];

/** The mode a request asks for; `requestClientCert` is the deprecated spelling of `'require'`. */
function clientCertModeOf(request: ServerOptionsRequest | null | undefined): ClientCertMode {
  const { clientCert, requestClientCert } = request ?? {};
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
export function serverOptionsOf(state: CertificateState, trustPem: string, request: ServerOptionsRequest | null = {}): tls.TlsOptions {
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
