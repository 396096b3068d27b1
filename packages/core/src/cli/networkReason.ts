import { API_REQUEST_TIMEOUT_MS, isAborted } from '../kube/apiClient.js';
import { statusOf } from '../kube/apiErrors.js';

/**
 * The reason of a failure that never reached the API server (no HTTP status): a system error
 * code (ECONNREFUSED, ENOTFOUND, ETIMEDOUT, ...) or a TLS one, on the error or a cause. Else undefined.
 */
export function networkReasonOf(error: unknown): string | undefined {
  if (statusOf(error) !== undefined) return undefined;
  if (isAborted(error)) return `no answer within ${API_REQUEST_TIMEOUT_MS / 1000} s`;
  for (let cause = error; cause; cause = (cause as { cause?: unknown }).cause) {
    const { code, type } = cause as { code?: unknown; type?: unknown };
    if ((typeof code === 'string' && /^(E[A-Z]{2,}|UND_ERR|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO|ERR_TLS)/.test(code)) || type === 'system') {
      const message = cause instanceof Error ? cause.message : JSON.stringify(cause);
      return `${typeof code === 'string' ? `${code}: ` : ''}${message}`;
    }
  }
  return undefined;
}
