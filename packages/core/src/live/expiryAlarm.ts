import { ServingCertError } from '../errors.js';
import type { CertInfo } from '../types.js';

/** setTimeout holds at most 2^31-1 ms; a later deadline is re-armed when this one fires. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * Fires once when the served certificate expires, unless something newer replaced it first:
 * re-armed on every rotation, cleared on close, never keeping the process alive (unref'd).
 */
export class ExpiryAlarm {
  readonly #onExpired: (info: CertInfo) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(onExpired: (info: CertInfo) => void) {
    this.#onExpired = onExpired;
  }

  /** Watches `info` instead of whatever was watched before. */
  arm(info: CertInfo): void {
    this.clear();
    const delay = info.notAfter.getTime() - Date.now() + 1; // notAfter is the last valid millisecond
    this.#timer = setTimeout(() => {
      if (Date.now() > info.notAfter.getTime()) this.#onExpired(info);
      else this.arm(info);
    }, Math.min(Math.max(0, delay), MAX_DELAY_MS));
    this.#timer.unref();
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** The error of a served certificate that expired with nothing newer. */
export function expiryError(source: string, info: CertInfo): ServingCertError {
  return new ServingCertError('E_EXPIRED', `${source}: the served certificate (serial ${info.serialNumber}) expired at ` +
    `${info.notAfter.toISOString()} and nothing newer passed the gate, so clients refuse it: check the Certificate's Ready condition`,
  { details: { source } });
}
