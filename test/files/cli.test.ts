import { afterEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { servingCert } from '../helpers/cli.js';
import { tempDir, WEB_NAMES } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const ca = CertificateAuthority.create({ commonName: 'platform root' });
async function volume(files: Record<string, string>): Promise<string> {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  await writeAtomicVolume(`${dir}/vol`, files);
  return `${dir}/vol`;
}

describe('serving-cert inspect', () => {
  it('prints the facts and every check, and exits 0 for a valid Secret volume', async () => {
    const leaf = ca.issue({ dnsNames: WEB_NAMES });
    const dir = await volume({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
    const result = await servingCert(['inspect', dir, '--service', 'web', '--namespace', 'shop']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`serial       ${leaf.leaf.serialNumber}`);
    expect(result.stdout.match(/^ {2}PASS/gm)).toHaveLength(6);
    expect(result.stdout).toContain('valid: serving-cert would serve this');
  });

  it('reads a leaf shaped like cert-manager\'s (empty subject, no extendedKeyUsage, PKCS#1) and shows its subject readably', async () => {
    const leaf = ca.issue({ dnsNames: WEB_NAMES, keyAlgorithm: 'rsa-2048' });
    expect(leaf.leaf.subject ?? '').toBe('');
    expect(leaf.keyPem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    const dir = await volume({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
    const result = await servingCert(['inspect', dir, '--service', 'web', '--namespace', 'shop']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('  subject      (empty subject)\n  issuer       CN=platform root\n');
    expect(result.stdout).toContain('valid: serving-cert would serve this');
    const json = await servingCert(['inspect', dir, '--service', 'web', '--namespace', 'shop', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, certificate: { subject: '', issuer: 'CN=platform root' } });
  });

  it('exits 1 naming each reason: expired, key mismatch, the missing DNS names', async () => {
    const expired = ca.issue({ dnsNames: ['web'], notBefore: new Date(Date.now() - 3e9), notAfter: new Date(Date.now() - 1e9) });
    const dir = await volume({ 'tls.crt': expired.certPem, 'tls.key': ca.issue().keyPem, 'ca.crt': expired.caPem });
    const result = await servingCert(['inspect', dir, '--service', 'web', '--namespace', 'shop']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAIL {2}tls\.key belongs to the leaf\n.*does not belong to tls\.crt/);
    expect(result.stdout).toMatch(/FAIL {2}the leaf is inside its validity window\n.*expired at/);
    expect(result.stdout).toMatch(/does not cover web\.shop, web\.shop\.svc, web\.shop\.svc\.cluster\.local/);
    expect(result.stdout).toContain('PASS  the leaf chains to ca.crt');
    expect(result.stdout).toContain('invalid: serving-cert would refuse this');
  });

  it('--json gives the same report as data', async () => {
    const dir = await volume({ 'tls.crt': 'not a certificate', 'tls.key': 'nor a key' });
    const result = await servingCert(['inspect', dir, '--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: Array<{ check: string; status: string }> };
    expect(report.ok).toBe(false);
    expect(report.checks.map((check) => check.status)).toEqual(['pass', 'fail', 'skipped', 'skipped', 'skipped', 'skipped']);
  });
});

describe('serving-cert manifests and usage', () => {
  it('prints the platform and app manifests', async () => {
    const platform = await servingCert(['manifests', 'platform']);
    expect(platform.code).toBe(0);
    for (const name of ['clone-ca-secret', 'sync-ca-rotation', 'generate-service-cert', 'kyverno:serving-certs']) expect(platform.stdout).toContain(`name: ${name}`);
    const app = await servingCert(['manifests', 'app']);
    expect(app.stdout).toContain('kind: Role');
    expect(app.stdout).toContain('optional: true');
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['inspect'], /inspect needs a folder/],
    [['manifests', 'everything'], /manifests takes platform or app/],
    [['doctor'], /doctor needs --service and --namespace/],
  ])('exits 2 with usage for %j', async (args, message) => {
    const result = await servingCert(args, { SERVING_CERT_SERVICE: '', POD_NAMESPACE: '' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('usage:');
  });
});
