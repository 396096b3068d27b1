// A platform CA rollover, measured on the real platform (cert-manager and Kyverno from
// packages/testkit/go/platform, on a control plane of its own): six services in three namespaces, api source,
// each asking for its own re-issue at a random moment of a 10 s window. Figure: from the start of
// the platform root CA replacement to the moment the last of the six handles serves a leaf of the
// new CA. Baseline, read from the same run: when cert-manager would have re-issued the last of
// them on its own (the Certificates' status.renewalTime), which is what happens without serving-cert.
import { X509Certificate } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { ensureServingCert, type ServingCert } from '@serving-cert/core';
import { startControlPlane, startPlatform } from '@serving-cert/testkit';
import { median, type Row } from './lib/stats.js';

const WINDOW_MS = 10_000;
const silent = { debug() {}, info() {}, warn: (...args: unknown[]) => process.stderr.write(`bench: rollover: ${JSON.stringify(args)}\n`), error() {} };

/** Rounds of: replace the platform root CA, wait until all six leaves come from it. */
export async function rolloverConvergence(rounds: number): Promise<Row> {
  const log = (message: string) => process.stderr.write(`bench: rollover: ${message}\n`);
  const plane = await startControlPlane({ log });
  const handles: Array<{ namespace: string; name: string; cert: ServingCert }> = [];
  let platform: Awaited<ReturnType<typeof startPlatform>> | undefined;
  try {
    platform = await startPlatform(plane, { log });
    const core = plane.kubeConfig.makeApiClient(CoreV1Api);
    const rbac = plane.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    for (const namespace of ['bench-roll-a', 'bench-roll-b', 'bench-roll-c']) {
      await core.createNamespace({ body: { metadata: { name: namespace } } });
      for (const name of ['alpha', 'beta']) {
        await core.createNamespacedService({ namespace, body: { metadata: { name }, spec: { ports: [{ port: 443 }] } } });
        // The least the app needs (deploy/app-rbac.yaml) plus the optional renew rule, as a user of its own.
        const user = `${name}-${namespace}`;
        await rbac.createNamespacedRole({ namespace, body: { metadata: { name: user }, rules: [
          { apiGroups: [''], resources: ['services'], resourceNames: [name], verbs: ['get', 'patch'] },
          { apiGroups: [''], resources: ['secrets'], resourceNames: [`${name}-tls`, 'service-root-ca'], verbs: ['get', 'list', 'watch'] },
          { apiGroups: [''], resources: ['configmaps'], resourceNames: [`${name}-tls-serving-cert-trust`], verbs: ['get', 'patch', 'create'] },
          { apiGroups: ['cert-manager.io'], resources: ['certificates/status'], resourceNames: [`${name}-cert`], verbs: ['get', 'patch'] },
        ] } });
        await rbac.createNamespacedRoleBinding({ namespace, body: { metadata: { name: user },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: user }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] } });
        const cert = await ensureServingCert({ kubeConfig: plane.addUser(user), source: 'api', serviceName: name, namespace, timeoutMs: 60_000, rolloverRenewWindowMs: WINDOW_MS, logger: silent });
        handles.push({ namespace, name, cert });
      }
    }
    const custom = plane.kubeConfig.makeApiClient(CustomObjectsApi);
    const samples: number[] = [];
    const untilOnItsOwn: number[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const renewals = await Promise.all(handles.map(async ({ namespace, name }) => {
        const certificate = await custom.getNamespacedCustomObject({ group: 'cert-manager.io', version: 'v1', namespace, plural: 'certificates', name: `${name}-cert` }) as { status?: { renewalTime?: string } };
        return Date.parse(certificate.status?.renewalTime ?? '');
      }));
      const started = Date.now();
      const rotating = platform;
      await rotating.rotateCA();
      const subject = new X509Certificate(rotating.caPem).subject;
      let lastProgress = Date.now();
      while (!handles.every(({ cert }) => cert.current.info.issuer === subject)) {
        if (Date.now() - started > 120_000) throw new Error('rollover: the six leaves did not all move to the new CA within 120 s');
        if (Date.now() - lastProgress > 10_000) {
          lastProgress = Date.now();
          log(`round ${round + 1}: ${handles.filter(({ cert }) => cert.current.info.issuer === subject).length} of 6 leaves moved after ${((Date.now() - started) / 1000).toFixed(0)} s`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      samples.push(Date.now() - started);
      untilOnItsOwn.push(Math.max(...renewals) - started);
      log(`round ${round + 1}: last of 6 leaves re-issued ${samples.at(-1)} ms after the CA change`);
    }
    const value = median(samples);
    const baseline = median(untilOnItsOwn);
    return {
      name: `rollover: platform CA change to last leaf re-issued (6 services, jitter window ${WINDOW_MS / 1000} s, p50 of ${rounds})`,
      unit: 'ms', value, baselineName: "cert-manager's own renewal (renewalTime)", baseline, ratio: value / baseline,
      target: `<= jitter window + 5 s (${WINDOW_MS + 5_000} ms)`, met: Math.max(...samples) <= WINDOW_MS + 5_000,
      detail: { samplesMs: samples, untilOwnRenewalMs: untilOnItsOwn, windowMs: WINDOW_MS },
    };
  } finally {
    for (const { cert } of handles) await cert.close();
    await platform?.stop();
    await plane.stop();
  }
}
