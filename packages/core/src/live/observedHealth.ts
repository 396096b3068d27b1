import type { ServingCertError } from '../errors.js';
import type { CertInfo, ServingCertHealth, TrustState } from '../types.js';
import { healthOf } from './health.js';
import type { LiveObserver } from './observer.js';

/**
 * The handle's own observer: keeps what {@link ServingCertHealth} reports (the served
 * certificate, the last refusal since it came) and passes every observation on to the optional
 * observer of metrics, channels and Events.
 */
export class ObservedHealth implements Required<LiveObserver> {
  readonly #next: LiveObserver | undefined;
  #served: CertInfo | undefined;
  #lastRefusal: ServingCertError | undefined;

  constructor(next: LiveObserver | undefined) {
    this.#next = next;
  }

  health(source: string): ServingCertHealth {
    return healthOf(this.#served, this.#lastRefusal, source);
  }

  served(next: CertInfo, previous: CertInfo | undefined, changedAt: number | undefined): void {
    this.#served = next;
    this.#lastRefusal = undefined;
    this.#next?.served?.(next, previous, changedAt);
  }

  refused(error: ServingCertError): void {
    this.#lastRefusal = error;
    this.#next?.refused?.(error);
  }

  trustChanged(trust: TrustState): void {
    this.#next?.trustChanged?.(trust);
  }

  waiting(reasons: string, diagnosis: string | undefined): void {
    this.#next?.waiting?.(reasons, diagnosis);
  }

  closed(): void {
    this.#served = undefined;
    this.#next?.closed?.();
  }
}
