import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { controlPlane, createNamespace, userWithRole } from '../helpers/cluster.js';
import { servingCert } from '../helpers/cli.js';
import { tempDir, WEB_NAMES } from '../helpers/tls.js';

// `serving-cert inspect secret NAME -n NS` against the real kube-apiserver: the Secret read
// through the API by a user allowed to get that one Secret, and the same gate as `inspect DIR`.
// No Service is annotated here, so the real cert-manager never writes these Secrets.
const ca = CertificateAuthority.create({ commonName: 'platform root' });
const core = () => controlPlane().kubeConfig.makeApiClient(CoreV1Api);
let dir: string;
let remove: () => Promise<void>;

beforeAll(async () => {
  ({ dir, remove } = await tempDir());
});
afterAll(async () => {
  await remove();
});

async function secret(namespace: string, name: string, files: Record<string, string>, annotations: Record<string, string> = {}): Promise<void> {
  const data = Object.fromEntries(Object.entries(files).map(([key, value]) => [key, Buffer.from(value).toString('base64')]));
  await core().createNamespacedSecret({ namespace, body: { metadata: { name, annotations }, type: 'kubernetes.io/tls', data } });
}

/** A kubeconfig file for a user who may only get `names` Secrets in `namespace`, with its context set to `namespace` or not. */
async function readerKubeconfig(namespace: string, names: string[]): Promise<string> {
  const user = `reader-${namespace}`;
  const kubeConfig = await userWithRole(namespace, user, [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: names }]);
  const file = `${dir}/${user}.kubeconfig`;
  await writeFile(file, kubeConfig.exportConfig(), { mode: 0o600 });
  return file;
}

type Report = { source: string; ok: boolean; service?: string; dnsNames: string[]; certificate?: { serialNumber: string }; checks: Array<{ id: string; status: string; problems: Array<{ code: string }> }> };

describe('serving-cert inspect secret', () => {
  it('inspect secret web-tls -n shop -o json: reads the Secret through the API and runs the gate', async () => {
    await core().createNamespace({ body: { metadata: { name: 'shop' } } }).catch((error: { code?: number }) => {
      if (error.code !== 409) throw error;
    });
    const leaf = ca.issue({ dnsNames: WEB_NAMES });
    await core().deleteNamespacedSecret({ namespace: 'shop', name: 'web-tls' }).catch(() => undefined);
    // cert-manager's annotation names the Certificate web-cert, so the names checked are Service web's.
    await secret('shop', 'web-tls', { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem }, { 'cert-manager.io/certificate-name': 'web-cert' });
    const kubeconfig = await readerKubeconfig('shop', ['web-tls']);
    const result = await servingCert(['inspect', 'secret', 'web-tls', '-n', 'shop', '-o', 'json', '--kubeconfig', kubeconfig]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(report).toMatchObject({ source: 'secret shop/web-tls', ok: true, service: 'web', dnsNames: WEB_NAMES, certificate: { serialNumber: leaf.leaf.serialNumber } });
    expect(report.checks.map((check) => `${check.id} ${check.status}`)).toEqual([
      'files pass', 'parse pass', 'key-match pass', 'validity pass', 'key-usage pass', 'strength pass', 'dns-names pass', 'chain pass',
    ]);
  });

  it('exits 1 naming each reason of a bad Secret, and reads the namespace from --context', async () => {
    const namespace = await createNamespace('inspect');
    const other = CertificateAuthority.create({ commonName: 'another root' });
    const leaf = ca.issue({ dnsNames: ['web'], notBefore: new Date(Date.now() - 3e9), notAfter: new Date(Date.now() - 1e9) });
    await secret(namespace, 'web-tls', { 'tls.crt': leaf.certPem, 'tls.key': ca.issue().keyPem, 'ca.crt': other.certPem });
    const kubeconfig = await readerKubeconfig(namespace, ['web-tls']);
    // Another context, whose namespace is this one: -n is then not needed.
    const file = `${dir}/context-${namespace}.kubeconfig`;
    const config = JSON.parse(await readFile(kubeconfig, 'utf8')) as { contexts: Array<{ name: string; context: Record<string, string> }> }; // exportConfig writes JSON
    config.contexts.push({ name: 'here', context: { ...config.contexts[0]!.context, namespace } });
    await writeFile(file, JSON.stringify(config), { mode: 0o600 });
    const result = await servingCert(['inspect', 'secret', 'web-tls', '--service', 'web', '--context', 'here', '--kubeconfig', file, '-o', 'json'], { POD_NAMESPACE: '' });
    expect(result.code, result.stderr).toBe(1);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.source).toBe(`secret ${namespace}/web-tls`);
    const codes = Object.fromEntries(report.checks.map((check) => [check.id, check.problems.map((problem) => problem.code)]));
    expect(codes).toMatchObject({ 'key-match': ['E_KEY_MISMATCH'], validity: ['E_EXPIRED'], 'dns-names': ['E_DNS_NAME'], chain: ['E_CHAIN'] });
    const text = await servingCert(['inspect', 'secret', 'web-tls', '--service', 'web', '--context', 'here', '--kubeconfig', file], { POD_NAMESPACE: '' });
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`serving-cert inspect secret ${namespace}/web-tls`);
    expect(text.stdout).toContain('invalid: serving-cert would refuse this');
  });

  it('a missing Secret fails the files check (exit 1); a Secret it may not read is E_FORBIDDEN with the Role rule (exit 2)', async () => {
    const namespace = await createNamespace('inspect');
    const kubeconfig = await readerKubeconfig(namespace, ['web-tls']);
    const missing = await servingCert(['inspect', 'secret', 'web-tls', '-n', namespace, '--kubeconfig', kubeconfig, '-o', 'json']);
    expect(missing.code, missing.stderr).toBe(1);
    const report = JSON.parse(missing.stdout) as Report;
    expect(report.ok).toBe(false);
    expect(report.checks[0]).toMatchObject({ id: 'files', status: 'fail', problems: [{ code: 'E_MISSING', message: `secret ${namespace}/web-tls does not exist` }] });
    expect(report.checks.slice(1).every((check) => check.status === 'skipped')).toBe(true);
    const forbidden = await servingCert(['inspect', 'secret', 'db-tls', '-n', namespace, '--kubeconfig', kubeconfig, '-o', 'json']);
    expect(forbidden.code).toBe(2);
    const { error } = JSON.parse(forbidden.stdout) as { error: { code: string; message: string } };
    expect(error.code).toBe('E_FORBIDDEN');
    expect(error.message).toContain('resources: ["secrets"], verbs: ["get"], resourceNames: ["db-tls"]');
  });
});
