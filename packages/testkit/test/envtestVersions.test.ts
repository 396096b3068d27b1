import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envtestVersions } from '../src/index.js';

describe('envtest versions', () => {
  it('match what the shipped go/envtest/go.mod builds', () => {
    const goMod = readFileSync(new URL('../go/envtest/go.mod', import.meta.url), 'utf8');
    const required = (module: string) => goMod.match(new RegExp(`^\\s*${module.replaceAll('.', '\\.')} (v\\S+)`, 'm'))?.[1];
    const versions = envtestVersions();
    expect(required('k8s.io/kubernetes')).toBe(versions.kubernetes);
    expect(required('go.etcd.io/etcd/server/v3')).toBe(versions.etcd);
    // Every staging module is replaced by the published one of the same release.
    const minorPatch = versions.kubernetes.replace(/^v1\./, 'v0.');
    const replaces = [...goMod.matchAll(/^\s*(k8s\.io\/\S+) => \S+ (v\S+)$/gm)];
    expect(replaces.length).toBeGreaterThan(30);
    for (const [, module, version] of replaces) expect(`${module} ${version}`).toBe(`${module} ${minorPatch}`);
  });
});

describe('platform versions', () => {
  it('match what the shipped go/platform/go.mod builds, with Kyverno\'s pod-security-admission fork', () => {
    const goMod = readFileSync(new URL('../go/platform/go.mod', import.meta.url), 'utf8');
    const required = (module: string) => goMod.match(new RegExp(`^\\s*${module.replaceAll('.', '\\.')} (v\\S+)`, 'm'))?.[1];
    const versions = envtestVersions();
    expect(required('github.com/cert-manager/cert-manager')).toBe(versions.certManager);
    expect(required('github.com/kyverno/kyverno')).toBe(versions.kyverno);
    expect(goMod).toMatch(/^replace k8s\.io\/pod-security-admission => github\.com\/kyverno\/pod-security-admission /m);
    expect(goMod).toMatch(/^\s*github\.com\/kyverno\/kyverno\/cmd\/kyverno$/m);
    expect(goMod).toMatch(/^\s*github\.com\/kyverno\/kyverno\/cmd\/background-controller$/m);
  });
});
