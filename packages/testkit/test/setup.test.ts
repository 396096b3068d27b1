import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { controlPlaneAssets, envtestCachePaths, platformAssets, setupEnvtest, TestkitError } from '../src/index.js';

// Each test runs against an empty cache folder of its own: what a consumer has before the setup.
let cache: string;
beforeEach(() => {
  cache = mkdtempSync(path.join(os.tmpdir(), 'testkit-setup-'));
  vi.stubEnv('SERVING_CERT_ENVTEST_DIR', cache);
  for (const name of ['KUBEBUILDER_ASSETS', 'TEST_ASSET_KUBE_APISERVER', 'TEST_ASSET_ETCD', 'SERVING_CERT_PLATFORM_BIN']) vi.stubEnv(name, undefined);
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(cache, { recursive: true, force: true });
});

function thrown(fn: () => unknown): TestkitError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TestkitError);
    return error as TestkitError;
  }
  throw new Error('expected a TestkitError');
}

describe('asset lookup', () => {
  it('without any set-up, names the setup command and KUBEBUILDER_ASSETS', () => {
    const error = thrown(() => controlPlaneAssets());
    expect(error.code).toBe('E_ASSETS_MISSING');
    expect(error.message).toContain('npx serving-cert-envtest');
    expect(error.message).toContain('KUBEBUILDER_ASSETS');
    expect(error.message).toContain(envtestCachePaths().controlPlaneBin);
  });

  it('with a KUBEBUILDER_ASSETS that lacks the binaries, says that variable is where it looked', () => {
    vi.stubEnv('KUBEBUILDER_ASSETS', cache);
    const error = thrown(() => controlPlaneAssets());
    expect(error.message).toContain(`kube-apiserver not found at ${path.join(cache, 'kube-apiserver')} (from KUBEBUILDER_ASSETS)`);
  });

  it('needs no CRDs for the control plane: KUBEBUILDER_ASSETS alone is enough', () => {
    // A folder with two files named as setup-envtest names them: the lookup checks presence only.
    vi.stubEnv('KUBEBUILDER_ASSETS', path.dirname(process.execPath));
    vi.stubEnv('TEST_ASSET_KUBE_APISERVER', process.execPath);
    vi.stubEnv('TEST_ASSET_ETCD', process.execPath);
    const assets = controlPlaneAssets();
    expect(assets.kubeApiserver).toBe(process.execPath);
    expect(assets.crdDir).toBe(envtestCachePaths().crds); // where the platform would look, absent here
  });

  it('for the platform, names the setup command and SERVING_CERT_PLATFORM_BIN', () => {
    const error = thrown(() => platformAssets());
    expect(error.code).toBe('E_ASSETS_MISSING');
    expect(error.message).toContain('npx serving-cert-envtest');
    expect(error.message).toContain('SERVING_CERT_PLATFORM_BIN');
  });
});

describe('setupEnvtest', () => {
  it('with KUBEBUILDER_ASSETS set, builds nothing and reports that folder', async () => {
    vi.stubEnv('KUBEBUILDER_ASSETS', '/opt/envtest-assets');
    const lines: string[] = [];
    const result = await setupEnvtest({ platform: false, log: (line) => lines.push(line) });
    expect(result).toEqual({ controlPlaneBin: '/opt/envtest-assets' });
    expect(lines[0]).toBe('using KUBEBUILDER_ASSETS=/opt/envtest-assets');
  });

  it('without Go on PATH, fails with E_NO_GO saying to install Go or set KUBEBUILDER_ASSETS, and leaves no half build', async () => {
    vi.stubEnv('PATH', cache); // an empty folder: no go
    const error = await setupEnvtest({ platform: false, log: () => {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TestkitError);
    expect((error as TestkitError).code).toBe('E_NO_GO');
    expect((error as TestkitError).message).toMatch(/Install Go 1\.26.*KUBEBUILDER_ASSETS/);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(cache)).toEqual([]);
  });
});
