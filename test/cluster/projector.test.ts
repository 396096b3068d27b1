import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { projectSecretVolume, type SecretVolumeProjection } from '@serving-cert/testkit';
import { controlPlane, createNamespace, eventually } from '../helpers/cluster.js';
import { tempDir } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
const core = () => controlPlane().kubeConfig.makeApiClient(CoreV1Api);
const b64 = (text: string) => Buffer.from(text).toString('base64');

async function project(namespace: string, secretName: string, options: { delayMs?: number; optional?: boolean } = {}): Promise<{ dir: string; projection: SecretVolumeProjection }> {
  const { dir: base, remove } = await tempDir();
  cleanups.push(remove);
  const dir = path.join(base, 'vol');
  const projection = await projectSecretVolume({ kubeConfig: controlPlane().kubeConfig, namespace, secretName, dir, ...options });
  cleanups.push(() => projection.stop());
  return { dir, projection };
}

describe('projectSecretVolume', () => {
  it('writes a Secret as kubelet lays out a volume, and follows its updates after the delay', async () => {
    const ns = await createNamespace();
    await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: 's' }, data: { 'tls.crt': b64('one'), 'tls.key': b64('k1') } } });
    const { dir } = await project(ns, 's', { delayMs: 300 });
    await eventually('first projection', () => fs.readFile(path.join(dir, 'tls.crt'), 'utf8'), (text) => text === 'one');
    const first = await fs.readlink(path.join(dir, '..data'));
    expect(first).toMatch(/^\.\.\d{4}_/);
    expect(await fs.readlink(path.join(dir, 'tls.key'))).toBe('..data/tls.key');

    const secret = await core().readNamespacedSecret({ namespace: ns, name: 's' });
    secret.data = { 'tls.crt': b64('two'), 'tls.key': b64('k2') };
    const changedAt = Date.now();
    await core().replaceNamespacedSecret({ namespace: ns, name: 's', body: secret });
    await eventually('second projection', () => fs.readFile(path.join(dir, 'tls.crt'), 'utf8'), (text) => text === 'two');
    expect(Date.now() - changedAt).toBeGreaterThanOrEqual(300);
    expect(await fs.readFile(path.join(dir, 'tls.key'), 'utf8')).toBe('k2');
    // As kubelet does, the old timestamped directory goes after the swap, not with it.
    const entries = await eventually('the old revision removed', () => fs.readdir(dir), (names) => !names.includes(first));
    expect(entries.filter((entry) => entry.startsWith('..2'))).toHaveLength(1);
  });

  it('mounts an optional volume empty until the Secret exists', async () => {
    const ns = await createNamespace();
    const { dir } = await project(ns, 'later', { optional: true });
    expect(await fs.readdir(dir)).toEqual([]);
    await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'later' }, data: { 'ca.crt': b64('CA') } } });
    await eventually('projection', () => fs.readFile(path.join(dir, 'ca.crt'), 'utf8').catch(() => ''), (text) => text === 'CA');
  });
});
