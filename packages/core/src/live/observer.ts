import type { ServingCertError } from '../errors.js';
import type { CertInfo, TrustState } from '../types.js';

/**
 * What a live handle tells as it goes, for metrics, diagnostics channels and Kubernetes Events
 * (observe/ implements it). Called synchronously at the moment things happen; an observer must
 * not throw and must return quickly (the handle does not wait for I/O it starts).
 */
export interface LiveObserver {
  /**
   * A certificate is served: the first one (`previous` undefined) or a rotation. `changedAt` is
   * `performance.now()` when the source first signalled the change that led to it.
   */
  served?(next: CertInfo, previous: CertInfo | undefined, changedAt: number | undefined): void;
  /** An update was refused and reported (once per distinct refused version). */
  refused?(error: ServingCertError): void;
  /** The trusted CAs changed (after the first certificate). */
  trustChanged?(trust: TrustState): void;
  /** The start still waits: the reasons, and the diagnosis when one was made this time. */
  waiting?(reasons: string, diagnosis: string | undefined): void;
  /** The handle closed: release callbacks and flush what is pending. */
  closed?(): void;
}
