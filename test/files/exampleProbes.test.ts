import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import * as https from 'node:https';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAllYaml, type V1Container, type V1Deployment, type V1Probe } from '@kubernetes/client-node';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { tempDir } from '../helpers/tls.js';

const server = fileURLToPath(new URL('../../packages/examples/dist/server.js', import.meta.url));
const manifest = new URL('../../deploy/example-app.yaml', import.meta.url);
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
const names = (svc: string, ns: string) => [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`];

async function exampleContainer(): Promise<V1Container> {
  const objects = loadAllYaml(await readFile(manifest, 'utf8')) as Array<{ kind: string }>;
  const deployment = objects.find((object) => object.kind === 'Deployment') as V1Deployment;
  return deployment.spec!.template.spec!.containers[0]!;
}

/** One GET as kubelet's HTTPS probe makes it: by IP, no client certificate, the server's certificate not verified. */
function probe(port: number, path: string, client: { ca?: string; cert?: string; key?: string } = {}): Promise<{ status: number; body: string }> {
  const verify = client.ca !== undefined;
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path, agent: false, ...(verify ? { ...client, servername: 'my-secure-service.my-namespace.svc' } : { rejectUnauthorized: false }) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

async function runExample(env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const { dir: home, remove } = await tempDir();
  cleanups.push(remove);
  const { KUBERNETES_SERVICE_HOST: _inPod, KUBECONFIG: _kubeconfig, ...rest } = process.env;
  const child = spawn(process.execPath, [server], {
    // No cluster: an empty HOME and a KUBECONFIG that does not exist, so the mounted files are the source.
    env: { ...rest, HOME: home, KUBECONFIG: `${home}/none`, PORT: '0', SERVING_CERT_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
  let output = '';
  child.stdout.setEncoding('utf8');
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
      const match = / on :(\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`the example exited with ${code}: ${output}`)));
  });
  return { child, port };
}

describe('deploy/example-app.yaml: the probes reach the example app with mTLS on', () => {
  it('kubelet gets 200 from every probe over HTTPS without a client certificate; /hello is for allowed Services only', async () => {
    const container = await exampleContainer();
    const env = Object.fromEntries((container.env ?? []).filter((entry) => entry.value !== undefined).map((entry) => [entry.name, entry.value!]));
    expect(env.ALLOWED_NAMESPACES).toBe('my-namespace'); // mTLS on
    const probes = [container.readinessProbe, container.livenessProbe, container.startupProbe].filter((each): each is V1Probe => each !== undefined);
    expect(probes).toHaveLength(3);
    const servingPort = container.ports?.[0]?.containerPort;
    for (const each of probes) expect(each.httpGet).toMatchObject({ scheme: 'HTTPS', port: servingPort });

    const ca = CertificateAuthority.create({ commonName: 'platform root' });
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const leaf = ca.issue({ dnsNames: names(env.SERVING_CERT_SERVICE!, 'my-namespace') });
    await writeAtomicVolume(`${dir}/certs`, { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
    await writeAtomicVolume(`${dir}/ca`, { 'ca.crt': ca.certPem });
    const { port } = await runExample({ ...env, POD_NAMESPACE: 'my-namespace', TLS_CERT_DIR: `${dir}/certs`, TLS_CA_DIR: `${dir}/ca` });

    for (const each of probes) expect(await probe(port, each.httpGet!.path!)).toEqual({ status: 200, body: 'ok' });
    const anonymous = await probe(port, '/hello');
    expect(anonymous.status).toBe(403);
    expect(anonymous.body).not.toMatch(/my-namespace|allowed/);
    const peer = ca.issue({ dnsNames: names('web', 'my-namespace') });
    const stranger = ca.issue({ dnsNames: names('web', 'elsewhere') });
    expect(JSON.parse((await probe(port, '/hello', { ca: ca.certPem, cert: peer.certPem, key: peer.keyPem })).body)).toMatchObject({ hello: 'web' });
    expect((await probe(port, '/hello', { ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem })).status).toBe(403);
  });
});
