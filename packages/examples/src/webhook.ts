// What runs in the pod of deploy/webhook-example.yaml: ensureServingCert() gets the platform
// certificate for Service team-label-webhook, keepCaBundle() keeps the caBundle of the
// ValidatingWebhookConfiguration on the CA that verifies it (through CA rollovers too).
import { ensureServingCert } from '@serving-cert/core';
import { keepCaBundle } from '@serving-cert/core/webhook';
import { createTeamLabelWebhook } from './teamLabelWebhook.js';

const cert = await ensureServingCert({ source: 'api' });
const keeper = await keepCaBundle(cert, [{ kind: 'ValidatingWebhookConfiguration', name: 'require-team-label' }]);
const server = createTeamLabelWebhook(cert);
server.listen(Number(process.env.PORT ?? 8443), () => {
  console.log(`team-label webhook serving ${cert.current.info.dnsNames[2] ?? ''} on :${process.env.PORT ?? 8443}`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    void keeper.close().then(() => cert.close());
  });
}
