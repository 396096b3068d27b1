import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { admissionRoute } from '../src/index.js';

// Fastify's own inject: the route as Fastify runs it (JSON parsing, error path), no socket needed.
function app() {
  const fastify = Fastify();
  fastify.post('/validate', admissionRoute<{ metadata?: { labels?: Record<string, string> } }>((request) =>
    request.object?.metadata?.labels?.team ? { allowed: true } : { allowed: false, status: { message: 'no team label' } }));
  return fastify;
}

const review = (labels?: Record<string, string>) => ({
  apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
  request: { uid: 'u-1', operation: 'CREATE', kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' }, userInfo: {}, object: { metadata: { labels } } },
});

describe('admissionRoute', () => {
  it('answers a review with the decision, echoing its uid', async () => {
    const fastify = app();
    const refused = await fastify.inject({ method: 'POST', url: '/validate', payload: review() });
    expect(refused.statusCode).toBe(200);
    expect(refused.json()).toMatchObject({ kind: 'AdmissionReview', response: { uid: 'u-1', allowed: false, status: { code: 403, message: 'no team label' } } });
    const allowed = await fastify.inject({ method: 'POST', url: '/validate', payload: review({ team: 'shop' }) });
    expect(allowed.json()).toMatchObject({ response: { uid: 'u-1', allowed: true } });
    await fastify.close();
  });

  it('answers a malformed review with 400 saying what is wrong, and keeps serving', async () => {
    const fastify = app();
    const malformed = await fastify.inject({ method: 'POST', url: '/validate', payload: { apiVersion: 'v1', kind: 'Pod' } });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json<{ message: string }>().message).toContain('expected apiVersion admission.k8s.io/v1 and kind AdmissionReview');
    expect((await fastify.inject({ method: 'POST', url: '/validate', payload: review({ team: 'x' }) })).json()).toMatchObject({ response: { allowed: true } });
    await fastify.close();
  });
});
