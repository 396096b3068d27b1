import type * as tls from 'node:tls';
import { asServingCertError, ServingCertError } from '../errors.js';
import type { CertificateState, CertInfo, ServerOptionsRequest, ServingCert, ServingCertHealth, TrustState } from '../types.js';
import { describeName } from '../x509/certInfo.js';
import { followPeerLeaves } from '../x509/peerLeaves.js';
import { validateCaBundle, validateServingBundle, type ValidCaBundle, type ValidServingBundle } from '../x509/validateBundle.js';
import { AttachedServers, serverOptionsOf } from './attachedServers.js';
import { certificateStateOf, factsOf, logServed } from './certificateState.js';
import { ExpiryAlarm, expiryError } from './expiryAlarm.js';
import { logInternalError, logRefusal, logUnexpected, ServedWarnings } from './failures.js';
import { ObservedHealth } from './observedHealth.js';
import { Refresher } from './refresher.js';
import { Refusals } from './refusals.js';
import { StartWait } from './startWait.js';
import { SubscribableEmitter } from './subscribableEmitter.js';
import type { LiveServingCertOptions } from './liveServingCertOptions.js';
import { TrustPruner } from './trustPruner.js';
import { TrustStore } from './trustStore.js';
import { REFUSAL_RECHECK_MS, VersionGate } from './versionGate.js';
import { RefusalRechecks } from './refusalRechecks.js';

export type { LiveServingCertOptions } from './liveServingCertOptions.js';

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
  readonly #observer: ObservedHealth;
  readonly #trust: TrustStore;
  readonly #pruner: TrustPruner;
  readonly #refusals: Refusals;
  readonly #rechecks: RefusalRechecks;
  readonly #servingGate: VersionGate<ValidServingBundle>;
  readonly #caGate: VersionGate<ValidCaBundle> | undefined;
  readonly #expiry = new ExpiryAlarm((info) => this.#expired(info));
  readonly #servingRefresher: Refresher;
  readonly #caRefresher: Refresher | undefined;
  #bundle: ValidServingBundle | undefined;
  #current: CertificateState | undefined;
  readonly #warnings: ServedWarnings;
  #closing: Promise<void> | undefined;

  private constructor(options: LiveServingCertOptions) {
    super(options.logger);
    // Verified peer leaves (clients of attached servers, servers of createMtlsDispatcher) show when a retired CA may go.
    this.#servers = new AttachedServers(options.logger, followPeerLeaves(this, (leaf) => { if (!this.#closing) this.#trust.observePeer(leaf); }));
    this.#observer = new ObservedHealth(options.observer);
    this.#warnings = new ServedWarnings(options.logger);
    this.#options = options;
    const { servingSource, caSource, expectations } = options;
    this.#trust = new TrustStore(options.trustGraceMs, options.retiredCaMinHoldMs === undefined ? undefined : { minHoldMs: options.retiredCaMinHoldMs, logger: options.logger, onHoldsChanged: () => this.#trustUpdated(false) });
    this.#pruner = new TrustPruner(this.#trust, () => this.#trustChanged(), this.#abort.signal);
    this.#refusals = new Refusals(new Map([['serving', servingSource.description], ['ca', caSource?.description ?? 'ca']]));
    const recheckMs = options.refusalRecheckMs ?? REFUSAL_RECHECK_MS;
    this.#rechecks = new RefusalRechecks(recheckMs + 100, this.#abort.signal); // after the gate's own recheck time
    this.#servingGate = new VersionGate(servingSource, (files, now) => validateServingBundle(files, expectations, now), recheckMs);
    // The CA bundle is validated as a CA bundle, and its messages name its own source.
    this.#caGate = caSource && new VersionGate(caSource, (files, now) => validateCaBundle(files, { ...expectations, description: caSource.description }, now), recheckMs);
    const onError = (error: unknown): void => logUnexpected(options.logger, error);
    this.#servingRefresher = new Refresher((at) => this.#refreshServing(at), onError);
    this.#caRefresher = caSource ? new Refresher(() => this.#refreshCa(), onError) : undefined;
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
    this.#assertOpen();
    return this.#current!; // open() resolves only once there is one
  }

  get trust(): TrustState {
    this.#assertOpen();
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

  #assertOpen(): void {
    if (this.#closing) throw new ServingCertError('E_CLOSED', `the serving certificate of ${this.#options.servingSource.description} was closed`);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort(); // stops watchers, timers and refreshes together
      this.#pruner.clear();
      this.#expiry.clear();
      this.#servers.clear();
      this.#observer.closed();
      await Promise.allSettled([...this.#tasks, this.#servingRefresher.idle(), this.#caRefresher?.idle(), this.#options.trustMemory?.idle()]);
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
      const restoring = this.#options.trustMemory?.restore(this.#trust, new Date()); // a rollover's retired CAs, read beside the CA
      if (caSource && this.#caRefresher) {
        this.#tasks.push(caSource.watch(onChange(this.#caRefresher), stop));
        // The platform CA first: a serving bundle is then served with the right trust at once.
        this.#caRefresher.trigger();
        await this.#caRefresher.idle();
      }
      if (await restoring) this.#trustChanged(); // trusted before the start resolves
      await wait.run();
    } finally {
      signal?.removeEventListener('abort', abortStart);
    }
    this.#pruner.schedule();
  }

  async #refreshServing(triggeredAt: number): Promise<void> {
    const source = this.#options.servingSource;
    const read = await this.#servingGate.read(this.#abort.signal);
    if (this.#abort.signal.aborted || read.outcome === 'unchanged') return;
    if (read.outcome === 'absent') return this.#refuse('serving', new ServingCertError('E_MISSING', read.reason, { details: { source: source.description } }), undefined, false);
    if (read.outcome === 'refused') return this.#refuse('serving', read.error, read.version, read.known);
    const bundle = read.value;
    const previous = this.#current;
    // Before any server presents it (a webhook's caBundle gains its CA first); then with the trust of that moment.
    if (previous && await this.prepared(certificateStateOf(bundle, this.#trust.state.pem), this.#abort.signal)) return;
    const state = certificateStateOf(bundle, this.#trust.state.pem);
    try {
      // OpenSSL's own check of the pair, done once: installing it into the attached servers
      // builds their contexts; with no server attached (or none taking it), the handle's does.
      this.#servers.installAll(state, this.#trust.state.pem);
    } catch (error) {
      const refusal = asServingCertError(error, source.description);
      this.#servingGate.refuse(read.files, read.version, refusal);
      return this.#refuse('serving', refusal, read.version, false);
    }
    this.#servingGate.served(read.files);
    this.#refusals.accepted('serving');
    this.#bundle = bundle;
    this.#current = state;
    this.#expiry.arm(bundle.info);
    // Its Secret may name another CA: servers that verify clients need the new trust bundle.
    this.#trustUpdated(this.#trust.update('secret', bundle.cas, new Date(), bundle.leaf));
    this.#warnings.warnOnce(source.description, state, bundle.warnings);
    logServed(this.#options.logger, source.description, state, previous);
    this.#observer.served(state.info, previous?.info, triggeredAt);
    if (previous) this.emit('rotate', state.info, previous.info);
  }

  async #refreshCa(): Promise<void> {
    const read = await this.#caGate!.read(this.#abort.signal);
    if (this.#abort.signal.aborted || read.outcome === 'unchanged') return;
    // No platform CA yet (an optional volume not filled): peers are verified with the serving
    // Secret's ca.crt meanwhile. Not a refusal: nothing was offered.
    if (read.outcome === 'absent') return this.#refusals.waiting('ca', read.reason);
    if (read.outcome === 'refused') return this.#refuse('ca', read.error, read.version, read.known);
    this.#caGate!.served(read.files);
    this.#refusals.accepted('ca');
    const description = this.#options.caSource!.description;
    for (const warning of read.value.warnings) this.#options.logger.warn({ source: description }, `${description}: ${warning}`);
    this.#trustUpdated(this.#trust.update('caDir', read.value.certs, new Date()));
  }

  /** After an input named its CAs: a new bundle is a change; a CA may also have retired without changing the bundle. */
  #trustUpdated(changed: boolean): void {
    if (changed) return this.#trustChanged();
    this.#pruner.schedule();
    void this.#options.trustMemory?.remember(this.#trust.retiredCas());
  }

  /** The one path of a trust change: new contexts for the handle and the servers, then listeners. */
  #trustChanged(): void {
    this.#pruner.schedule();
    void this.#options.trustMemory?.remember(this.#trust.retiredCas()); // never rejects: a failure is a warning
    if (!this.#bundle) return; // listeners hear of trust only once there is a handle
    this.#current = certificateStateOf(this.#bundle, this.#trust.state.pem);
    try {
      this.#servers.installAll(this.#current, this.#trust.state.pem); // a server's own refusal is logged there
    } catch (error) {
      this.#options.logger.error({ error: String(error) }, `the new trust bundle could not be installed: ${String(error)}`);
    }
    this.#options.logger.info({ cas: this.#trust.state.cas.map((ca) => describeName(ca.subject)) }, 'trusted CAs changed');
    this.emit('trust', this.#trust.state);
    this.#observer.trustChanged(this.#trust.state);
  }

  #refuse(input: string, error: ServingCertError, version: string | undefined, known: boolean): void {
    this.#rechecks.schedule(input, () => (input === 'ca' ? this.#caRefresher : this.#servingRefresher)?.trigger());
    if (!known) logInternalError(this.#options.logger, error); // a bug of ours: its stack, once per version
    if (!this.#refusals.refused(input, error, version, this.#current !== undefined)) return;
    this.#observer.refused(error);
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else logRefusal(this.#options.logger, this.#options.servingSource.description, this.#current!, error);
  }

  /** The served certificate expired and nothing newer passed the gate: said at that moment, always logged. */
  #expired(info: CertInfo): void {
    const error = expiryError(this.#options.servingSource.description, info);
    this.#options.logger.error({ ...factsOf(this.#options.servingSource.description, this.#current!), code: error.code }, error.message);
    this.#observer.refused(error);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}
