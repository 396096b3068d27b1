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

/**
 * How soon after its starting process dies a control plane is gone: processes and folder. The
 * testkit README states this bound; it takes about 0.1 s (a supervisor process reacts to the
 * kernel closing a socket), 0.7 s at worst measured at load average 30 on 2 cores.
 */
const CLEANUP_BOUND_MS = 2_000;

describe('startControlPlane', () => {
  it.each(['uncaught-exception', 'SIGKILL'] as const)(
    'leaves no process and no folder behind, within the bound, when its process dies of %s without stop()',
    async (how) => {
      const script = fileURLToPath(new URL('./fixtures/crash-with-control-plane.mjs', import.meta.url));
      const { stdout, died } = await new Promise<{ stdout: string; died: string }>((resolve) => {
        const child = execFile(process.execPath, [script, how], { timeout: 60_000 }, (_error, out) => {
          resolve({ stdout: out, died: String(child.signalCode ?? child.exitCode) });
        });
      });
      const diedAt = performance.now();
      expect(died).toBe(how === 'SIGKILL' ? 'SIGKILL' : '1'); // it did die, and as told
      const crashed = JSON.parse(stdout.trim().split('\n')[0]!) as { etcd: number; kubeApiserver: number; supervisor: number; dir: string };
      expect(crashed).toMatchObject({ etcd: expect.any(Number), kubeApiserver: expect.any(Number), supervisor: expect.any(Number) });
      expect(crashed.dir).toMatch(/^\/tmp\/serving-cert-control-plane-/);

      // Dead: gone, or a zombie waiting for a PID 1 that does not reap (as in containers).
      const state = (pid: number) => (fs.existsSync(`/proc/${pid}/stat`) ? fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] : 'gone');
      const leftBehind = () => [
        ...(['etcd', 'kubeApiserver', 'supervisor'] as const)
          .map((name) => `${name} (${state(crashed[name])})`).filter((entry) => !/\((gone|Z|X)\)$/.test(entry)),
        ...(fs.existsSync(crashed.dir) ? [crashed.dir] : []),
      ];
      await expect.poll(leftBehind, { timeout: CLEANUP_BOUND_MS, interval: 10 }).toEqual([]);
      const cleanedAfterMs = performance.now() - diedAt;
      expect(cleanedAfterMs).toBeLessThan(CLEANUP_BOUND_MS);
      console.log(`control plane gone ${cleanedAfterMs.toFixed(0)} ms after its process died of ${how}`);
    },
  );
});
