import type { ServingCertError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CertificateState } from '../types.js';
import { factsOf } from './certificateState.js';

/**
 * Logs a refusal coded E_INTERNAL with its stack: our own bug, not the material's, and the stack
 * is what a maintainer needs (an exception's message and stack hold none of the bytes read).
 */
export function logInternalError(logger: Logger, error: ServingCertError): void {
  if (error.code !== 'E_INTERNAL') return;
  logger.error({ code: error.code, source: error.details.source, stack: (error.cause as Error | undefined)?.stack }, error.message);
}

/** Logs a failure that escaped a refresh; the last good certificate keeps serving. */
export function logUnexpected(logger: Logger, error: unknown): void {
  const stack = (error as Error | undefined)?.stack;
  logger.error({ code: 'E_INTERNAL', error: String(error), stack }, 'unexpected failure while refreshing; the last good certificate keeps serving');
}

/** Logs a refused update when nobody listens for `error`: a refusal never crashes the process. */
export function logRefusal(logger: Logger, description: string, current: CertificateState, error: ServingCertError): void {
  logger.error({ ...factsOf(description, current), code: error.code, refusedSource: error.details.source },
    `refused an update, still serving serial ${current.info.serialNumber}: ${error.message}`);
}

/** The gate's warnings about a served certificate (close to expiry, ...), logged once per serial. */
export class ServedWarnings {
  readonly #logger: Logger;
  readonly #warnedSerials = new Set<string>();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  warnOnce(description: string, state: CertificateState, warnings: readonly string[]): void {
    if (this.#warnedSerials.has(state.info.serialNumber)) return;
    this.#warnedSerials.add(state.info.serialNumber);
    for (const warning of warnings) this.#logger.warn(factsOf(description, state), `${description}: ${warning}`);
  }
}
