import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CoreV1Api, VersionApi } from '@kubernetes/client-node';
import { envtestVersions } from '@serving-cert/testkit';
import { controlPlane, createNamespace, userWithRole } from '../helpers/cluster.js';

describe('the control plane', () => {
  it('is the kube-apiserver built from Go modules, at the pinned version', async () => {
    const version = await controlPlane().kubeConfig.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe(envtestVersions().kubernetes);
  });

  it('gives a new user no rights (403) until a Role binds some', async () => {
    const ns = await createNamespace();
    const nobody = controlPlane().addUser('nobody').makeApiClient(CoreV1Api);
    const denied = await nobody.readNamespacedSecret({ namespace: ns, name: 'service-root-ca' }).catch((error: unknown) => error);
    expect(denied).toMatchObject({ code: 403 });
    expect(String((denied as { body: unknown }).body)).toContain('User \\"nobody\\" cannot get resource \\"secrets\\"');

    const reader = (await userWithRole(ns, 'reader', [{ apiGroups: [''], resources: ['services'], verbs: ['list'] }])).makeApiClient(CoreV1Api);
    await expect(reader.listNamespacedService({ namespace: ns })).resolves.toMatchObject({ items: [] });
    await expect(reader.listNamespacedSecret({ namespace: ns })).rejects.toMatchObject({ code: 403 });
  });
});

describe('startControlPlane', () => {
  it('leaves no process and no folder behind when its process dies without stop()', async () => {
    const script = fileURLToPath(new URL('./fixtures/crash-with-control-plane.mjs', import.meta.url));
    const before = fs.readdirSync('/tmp').filter((name) => name.startsWith('serving-cert-control-plane-'));
    const stdout = await new Promise<string>((resolve) => {
      execFile(process.execPath, [script], { timeout: 60_000 }, (_error, out) => resolve(out));
    });
    const { pids } = JSON.parse(stdout.trim().split('\n')[0]!) as { pids: number[] };
    expect(pids).toHaveLength(2); // etcd and kube-apiserver
    // Dead: gone, or a zombie waiting for a PID 1 that does not reap (as in containers).
    const state = (pid: number) => (fs.existsSync(`/proc/${pid}/stat`) ? fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] : 'gone');
    for (const pid of pids) expect(['gone', 'Z', 'X']).toContain(state(pid));
    const after = fs.readdirSync('/tmp').filter((name) => name.startsWith('serving-cert-control-plane-'));
    expect(after.filter((name) => !before.includes(name))).toEqual([]);
  });
});
