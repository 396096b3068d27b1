import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import { ServingCertError } from '../errors.js';
import type { ServingCert } from '../types.js';

/** Options of {@link createMtlsDispatcher}: undici Agent options, plus who the server must be. */
export interface MtlsOptions extends Omit<Agent.Options, 'connect'> {
  /** The name to verify the server's certificate against and to send as SNI. Default: the URL's host. Needed when connecting by IP or through another name. */
  serverName?: string;
  /** Check the server by identity instead: its certificate must cover `serviceName.namespace.svc`. */
  peer?: { serviceName: string; namespace: string };
  /** TLS connect options other than the material and the verification (timeouts, ciphers, ...). */
  connect?: Omit<buildConnector.BuildOptions, 'ca' | 'cert' | 'key' | 'pfx' | 'rejectUnauthorized' | 'checkServerIdentity' | 'servername' | 'secureContext'>;
}

/**
 * An undici Dispatcher for mTLS between Services: presents `cert`'s current certificate, trusts
 * `cert.trust` (old and new CA during a rollover) and verifies the server's name or identity.
 * On every rotation and trust change it swaps its connector: new connections use the new
 * material, requests in flight finish on theirs. There is no way to turn verification off.
 *
 * Works with undici's `request` and `fetch`, and with Node's global `fetch` (`{ dispatcher }`).
 */
export function createMtlsDispatcher(cert: ServingCert, options: MtlsOptions = {}): Agent {
  const { serverName, peer, connect = {}, ...agentOptions } = options;
  const unsafe = (connect as { rejectUnauthorized?: unknown }).rejectUnauthorized;
  if (unsafe === false) {
    throw new ServingCertError('E_CONFIG', 'createMtlsDispatcher: rejectUnauthorized: false is not supported; serving-cert always verifies the server');
  }
  if (serverName !== undefined && peer !== undefined) {
    throw new ServingCertError('E_CONFIG', 'createMtlsDispatcher: pass serverName or peer, not both');
  }
  assertClientUse(cert);
  const expectedName = peer ? `${peer.serviceName}.${peer.namespace}.svc` : serverName;

  const checkServerIdentity = (host: string, presented: PeerCertificate): Error | undefined => {
    const name = expectedName ?? host;
    const failure = tls.checkServerIdentity(name, presented);
    if (!failure) return undefined;
    const names = presented.subjectaltname ?? 'none';
    return new ServingCertError('E_PEER_IDENTITY',
      `the server's certificate (serial ${presented.serialNumber}) does not cover "${name}"${peer ? ` (Service ${peer.serviceName} in ${peer.namespace})` : ''}; ` +
      `it covers ${names}. Check the URL, or pass serverName (or peer) with the name the server's certificate carries`,
      { cause: failure, details: { expected: name, presented: names } });
  };

  // A prebuilt SecureContext per rotation: string ca/cert/key would build one per connection.
  // Pooled sockets keep the old client certificate; swapping the connector only affects new ones.
  let connector = build();
  function build(): buildConnector.connector {
    const { certPem, keyPem } = cert.current;
    return buildConnector({
      ...connect,
      secureContext: tls.createSecureContext({ cert: certPem, key: keyPem, ca: cert.trust.pem }),
      rejectUnauthorized: true,
      checkServerIdentity,
      ...(expectedName ? { servername: expectedName } : {}),
    });
  }
  const swap = (): void => {
    connector = build();
  };

  cert.on('rotate', swap);
  cert.on('trust', swap);
  return new MtlsDispatcher({
    ...agentOptions,
    // The connector's own servername (expectedName) wins over the one undici derives from the URL.
    connect: (connectOptions, callback) => connector(connectOptions, callback),
  }, () => {
    cert.off('rotate', swap);
    cert.off('trust', swap);
  });
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

/** An undici Agent that stops following the certificate once it is closed or destroyed. */
class MtlsDispatcher extends Agent {
  readonly #detach: () => void;

  constructor(options: Agent.Options, detach: () => void) {
    super(options);
    this.#detach = detach;
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    this.#detach();
    return callback ? super.close(callback) : super.close();
  }

  override destroy(error?: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(error: Error | null, callback: () => void): void;
  override destroy(errorOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    this.#detach();
    if (typeof errorOrCallback === 'function') return super.destroy(errorOrCallback);
    if (callback) return super.destroy(errorOrCallback ?? null, callback);
    return super.destroy(errorOrCallback ?? null);
  }
}
