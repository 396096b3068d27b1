import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { admissionResponse, parseAdmissionReview, MalformedAdmissionReview } from '@serving-cert/core/webhook';
import { createTeamLabelWebhook } from '@serving-cert/examples/teamLabelWebhook';
import { mountServingCert } from '@serving-cert/testkit';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startWebhook() {
  const mounted = await mountServingCert({ serviceName: 'team-label-webhook', namespace: 'hooks' });
  cleanups.push(() => mounted.close());
  const server = createTeamLabelWebhook(mounted.cert);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const post = (body: string): Promise<{ status: number; json: Record<string, unknown> }> => new Promise((resolve, reject) => {
    const request = https.request({
      host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/validate', method: 'POST',
      servername: 'team-label-webhook.hooks.svc', ca: mounted.ca.certPem, headers: { 'content-type': 'application/json' }, agent: false,
    }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
    });
    request.on('error', reject);
    request.end(body);
  });
  return { post };
}

const review = (labels: Record<string, string> | undefined) => JSON.stringify({
  apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
  request: { uid: 'abc-123', kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    operation: 'CREATE', userInfo: { username: 'alice' }, name: 'web', namespace: 'shop', object: { metadata: { name: 'web', ...(labels ? { labels } : {}) } } },
});

describe('the admission helpers', () => {
  it('answer a review with the decision, echoing its uid', async () => {
    const { post } = await startWebhook();
    const refused = await post(review(undefined));
    expect(refused).toMatchObject({ status: 200, json: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'abc-123', allowed: false, status: { code: 403 } } } });
    expect(JSON.stringify(refused.json)).toContain('Deployment web has no \\"team\\" label');
    expect(await post(review({ team: 'shop' }))).toMatchObject({ status: 200, json: { response: { uid: 'abc-123', allowed: true } } });
  });

  it.each([
    ['not JSON', '{"apiVersion": ', 'the body is not JSON'],
    ['another kind', JSON.stringify({ apiVersion: 'v1', kind: 'Pod' }), 'expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got v1 Pod'],
    ['no request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), 'the AdmissionReview has no request'],
    ['no uid', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { operation: 'CREATE' } }), 'request.uid is missing'],
  ])('answer a malformed review (%s) with 400 and a clear message, and keep serving', async (_label, body, message) => {
    const { post } = await startWebhook();
    const answer = await post(body);
    expect(answer.status).toBe(400);
    expect(String(answer.json.message)).toContain(message);
    expect((await post(review({ team: 'shop' }))).json).toMatchObject({ response: { allowed: true } });
  });

  it('encode a mutating patch as base64 JSONPatch', () => {
    const request = parseAdmissionReview(JSON.parse(review({})) as unknown);
    const answer = admissionResponse(request, { allowed: true, patch: [{ op: 'add', path: '/metadata/labels/team', value: 'shop' }] }) as { response: { patchType: string; patch: string } };
    expect(answer.response.patchType).toBe('JSONPatch');
    expect(JSON.parse(Buffer.from(answer.response.patch, 'base64').toString())).toEqual([{ op: 'add', path: '/metadata/labels/team', value: 'shop' }]);
    expect(() => parseAdmissionReview('text')).toThrow(MalformedAdmissionReview);
  });
});
