import type { Logger } from '../logger.js';
import type { CallerAdmission } from './admitCaller.js';

/**
 * The error an adapter hands to its framework's error path when a caller may not pass: 403
 * (as `status` and `statusCode`, which Express, Fastify and http-errors read) with a generic
 * message. It never says who is allowed or why: the reason goes to the log
 * ({@link logCallerRefusal}), since telling an intruder which identities pass helps them.
 */
export class CallerRefusedError extends Error {
  readonly code = 'E_CALLER_REFUSED';
  readonly status = 403;
  readonly statusCode = 403;
  /** http-errors' convention: the message is safe to show to the client. */
  readonly expose = true;

  constructor() {
    super('Forbidden');
    this.name = 'CallerRefusedError';
    // Express's default handler sends err.stack outside production: keep it as generic as the
    // message (a refusal is an expected outcome, not a bug, so its frames help nobody).
    this.stack = `${this.name}: Forbidden`;
  }
}

/**
 * Logs a refusal at info level in pino's convention: who called (`svc.ns`, or none without a
 * verified certificate), the reason, and the request line.
 */
export function logCallerRefusal(logger: Pick<Logger, 'info'>, refusal: Extract<CallerAdmission, { admitted: false }>, request: { method?: string; url?: string }): void {
  const caller = refusal.peer ? `${refusal.peer.serviceName}.${refusal.peer.namespace}` : undefined;
  logger.info({ caller, reason: refusal.reason, method: request.method, url: request.url, status: refusal.status },
    `refused ${caller ?? 'a caller without a verified certificate'}: ${refusal.reason}`);
}
