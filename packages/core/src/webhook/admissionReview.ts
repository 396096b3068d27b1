import type { IncomingMessage, ServerResponse } from 'node:http';

/** The request of an `admission.k8s.io/v1` AdmissionReview (the fields most webhooks read). */
export interface AdmissionRequest<T = Record<string, unknown>> {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  userInfo: { username?: string; uid?: string; groups?: string[] };
  object?: T;
  oldObject?: T;
  dryRun?: boolean;
}

/** What a webhook decides. `patch` (mutating webhooks) is a list of JSON patch operations. */
export interface AdmissionDecision {
  allowed: boolean;
  /** Shown to the user when refused: `message`, and an HTTP-like `code` (default 403). */
  status?: { message: string; code?: number; reason?: string };
  patch?: Array<{ op: string; path: string; value?: unknown; from?: string }>;
  warnings?: string[];
}

/** A body that is not an AdmissionReview the webhook can answer. */
export class MalformedAdmissionReview extends Error {
  override readonly name = 'MalformedAdmissionReview';
}

/** Reads an `admission.k8s.io/v1` AdmissionReview; throws {@link MalformedAdmissionReview} saying what is wrong. */
export function parseAdmissionReview<T = Record<string, unknown>>(body: unknown): AdmissionRequest<T> {
  const review = body as { apiVersion?: unknown; kind?: unknown; request?: Partial<AdmissionRequest<T>> } | null;
  if (typeof review !== 'object' || review === null) throw new MalformedAdmissionReview('the body is not a JSON object');
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
    throw new MalformedAdmissionReview(`expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got ${String(review.apiVersion)} ${String(review.kind)}`);
  }
  const request = review.request;
  if (typeof request !== 'object' || request === null) throw new MalformedAdmissionReview('the AdmissionReview has no request');
  if (typeof request.uid !== 'string' || request.uid === '') throw new MalformedAdmissionReview('request.uid is missing');
  if (typeof request.operation !== 'string') throw new MalformedAdmissionReview('request.operation is missing');
  return request as AdmissionRequest<T>;
}

/** The AdmissionReview that answers `request` with `decision`. */
export function admissionResponse(request: Pick<AdmissionRequest, 'uid'>, decision: AdmissionDecision): Record<string, unknown> {
  const response: Record<string, unknown> = { uid: request.uid, allowed: decision.allowed };
  if (decision.status) response.status = { code: decision.status.code ?? (decision.allowed ? 200 : 403), message: decision.status.message, ...(decision.status.reason ? { reason: decision.status.reason } : {}) };
  if (decision.patch) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
  }
  if (decision.warnings) response.warnings = decision.warnings;
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/** Bound on a review body: the API server sends objects up to 3 MiB (etcd's limit) plus the old object. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/**
 * A `(req, res)` handler for an admission webhook: plain `https`, Express (4 and 5, before or
 * without a body parser: an already-parsed `req.body` is used) alike. A malformed review gets a
 * 400 with a message that says what is wrong; a decision that throws gets a 500; the server
 * goes on either way.
 */
export function createAdmissionHandler<T = Record<string, unknown>>(
  decide: (request: AdmissionRequest<T>) => AdmissionDecision | Promise<AdmissionDecision>,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      let request: AdmissionRequest<T>;
      try {
        request = parseAdmissionReview<T>(await bodyOf(req));
      } catch (error) {
        return reply(res, 400, { error: 'Bad Request', message: `not an admission.k8s.io/v1 AdmissionReview: ${(error as Error).message}` });
      }
      try {
        reply(res, 200, admissionResponse(request, await decide(request)));
      } catch (error) {
        reply(res, 500, { error: 'Internal Server Error', message: `the webhook failed to decide: ${String(error)}` });
      }
    })();
  };
}

async function bodyOf(req: IncomingMessage & { body?: unknown }): Promise<unknown> {
  if (req.body !== undefined && typeof req.body === 'object') return req.body; // a body parser ran
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new MalformedAdmissionReview(`the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new MalformedAdmissionReview('the body is not JSON');
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
