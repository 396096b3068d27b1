// The admission webhook example: a validating webhook that refuses Deployments without a `team`
// label, served on the platform certificate, its caBundle kept current by keepCaBundle.
import * as https from 'node:https';
import type { ServingCert } from '@serving-cert/core';
import { createAdmissionHandler, type AdmissionDecision, type AdmissionRequest } from '@serving-cert/core/webhook';

interface WithLabels {
  metadata?: { name?: string; labels?: Record<string, string> };
}

/** The decision: a Deployment must carry a non-empty `team` label. */
export function requireTeamLabel(request: AdmissionRequest<WithLabels>): AdmissionDecision {
  if (request.object?.metadata?.labels?.team) return { allowed: true };
  const name = request.object?.metadata?.name ?? request.name ?? '(unnamed)';
  return { allowed: false, status: { code: 403, message: `Deployment ${name} has no "team" label: every Deployment must name the team that owns it` } };
}

/** An https server answering the API server's AdmissionReviews at `/validate`, attached to `cert`. */
export function createTeamLabelWebhook(cert: ServingCert): https.Server {
  const validate = createAdmissionHandler(requireTeamLabel);
  const server = https.createServer(cert.serverOptions(), (req, res) => {
    if (req.method === 'POST' && req.url?.startsWith('/validate')) return validate(req, res);
    res.writeHead(req.url === '/healthz' ? 200 : 404).end(req.url === '/healthz' ? 'ok' : 'not found');
  });
  const detach = cert.attach(server);
  server.once('close', detach);
  return server;
}
