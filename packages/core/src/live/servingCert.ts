import { EventEmitter } from 'node:events';
import * as tls from 'node:tls';
import { ServingCertError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MaterialSource } from '../sources/source.js';
import { describeName, type CertInfo } from '../x509/certInfo.js';
import {
  validateCaBundle,
  validateServingBundle,
  type Expectations,
  type ValidServingBundle,
} from '../x509/validateBundle.js';
import { Refresher } from './refresher.js';
import { TrustStore, type TrustState } from './trustStore.js';

/** The material being served now. `keyPem` is secret: never log it. */
export interface CertificateState {
  readonly certPem: string;
  readonly keyPem: string;
  /** `ca.crt` of the serving Secret, when it has one. */
  readonly caPem: string | undefined;
  readonly info: CertInfo;
  /** key, cert and the current trust bundle, ready for `tls.connect` or an SNI callback. */
  readonly secureContext: tls.SecureContext;
}

/** Options of {@link ServingCert.serverOptions}. */
export interface ServerOptionsRequest {
  /** Ask clients for a certificate and refuse those the trust bundle does not verify. */
  requestClientCert?: boolean;
}

/**
 * A live serving certificate: always valid material, swapped in place when a new version
 * passes the validation gate.
 */
export interface ServingCert {
  /** The material served now. */
  readonly current: CertificateState;
  /** The CAs trusted for peers, old ones included during a rollover. */
  readonly trust: TrustState;
  /**
   * `key` and `cert` for `https.createServer` and co.; with `requestClientCert`, also `ca` (the
   * trust bundle), `requestCert` and `rejectUnauthorized`.
   */
  serverOptions(options?: ServerOptionsRequest): tls.TlsOptions;
  /**
   * Keeps a running `https`, `http2` secure or `tls` server on the current material: every
   * rotation and trust change installs a new secure context, which new handshakes use while
   * open connections go on. The server's own TLS settings (ciphers, versions, ...) are kept.
   * A server that asks for client certificates (`requestCert`) also gets the current trust
   * bundle, so it follows CA rotations. Returns a function that detaches it.
   */
  attach(server: tls.Server): () => void;
  /** A new certificate passed the gate and is served now. */
  on(event: 'rotate', listener: (next: CertInfo, previous: CertInfo) => void): this;
  /** The trusted CAs changed. */
  on(event: 'trust', listener: (trust: TrustState) => void): this;
  /**
   * A new version was refused and the last good one keeps serving. Emitted only when someone
   * listens; otherwise logged, so that a refusal never crashes the process.
   */
  on(event: 'error', listener: (error: ServingCertError) => void): this;
  off(event: 'rotate', listener: (next: CertInfo, previous: CertInfo) => void): this;
  off(event: 'trust', listener: (trust: TrustState) => void): this;
  off(event: 'error', listener: (error: ServingCertError) => void): this;
  once(event: 'rotate', listener: (next: CertInfo, previous: CertInfo) => void): this;
  once(event: 'trust', listener: (trust: TrustState) => void): this;
  once(event: 'error', listener: (error: ServingCertError) => void): this;
  /** Stops every watcher and timer. Safe to call twice; later calls await the first. */
  close(): Promise<void>;
}

/** What a live serving certificate is made of. */
export interface LiveServingCertOptions {
  servingSource: MaterialSource;
  /** Where the platform root CA comes from (`service-root-ca`); optional. */
  caSource: MaterialSource | undefined;
  expectations: Expectations;
  trustGraceMs: number;
  timeoutMs: number;
  logger: Logger;
  signal: AbortSignal | undefined;
  /** Called when the start waits long or times out, to say why from what the environment shows. */
  diagnose?: () => Promise<string | undefined>;
  /** How often a waiting start logs what it waits for (default 10 s), and adds the diagnosis (default 30 s). */
  progressIntervalMs?: number;
  diagnosisIntervalMs?: number;
}

/** How often a start retries while it waits, besides watch events. */
const START_RETRY_MS = 1_000;
/** How often a start says what it is waiting for. */
const PROGRESS_INTERVAL_MS = 10_000;
/** After this long, and as often again, a waiting start also says why, from what the environment shows. */
const DIAGNOSIS_INTERVAL_MS = 30_000;
/** Refusals that waiting cannot cure: a start fails at once on them. */
const FATAL_AT_START = new Set(['E_FORBIDDEN', 'E_CONFIG', 'E_INTERNAL']);

/** TLS settings a server was made with, which setSecureContext would otherwise reset. */
const KEPT_SERVER_SETTINGS = [
  'minVersion', 'maxVersion', 'secureProtocol', 'crl', 'sigalgs', 'ciphers', 'ecdhCurve', 'dhparam',
  'honorCipherOrder', 'secureOptions', 'sessionIdContext', 'clientCertEngine',
] as const;

/**
 * The live state: keeps the last good bundle, feeds it to attached servers and tells listeners.
 * Sources only say "maybe changed"; every version passes the gate before it is served.
 */
export class LiveServingCert extends EventEmitter implements ServingCert {
  readonly #options: LiveServingCertOptions;
  readonly #abort = new AbortController();
  readonly #tasks: Array<Promise<unknown>> = [];
  readonly #servers = new Set<tls.Server>();
  readonly #trust: TrustStore;
  readonly #servingRefresher: Refresher;
  readonly #caRefresher: Refresher | undefined;
  #bundle: ValidServingBundle | undefined;
  #current: CertificateState | undefined;
  #lastRefusal = new Map<string, string>();
  #pendingReasons = new Map<string, string>();
  #pruneTimer: NodeJS.Timeout | undefined;
  #warnedSerials = new Set<string>();
  #closing: Promise<void> | undefined;
  #onStartProgress: (() => void) | undefined;
  #fatalAtStart: ServingCertError | undefined;

  private constructor(options: LiveServingCertOptions) {
    super();
    this.#options = options;
    this.#trust = new TrustStore(options.trustGraceMs);
    this.#servingRefresher = new Refresher(() => this.#refreshServing(), (error) => this.#unexpected(error));
    this.#caRefresher = options.caSource
      ? new Refresher(() => this.#refreshCa(), (error) => this.#unexpected(error))
      : undefined;
  }

  /**
   * Opens a live certificate: reads, validates and watches its sources, and resolves once a
   * serving bundle passes the gate. Until `timeoutMs`, a missing or invalid bundle is waited
   * for (a renewal may be under way), with a progress line every 10 s; then it rejects with
   * E_TIMEOUT naming each reason.
   */
  static async open(options: LiveServingCertOptions): Promise<LiveServingCert> {
    const live = new LiveServingCert(options);
    try {
      await live.#start();
      return live;
    } catch (error) {
      await live.close();
      throw error;
    }
  }

  get current(): CertificateState {
    if (!this.#current) throw new ServingCertError('E_CLOSED', 'the serving certificate is not ready');
    return this.#current;
  }

  get trust(): TrustState {
    return this.#trust.state;
  }

  serverOptions(request: ServerOptionsRequest = {}): tls.TlsOptions {
    const { certPem, keyPem } = this.current;
    if (!request.requestClientCert) return { key: keyPem, cert: certPem };
    const ca = this.#trust.state.pem;
    if (ca === '') {
      throw new ServingCertError('E_CONFIG',
        'requestClientCert needs a CA to verify clients with, and none is known: mount service-root-ca (caDir) ' +
        'or use a Secret that carries ca.crt');
    }
    // The trust bundle only where clients are verified: in a context that does not verify
    // anyone, OpenSSL would add the root to the served chain and every handshake would pay.
    return { key: keyPem, cert: certPem, ca, requestCert: true, rejectUnauthorized: true };
  }

  attach(server: tls.Server): () => void {
    if (typeof (server as Partial<tls.Server>).setSecureContext !== 'function') {
      throw new ServingCertError('E_CONFIG', 'attach() takes an https, http2 secure or tls server (one with setSecureContext)');
    }
    this.#servers.add(server);
    this.#install(server);
    return () => {
      this.#servers.delete(server);
    };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort(); // stops watchers, timers and refreshes together
      clearTimeout(this.#pruneTimer);
      this.#servers.clear();
      await Promise.allSettled([
        ...this.#tasks,
        this.#servingRefresher.idle(),
        this.#caRefresher?.idle(),
      ]);
    })();
    return this.#closing;
  }

  async #start(): Promise<void> {
    const { servingSource, caSource, timeoutMs, logger, signal } = this.#options;
    const stop = this.#abort.signal;
    const abortStart = (): void => this.#abort.abort();
    signal?.addEventListener('abort', abortStart, { once: true });
    const onChange = (refresher: Refresher) => () => {
      refresher.trigger();
      this.#onStartProgress?.();
    };
    this.#tasks.push(servingSource.watch(onChange(this.#servingRefresher), stop));
    if (caSource && this.#caRefresher) {
      this.#tasks.push(caSource.watch(onChange(this.#caRefresher), stop));
      this.#caRefresher.trigger();
      await this.#caRefresher.idle();
    }
    const started = Date.now();
    let lastProgress = started;
    let lastDiagnosis = started;
    try {
      for (;;) {
        this.#servingRefresher.trigger();
        await this.#servingRefresher.idle();
        if (this.#current) break;
        if (this.#fatalAtStart) throw this.#fatalAtStart;
        if (stop.aborted) {
          throw new ServingCertError('E_CLOSED', `the start was aborted while waiting for ${servingSource.description}`,
            { cause: signal?.reason });
        }
        const waited = Date.now() - started;
        if (waited >= timeoutMs) throw await this.#timeoutError(waited);
        if (Date.now() - lastProgress >= (this.#options.progressIntervalMs ?? PROGRESS_INTERVAL_MS)) {
          lastProgress = Date.now();
          let diagnosis: string | undefined;
          if (Date.now() - lastDiagnosis >= (this.#options.diagnosisIntervalMs ?? DIAGNOSIS_INTERVAL_MS)) {
            lastDiagnosis = Date.now();
            diagnosis = await this.#diagnosis();
          }
          logger.info(`waiting for a valid serving certificate: ${this.#reasonsText()}${diagnosis ? `. ${diagnosis}` : ''}`,
            { waitedSeconds: Math.round(waited / 1000), timeoutSeconds: Math.round(timeoutMs / 1000) });
        }
        await this.#nextStartAttempt(Math.min(START_RETRY_MS, this.#options.progressIntervalMs ?? START_RETRY_MS, timeoutMs - waited));
      }
    } finally {
      signal?.removeEventListener('abort', abortStart);
      this.#onStartProgress = undefined;
    }
    this.#schedulePrune();
  }

  /** Waits for a watch event or the retry interval, whichever comes first. */
  #nextStartAttempt(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#abort.signal.removeEventListener('abort', done);
        this.#onStartProgress = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#onStartProgress = done;
      this.#abort.signal.addEventListener('abort', done, { once: true });
    });
  }

  async #diagnosis(): Promise<string | undefined> {
    try {
      return await this.#options.diagnose?.();
    } catch (error) {
      return `(the diagnosis itself failed: ${String(error)})`;
    }
  }

  async #timeoutError(waitedMs: number): Promise<ServingCertError> {
    const { servingSource } = this.#options;
    const diagnosis = await this.#diagnosis();
    return new ServingCertError('E_TIMEOUT',
      `no valid serving certificate after ${Math.round(waitedMs / 1000)} s: ` +
      `${this.#reasonsText()}${diagnosis ? `. ${diagnosis}` : ''}`,
      { details: { source: servingSource.description, reasons: Object.fromEntries(this.#pendingReasons), diagnosis } });
  }

  #reasonsText(): string {
    return [...this.#pendingReasons.values()].join('; ') || 'nothing read yet';
  }

  async #refreshServing(): Promise<void> {
    const { servingSource, expectations } = this.#options;
    const stop = this.#abort.signal;
    if (stop.aborted) return;
    let bundle: ValidServingBundle;
    try {
      const read = await servingSource.read(stop);
      if (stop.aborted) return;
      if (!read.present) {
        this.#refuse('serving', new ServingCertError('E_MISSING', `${servingSource.description}: ${read.reason}`,
          { details: { source: servingSource.description } }));
        return;
      }
      const previous = this.#bundle;
      if (previous && sameBytes(read.files, previous)) {
        this.#accepted('serving');
        return;
      }
      bundle = validateServingBundle(read.files, expectations, new Date());
    } catch (error) {
      if (stop.aborted) return;
      this.#refuse('serving', asServingCertError(error, servingSource.description));
      return;
    }
    const state = this.#stateOf(bundle);
    const previous = this.#current;
    try {
      // OpenSSL's own check of the pair, done once: installing it into the attached servers
      // builds their contexts; with no server attached, building the handle's context does.
      if (this.#servers.size > 0) this.#installAll(state);
      else void state.secureContext;
    } catch (error) {
      if (previous) this.#installAll(previous); // put back whatever a partial install changed
      this.#refuse('serving', asServingCertError(error, servingSource.description));
      return;
    }
    this.#accepted('serving');
    this.#bundle = bundle;
    this.#current = state;
    const trustChanged = this.#trust.update('secret', bundle.cas, new Date());
    if (trustChanged) {
      // Its Secret names another CA: servers that verify clients need the new trust bundle.
      this.#current = this.#stateOf(bundle);
      this.#installAll();
    }
    for (const warning of bundle.warnings) {
      if (this.#warnedSerials.has(bundle.info.serialNumber)) break;
      this.#warnedSerials.add(bundle.info.serialNumber);
      this.#options.logger.warn(`${servingSource.description}: ${warning}`);
    }
    if (trustChanged) this.#trustChanged();
    else this.#schedulePrune(); // a CA may have retired without changing the bundle yet
    if (previous) {
      this.#options.logger.info(`${servingSource.description}: serving certificate rotated`, {
        serial: state.info.serialNumber,
        previousSerial: previous.info.serialNumber,
        notAfter: state.info.notAfter.toISOString(),
      });
      this.emit('rotate', state.info, previous.info);
    } else {
      this.#options.logger.info(`${servingSource.description}: serving certificate loaded`, {
        serial: state.info.serialNumber,
        dnsNames: state.info.dnsNames,
        notAfter: state.info.notAfter.toISOString(),
      });
    }
  }

  async #refreshCa(): Promise<void> {
    const source = this.#options.caSource!;
    const stop = this.#abort.signal;
    if (stop.aborted) return;
    try {
      const read = await source.read(stop);
      if (stop.aborted) return;
      if (!read.present) {
        // No platform CA yet (an optional volume not filled): peers are verified with the
        // serving Secret's ca.crt meanwhile. Not a refusal: nothing was offered.
        this.#pendingReasons.set('ca', `${source.description}: ${read.reason}`);
        return;
      }
      const valid = validateCaBundle(read.files, this.#options.expectations, new Date());
      this.#accepted('ca');
      for (const warning of valid.warnings) this.#options.logger.warn(`${source.description}: ${warning}`);
      if (this.#trust.update('caDir', valid.certs, new Date())) {
        if (this.#current) this.#current = this.#stateOf(this.#bundle!);
        this.#installAll();
        this.#trustChanged();
      } else {
        this.#schedulePrune();
      }
    } catch (error) {
      if (stop.aborted) return;
      this.#refuse('ca', asServingCertError(error, source.description));
    }
  }

  #trustChanged(): void {
    this.#schedulePrune();
    if (!this.#current) return; // listeners hear of trust only once there is a handle
    this.#options.logger.info('trusted CAs changed', { cas: this.#trust.state.cas.map((ca) => describeName(ca.subject)) });
    this.emit('trust', this.#trust.state);
  }

  #schedulePrune(): void {
    clearTimeout(this.#pruneTimer);
    const next = this.#trust.nextChange();
    if (!next || this.#abort.signal.aborted) return;
    // setTimeout holds at most 2^31-1 ms; a later deadline is simply re-armed then.
    const delay = Math.min(Math.max(0, next.getTime() - Date.now()), 2 ** 31 - 1);
    this.#pruneTimer = setTimeout(() => {
      if (this.#trust.prune(new Date())) {
        if (this.#current) this.#current = this.#stateOf(this.#bundle!);
        this.#installAll();
        this.#trustChanged();
      } else {
        this.#schedulePrune();
      }
    }, delay);
    this.#pruneTimer.unref();
  }

  #stateOf(bundle: ValidServingBundle): CertificateState {
    const ca = this.#trust.state.pem;
    let context: tls.SecureContext | undefined;
    return Object.freeze({
      certPem: bundle.certPem,
      keyPem: bundle.keyPem,
      caPem: bundle.caPem,
      info: bundle.info,
      // Built on first use: servers get contexts of their own from setSecureContext, and a
      // rotation should not pay for one nobody asked for.
      get secureContext() {
        context ??= tls.createSecureContext({ key: bundle.keyPem, cert: bundle.certPem, ...(ca ? { ca } : {}) });
        return context;
      },
    });
  }

  #installAll(state: CertificateState = this.current): void {
    for (const server of this.#servers) this.#install(server, state);
  }

  #install(server: tls.Server, state: CertificateState = this.current): void {
    const { certPem, keyPem } = state;
    // Only a server that asks for client certificates verifies with the trust bundle.
    const ca = (server as { requestCert?: boolean }).requestCert ? this.#trust.state.pem : '';
    const kept: Record<string, unknown> = {};
    const settings = server as unknown as Record<string, unknown>;
    for (const name of KEPT_SERVER_SETTINGS) if (settings[name] !== undefined) kept[name] = settings[name];
    // setSecureContext, not SNICallback: clients that connect by IP (kubelet probes) send no SNI.
    // It affects new handshakes only; open connections keep the context they started with.
    server.setSecureContext({ ...kept, key: keyPem, cert: certPem, ...(ca ? { ca } : {}) });
  }

  #accepted(input: string): void {
    this.#lastRefusal.delete(input);
    this.#pendingReasons.delete(input);
  }

  #refuse(input: string, error: ServingCertError): void {
    this.#pendingReasons.set(input, error.message);
    if (error.code === 'E_INTERNAL') {
      // Our own bug, not the material's: the stack is what a maintainer needs (never key
      // material: an exception's message and stack hold none of the bytes we read).
      this.#options.logger.error(error.message, { code: error.code, stack: (error.cause as Error | undefined)?.stack });
    }
    if (!this.#current) {
      // During the start, refusals are reasons to wait, not events; but no wait cures a denial.
      if (FATAL_AT_START.has(error.code)) this.#fatalAtStart ??= error;
      return;
    }
    // A source polled every 30 s would repeat the same refusal: tell it once per new reason.
    if (this.#lastRefusal.get(input) === error.message) return;
    this.#lastRefusal.set(input, error.message);
    if (this.listenerCount('error') > 0) {
      this.emit('error', error);
    } else {
      this.#options.logger.error(`refused an update, still serving serial ${this.#current.info.serialNumber}: ${error.message}`,
        { code: error.code });
    }
  }

  #unexpected(error: unknown): void {
    this.#options.logger.error('unexpected failure while refreshing; the last good certificate keeps serving',
      { error: String(error) });
  }
}

function sameBytes(files: Readonly<Record<string, Buffer | undefined>>, bundle: ValidServingBundle): boolean {
  return files['tls.crt']?.toString('utf8') === bundle.certPem &&
    files['tls.key']?.toString('utf8') === bundle.keyPem &&
    files['ca.crt']?.toString('utf8') === bundle.caPem;
}


/**
 * Names what a refresh threw. OpenSSL's refusals of the material (its errors carry an
 * `ERR_OSSL_*` code or a `library`) are E_PARSE; a failed system call is E_IO; anything else
 * (a TypeError, a RangeError) is a bug of ours and must never read as bad material: E_INTERNAL.
 */
export function asServingCertError(error: unknown, description: string): ServingCertError {
  if (error instanceof ServingCertError) return error;
  const fields = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; library?: unknown; syscall?: unknown };
  const code = typeof fields.code === 'string' ? fields.code : undefined;
  if (code?.startsWith('ERR_OSSL') || code?.startsWith('ERR_SSL') || typeof fields.library === 'string') {
    return new ServingCertError('E_PARSE', `${description}: OpenSSL refused the material (${code ?? String(error)})`,
      { cause: error, details: { source: description } });
  }
  if (typeof fields.syscall === 'string') {
    return new ServingCertError('E_IO', `${description}: ${String(error)}`, { cause: error, details: { source: description } });
  }
  return new ServingCertError('E_INTERNAL',
    `${description}: an internal error in serving-cert, not a problem of the certificate (${String(error)}); ` +
    `please report it with the stack from the log`,
    { cause: error, details: { source: description } });
}
