import type * as tls from 'node:tls';
import { asServingCertError, ServingCertError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MaterialSource } from '../sources/source.js';
import type { CertificateState, ServerOptionsRequest, ServingCert, ServingCertHealth, TrustState } from '../types.js';
import { describeName } from '../x509/certInfo.js';
import { validateCaBundle, validateServingBundle, type Expectations, type ValidServingBundle } from '../x509/validateBundle.js';
import { AttachedServers, serverOptionsOf } from './attachedServers.js';
import { certificateStateOf, logServed, sameBytes } from './certificateState.js';
import { logInternalError, logRefusal, logUnexpected, ServedWarnings } from './failures.js';
import { ObservedHealth } from './observedHealth.js';
import type { LiveObserver } from './observer.js';
import { Refresher } from './refresher.js';
import { Refusals } from './refusals.js';
import { StartWait } from './startWait.js';
import { SubscribableEmitter } from './subscribableEmitter.js';
import { TrustStore } from './trustStore.js';

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
  /** Told of every served certificate, reported refusal, trust change and waiting start (observe/). */
  observer?: LiveObserver | undefined;
}

/**
 * The live state: keeps the last good bundle, feeds it to attached servers and tells listeners.
 * Sources only say "maybe changed"; every version passes the gate before it is served. Each
 * input has one {@link Refresher}, so two refreshes of the same input never interleave.
 */
export class LiveServingCert extends SubscribableEmitter implements ServingCert {
  readonly #options: LiveServingCertOptions;
  readonly #abort = new AbortController();
  readonly #tasks: Array<Promise<unknown>> = [];
  readonly #servers: AttachedServers;
  readonly #trust: TrustStore;
  readonly #refusals = new Refusals();
  readonly #servingRefresher: Refresher;
  readonly #caRefresher: Refresher | undefined;
  readonly #observer: ObservedHealth;
  #bundle: ValidServingBundle | undefined;
  #current: CertificateState | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  readonly #warnings: ServedWarnings;
  #closing: Promise<void> | undefined;

  private constructor(options: LiveServingCertOptions) {
    super(options.logger);
    this.#options = options;
    this.#trust = new TrustStore(options.trustGraceMs);
    this.#servers = new AttachedServers(options.logger);
    this.#observer = new ObservedHealth(options.observer);
    this.#warnings = new ServedWarnings(options.logger);
    const onError = (error: unknown): void => logUnexpected(options.logger, error);
    this.#servingRefresher = new Refresher((at) => this.#refreshServing(at), onError);
    this.#caRefresher = options.caSource && new Refresher(() => this.#refreshCa(options.caSource!), onError);
  }

  /**
   * Opens a live certificate: reads, validates and watches its sources, and resolves once a serving
   * bundle passes the gate. Until `timeoutMs`, a missing or invalid bundle is waited for (a renewal
   * may be under way), with a progress line every 10 s; then it rejects with E_TIMEOUT naming each reason.
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
    return serverOptionsOf(this.current, this.#trust.state.pem, request);
  }

  attach(server: tls.Server): () => void {
    return this.#servers.add(server, this.current, this.#trust.state.pem);
  }

  health(): ServingCertHealth {
    return this.#observer.health(this.#options.servingSource.description);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort(); // stops watchers, timers and refreshes together
      clearTimeout(this.#pruneTimer);
      this.#servers.clear();
      await Promise.allSettled([...this.#tasks, this.#servingRefresher.idle(), this.#caRefresher?.idle()]);
      this.#observer.closed();
    })();
    return this.#closing;
  }

  async #start(): Promise<void> {
    const { servingSource, caSource, signal } = this.#options;
    const stop = this.#abort.signal;
    const abortStart = (): void => this.#abort.abort();
    signal?.addEventListener('abort', abortStart, { once: true });
    const wait = new StartWait({
      attempt: async () => {
        this.#servingRefresher.trigger();
        await this.#servingRefresher.idle();
        return this.#current !== undefined;
      },
      refusals: this.#refusals, description: servingSource.description, stop, callerSignal: signal,
      timeoutMs: this.#options.timeoutMs, logger: this.#options.logger, diagnose: this.#options.diagnose,
      progressIntervalMs: this.#options.progressIntervalMs, diagnosisIntervalMs: this.#options.diagnosisIntervalMs, observer: this.#observer,
    });
    const onChange = (refresher: Refresher) => () => {
      refresher.trigger();
      wait.wake();
    };
    try {
      this.#tasks.push(servingSource.watch(onChange(this.#servingRefresher), stop));
      if (caSource && this.#caRefresher) {
        this.#tasks.push(caSource.watch(onChange(this.#caRefresher), stop));
        // The platform CA first: a serving bundle is then served with the right trust at once.
        this.#caRefresher.trigger();
        await this.#caRefresher.idle();
      }
      await wait.run();
    } finally {
      signal?.removeEventListener('abort', abortStart);
    }
    this.#schedulePrune();
  }

  async #refreshServing(triggeredAt: number): Promise<void> {
    const { servingSource: source, expectations } = this.#options;
    const stop = this.#abort.signal;
    let bundle: ValidServingBundle;
    try {
      const read = await source.read(stop);
      if (stop.aborted) return;
      if (!read.present) {
        this.#refuse('serving', new ServingCertError('E_MISSING', `${source.description}: ${read.reason}`,
          { details: { source: source.description } }));
        return;
      }
      if (this.#bundle && sameBytes(read.files, this.#bundle)) {
        this.#refusals.accepted('serving');
        return;
      }
      bundle = validateServingBundle(read.files, expectations, new Date());
    } catch (error) {
      if (!stop.aborted) this.#refuse('serving', asServingCertError(error, source.description));
      return;
    }
    const previous = this.#current;
    const state = certificateStateOf(bundle, this.#trust.state.pem);
    try {
      // OpenSSL's own check of the pair, done once: installing it into the attached servers
      // builds their contexts; with no server attached, building the handle's context does.
      if (this.#servers.size > 0) this.#servers.installAll(state, this.#trust.state.pem);
      else void state.secureContext;
    } catch (error) {
      if (previous) this.#servers.installAll(previous, this.#trust.state.pem); // undo a partial install
      this.#refuse('serving', asServingCertError(error, source.description));
      return;
    }
    this.#refusals.accepted('serving');
    this.#bundle = bundle;
    this.#current = state;
    // Its Secret may name another CA: servers that verify clients need the new trust bundle.
    if (this.#trust.update('secret', bundle.cas, new Date())) this.#trustChanged();
    else this.#schedulePrune(); // a CA may have retired without changing the bundle yet
    this.#warnings.warnOnce(source.description, state, bundle.warnings);
    logServed(this.#options.logger, source.description, state, previous);
    this.#observer.served(state.info, previous?.info, triggeredAt);
    if (previous) this.emit('rotate', state.info, previous.info);
  }

  async #refreshCa(source: MaterialSource): Promise<void> {
    const stop = this.#abort.signal;
    try {
      const read = await source.read(stop);
      if (stop.aborted) return;
      if (!read.present) {
        // No platform CA yet (an optional volume not filled): peers are verified with the
        // serving Secret's ca.crt meanwhile. Not a refusal: nothing was offered.
        this.#refusals.waiting('ca', `${source.description}: ${read.reason}`);
        return;
      }
      const valid = validateCaBundle(read.files, { ...this.#options.expectations, description: source.description }, new Date());
      this.#refusals.accepted('ca');
      for (const warning of valid.warnings) this.#options.logger.warn({ source: source.description }, `${source.description}: ${warning}`);
      if (this.#trust.update('caDir', valid.certs, new Date())) this.#trustChanged();
      else this.#schedulePrune();
    } catch (error) {
      if (!stop.aborted) this.#refuse('ca', asServingCertError(error, source.description));
    }
  }

  /** The one path of a trust change: new contexts for the handle and the servers, then listeners. */
  #trustChanged(): void {
    this.#schedulePrune();
    if (!this.#bundle) return; // listeners hear of trust only once there is a handle
    this.#current = certificateStateOf(this.#bundle, this.#trust.state.pem);
    this.#servers.installAll(this.#current, this.#trust.state.pem);
    this.#options.logger.info({ cas: this.#trust.state.cas.map((ca) => describeName(ca.subject)) }, 'trusted CAs changed');
    this.#observer.trustChanged(this.#trust.state);
    this.emit('trust', this.#trust.state);
  }

  #schedulePrune(): void {
    clearTimeout(this.#pruneTimer);
    const next = this.#trust.nextChange();
    if (!next || this.#abort.signal.aborted) return;
    // setTimeout holds at most 2^31-1 ms; a later deadline is simply re-armed then.
    const delay = Math.min(Math.max(0, next.getTime() - Date.now()), 2 ** 31 - 1);
    this.#pruneTimer = setTimeout(() => {
      if (this.#trust.prune(new Date())) this.#trustChanged();
      else this.#schedulePrune();
    }, delay);
    this.#pruneTimer.unref();
  }

  #refuse(input: string, error: ServingCertError): void {
    logInternalError(this.#options.logger, error);
    if (!this.#refusals.refused(input, error, this.#current !== undefined)) return;
    this.#observer.refused(error);
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else logRefusal(this.#options.logger, this.#options.servingSource.description, this.#current!, error);
  }
}
