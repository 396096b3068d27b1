import { ServingCertError } from '../errors.js';
import { API_REQUEST_TIMEOUT_MS, isAborted } from './apiClient.js';

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'UND_ERR_SOCKET']);

/** What was being done when the API said no: for messages that say what to fix. */
export interface ApiOperation {
  verb: 'get' | 'list' | 'watch' | 'patch' | 'create';
  /** e.g. 'services', 'secrets', 'certificates.cert-manager.io' */
  resource: string;
  namespace?: string;
  name?: string;
  /** Where the whole least-privilege role is shipped; default deploy/app-rbac.yaml (a Role). */
  grantedBy?: { kind: 'Role' | 'ClusterRole'; file: string };
}

/** HTTP status of a client-node ApiException, a watch failure, or undefined for a network error. */
export function statusOf(error: unknown): number | undefined {
  const value = (error as { code?: unknown; statusCode?: unknown } | null);
  const code = typeof value?.code === 'number' ? value.code : value?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** Retry-After in ms from a client-node ApiException's headers, if the server sent one. */
export function retryAfterMsOf(error: unknown): number | undefined {
  const headers = (error as { headers?: Record<string, string> } | null)?.headers;
  const value = headers?.['retry-after'] ?? headers?.['Retry-After'];
  if (value === undefined) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/** A refused or cut connection: the API server is down or (re)starting. */
export function isConnectionError(error: unknown): boolean {
  for (let cause = error, depth = 0; cause && depth < 5; cause = (cause as { cause?: unknown }).cause, depth += 1) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_ERRORS.has(code)) return true;
    if (/ECONNREFUSED|ECONNRESET|socket hang up/.test(String((cause as { message?: unknown }).message))) return true;
    if (isAborted(cause)) return true; // no answer within the deadline: a cut connection or a hung server
  }
  return false;
}

/** The API server's own message from an ApiException (its body is JSON text). */
export function apiMessageOf(error: unknown): string {
  if (isAborted(error)) return `no answer from the API server within ${API_REQUEST_TIMEOUT_MS / 1000} s`;
  const body = (error as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      const status = JSON.parse(body) as { message?: string };
      if (status.message) return status.message;
    } catch {
      return body.slice(0, 300);
    }
  }
  return error instanceof Error ? error.message : String(error);
}

const objectText = (op: ApiOperation) =>
  `${op.resource}${op.name ? ` "${op.name}"` : ''}${op.namespace ? ` in namespace ${op.namespace}` : ''}`;

/**
 * Turns a failure of the Kubernetes API into a ServingCertError that names what was denied and
 * how to grant it: 403 names the verb, resource and object and the least Role rule; 404 the
 * object; anything else is E_API with the server's message.
 */
export function apiError(error: unknown, op: ApiOperation): ServingCertError {
  const status = statusOf(error);
  const details = { ...op, status };
  if (status === 403) {
    const [resource, group = ''] = op.resource.split(/\.(.*)/s);
    const role = op.grantedBy ?? { kind: 'Role', file: 'deploy/app-rbac.yaml' };
    return new ServingCertError('E_FORBIDDEN',
      `the Kubernetes API denied ${op.verb} on ${objectText(op)}: ${apiMessageOf(error)}. Grant it with a ${role.kind} rule ` +
      `{ apiGroups: ["${group}"], resources: ["${resource}"], verbs: ["${op.verb}"]${op.name ? `, resourceNames: ["${op.name}"]` : ''} } ` +
      `(${role.file} has the whole least-privilege ${role.kind})`, { cause: error, details });
  }
  if (status === 404) {
    return new ServingCertError('E_NOT_FOUND', `${objectText(op)} does not exist`, { cause: error, details });
  }
  return new ServingCertError('E_API', `${op.verb} ${objectText(op)} failed: ${status ? `HTTP ${status}, ` : ''}${apiMessageOf(error)}`,
    { cause: error, details });
}
