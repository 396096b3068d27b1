// npm run --workspace bench platform: figures of the real platform (cert-manager and Kyverno
// from packages/testkit/go/platform) on the testkit's control plane. Prints them and writes
// bench/platform-results.json:
//  - platform start: startPlatform() from an API server with nothing installed to a platform
//    that issues (CRDs, RBAC, the three controllers ready, policies Ready, a first CA copy);
//  - first issuance: an annotated Service created to its Secret holding tls.crt, p50 of 10
//    (each in a new namespace, one after the other);
//  - CA rotation fan-out: cert-manager/service-root-ca replaced to the new ca.crt in the copies
//    of 10 namespaces (the last one), 3 rounds.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import { CoreV1Api } from '@kubernetes/client-node';
import { PLATFORM, startControlPlane, startPlatform } from '@serving-cert/testkit';

const log = (message: string) => process.stderr.write(`bench: ${message}\n`);
const controlPlane = await startControlPlane({ log });
let platform: Awaited<ReturnType<typeof startPlatform>> | undefined;
try {
  platform = await startPlatform(controlPlane, { log });
  const core = controlPlane.kubeConfig.makeApiClient(CoreV1Api);
  const until = async (check: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (await check().catch(() => false)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  const issuance: number[] = [];
  const namespaces: string[] = [];
  for (let i = 0; i < 10; i++) {
    const namespace = `bench-issue-${i}`;
    namespaces.push(namespace);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const started = performance.now();
    await core.createNamespacedService({ namespace, body: {
      metadata: { name: 'web', annotations: { [PLATFORM.annotation]: 'web-tls' } },
      spec: { ports: [{ port: 443 }] },
    } });
    await until(async () => Boolean((await core.readNamespacedSecret({ namespace, name: 'web-tls' })).data?.['tls.crt']), `web-tls in ${namespace}`);
    issuance.push(performance.now() - started);
  }

  const fanOut: number[] = [];
  for (let round = 0; round < 3; round++) {
    await until(async () => (await Promise.all(namespaces.map((namespace) => core.readNamespacedSecret({ namespace, name: PLATFORM.caSecretName })))).every((s) => Boolean(s.data?.['ca.crt'])), 'copies');
    const started = performance.now();
    await platform.rotateCA();
    const want = Buffer.from(platform.caPem).toString('base64');
    await until(async () => (await Promise.all(namespaces.map((namespace) => core.readNamespacedSecret({ namespace, name: PLATFORM.caSecretName })))).every((s) => s.data?.['ca.crt'] === want), 'rotated copies');
    fanOut.push(performance.now() - started);
  }

  const p50 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
  const figures = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
    versions: controlPlane.assets.versions,
    platformStartMs: Math.round(platform.startMs),
    firstIssuanceMs: { p50: Math.round(p50(issuance)), min: Math.round(Math.min(...issuance)), max: Math.round(Math.max(...issuance)), all: issuance.map(Math.round) },
    caRotationFanOut10Ms: { p50: Math.round(p50(fanOut)), all: fanOut.map(Math.round) },
  };
  console.log(`platform start:                         ${(figures.platformStartMs / 1000).toFixed(1)} s`);
  console.log(`first issuance after annotation (p50/10): ${figures.firstIssuanceMs.p50} ms (min ${figures.firstIssuanceMs.min}, max ${figures.firstIssuanceMs.max})`);
  console.log(`CA rotation fan-out to 10 namespaces:     ${figures.caRotationFanOut10Ms.p50} ms (p50 of 3: ${figures.caRotationFanOut10Ms.all.join(', ')})`);
  await fs.writeFile(new URL('./platform-results.json', import.meta.url), `${JSON.stringify(figures, null, 2)}\n`);
  console.log('written: bench/platform-results.json');
} finally {
  await platform?.stop();
  await controlPlane.stop();
}
