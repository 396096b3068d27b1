import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { admissionResponse, MalformedAdmissionReview, parseAdmissionReview, type AdmissionDecision, type AdmissionRequest } from '@serving-cert/core/webhook';

/**
 * A Fastify route handler for an admission webhook: reads the `admission.k8s.io/v1`
 * AdmissionReview Fastify parsed as JSON, asks `decide`, and answers the review. A malformed
 * review gets a 400 that says what is wrong; a decision that throws goes through Fastify's error
 * path (a 500); the server goes on either way.
 *
 * @example
 * app.post('/validate', admissionRoute((request) => ({ allowed: Boolean(request.object?.metadata?.labels?.team) })));
 */
export function admissionRoute<T = Record<string, unknown>>(
  decide: (request: AdmissionRequest<T>) => AdmissionDecision | Promise<AdmissionDecision>,
): RouteHandlerMethod {
  return async function servingCertAdmission(request: FastifyRequest, reply: FastifyReply) {
    let review: AdmissionRequest<T>;
    try {
      review = parseAdmissionReview<T>(request.body);
    } catch (error) {
      if (!(error instanceof MalformedAdmissionReview)) throw error;
      return reply.code(400).send({ error: 'Bad Request', message: `not an admission.k8s.io/v1 AdmissionReview: ${error.message}` });
    }
    return reply.send(admissionResponse(review, await decide(review)));
  };
}
