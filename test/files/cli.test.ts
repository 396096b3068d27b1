import { execFile } from 'node:child_process';
import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { loadYaml } from '@kubernetes/client-node';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { servingCert, servingCertBin } from '../helpers/cli.js';
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
    expect(result.stdout.match(/^ {2}PASS/gm)).toHaveLength(8);
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

  it.each([[['--json']], [['-o', 'json']], [['-ojson']], [['-o=json']], [['--output=json']]])('%j gives the same report as data, keyed by stable check ids and error codes', async (flag) => {
    const dir = await volume({ 'tls.crt': 'not a certificate', 'tls.key': 'nor a key' });
    const result = await servingCert(['inspect', dir, ...flag]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: Array<{ id: string; status: string; problems: Array<{ code: string }> }> };
    expect(report.ok).toBe(false);
    expect(report.checks.map((check) => `${check.id} ${check.status}`)).toEqual([
      'files pass', 'parse fail', 'key-match skipped', 'validity skipped', 'key-usage skipped', 'strength skipped', 'dns-names skipped', 'chain skipped',
    ]);
    expect(report.checks[1]!.problems.map((problem) => problem.code)).toContain('E_PARSE');
  });

  it('-o yaml gives the same report as YAML', async () => {
    const expired = ca.issue({ dnsNames: WEB_NAMES, notBefore: new Date(Date.now() - 3e9), notAfter: new Date(Date.now() - 1e9) });
    const dir = await volume({ 'tls.crt': expired.certPem, 'tls.key': expired.keyPem, 'ca.crt': expired.caPem });
    const yaml = await servingCert(['inspect', dir, '--service', 'web', '-n', 'shop', '-o', 'yaml']);
    const json = await servingCert(['inspect', dir, '--service', 'web', '-n', 'shop', '-o', 'json']);
    expect(yaml.code).toBe(1);
    expect(loadYaml(yaml.stdout)).toEqual(JSON.parse(json.stdout));
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, checks: expect.arrayContaining([{ id: 'validity', title: expect.any(String), status: 'fail', problems: [{ code: 'E_EXPIRED', message: expect.stringContaining('expired at') }] }]) });
  });

  it('in a pod (POD_NAMESPACE set) inspect DIR without --service checks no names; with SERVING_CERT_SERVICE, that Service\'s', async () => {
    const leaf = ca.issue({ dnsNames: WEB_NAMES });
    const dir = await volume({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
    const bare = await servingCert(['inspect', dir, '-o', 'json'], { POD_NAMESPACE: 'shop', SERVING_CERT_SERVICE: '' });
    expect(bare.code, bare.stderr).toBe(0);
    expect(JSON.parse(bare.stdout)).toMatchObject({ dnsNames: [], checks: expect.arrayContaining([expect.objectContaining({ id: 'dns-names', status: 'skipped' })]) });
    const fromEnv = await servingCert(['inspect', dir, '-o', 'json'], { POD_NAMESPACE: 'shop', SERVING_CERT_SERVICE: 'web' });
    expect(JSON.parse(fromEnv.stdout)).toMatchObject({ ok: true, dnsNames: WEB_NAMES });
  });

  it('--cluster-domain sets the fourth name the leaf must cover', async () => {
    const leaf = ca.issue({ dnsNames: ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.corp.example'] });
    const dir = await volume({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
    const assumed = await servingCert(['inspect', dir, '--service', 'web', '-n', 'shop', '-o', 'json']);
    expect(assumed.code).toBe(1);
    expect(JSON.parse(assumed.stdout)).toMatchObject({ checks: expect.arrayContaining([expect.objectContaining({ id: 'dns-names', status: 'fail' })]) });
    const told = await servingCert(['inspect', dir, '--service', 'web', '-n', 'shop', '--cluster-domain', 'corp.example', '-o', 'json']);
    expect(told.code, told.stderr).toBe(0);
    expect(JSON.parse(told.stdout)).toMatchObject({ ok: true, dnsNames: ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.corp.example'] });
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

  const usageErrors: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown command "frobnicate"/],
    [['inspect'], /inspect needs a folder, or secret NAME/],
    [['inspect', 'secret'], /inspect secret needs the Secret's NAME/],
    [['inspect', '/tmp', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['inspect', '/tmp', '--service', 'web'], /--service and --namespace go together/],
    [['inspect', '/tmp', '--cluster-domain', 'not a domain!'], /--cluster-domain "not a domain!" is not a DNS domain/],
    [['inspect', '/tmp', '-A'], /-A\/--all-namespaces does not apply/],
    [['manifests', 'everything'], /manifests takes platform or app/],
    [['doctor'], /doctor needs --service \(or SERVING_CERT_SERVICE\)/],
    [['doctor', '--service', 'web', '-n', 'shop', '-A'], /-A\/--all-namespaces and -n\/--namespace exclude each other/],
  ];

  it.each(usageErrors)('exits 2 with usage for %j', async (args, message) => {
    const result = await servingCert(args, { SERVING_CERT_SERVICE: '', POD_NAMESPACE: '' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('usage:');
    expect(result.stdout).toBe('');
  });

  // manifests prints YAML only: its -o json is a usage error of its own.
  it.each(usageErrors.filter(([args]) => args[0] !== 'manifests'))('with -o json, %j also prints a JSON error object on stdout', async (args, message) => {
    const result = await servingCert([...args, '-o', 'json'], { SERVING_CERT_SERVICE: '', POD_NAMESPACE: '' });
    expect(result.code).toBe(2);
    const { error } = JSON.parse(result.stdout) as { error: { code: string; message: string } };
    expect(error.code).toBe('E_USAGE');
    expect(error.message).toMatch(message);
  });

  it.each([
    [['-o', 'xml'], /-o\/--output takes text, json, yaml, not "xml"/],
    [['--json', '-o', 'yaml'], /--json is -o json: it contradicts -o yaml/],
  ])('refuses the output flags %j', async (flags, message) => {
    const result = await servingCert(['inspect', '/tmp', ...flags]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('-o yaml also gives the error as YAML', async () => {
    const result = await servingCert(['inspect', '-o', 'yaml']);
    expect(result.code).toBe(2);
    expect(loadYaml(result.stdout)).toEqual({ error: { code: 'E_USAGE', message: 'inspect needs a folder, or secret NAME' } });
  });
});

describe('serving-cert help and version', () => {
  const core = JSON.parse(readFileSync(new URL('../../packages/core/package.json', import.meta.url), 'utf8')) as { version: string; bin: Record<string, string> };

  it('`npx serving-cert --version` runs the committed bin entry of the checkout and prints core\'s version', async () => {
    expect(core.bin['serving-cert']).toBe('./bin/serving-cert.js');
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const { stdout } = await promisify(execFile)('npx', ['--no-install', 'serving-cert', '--version'], { cwd: root, timeout: 60_000 });
    expect(stdout).toBe(`${core.version}\n`);
    expect(JSON.parse((await servingCert(['--version', '-o', 'json'])).stdout)).toEqual({ version: core.version });
  });

  it('the bin entry, before the build, says to run it (npm links it at install, when dist/ is not there yet)', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    await mkdir(`${dir}/bin`);
    await copyFile(servingCertBin, `${dir}/bin/serving-cert.js`);
    await writeFile(`${dir}/package.json`, '{"type":"module"}');
    const result = await promisify(execFile)(process.execPath, [`${dir}/bin/serving-cert.js`, '--version']).catch((error: { code: number; stderr: string }) => error);
    expect(result).toMatchObject({ code: 2, stderr: expect.stringContaining('not built yet: run `npm run build`') });
  });

  it.each([
    [['inspect', '--help'], 'serving-cert inspect secret NAME'],
    [['inspect', 'secret', 'web-tls', '-h'], '--cluster-domain D'],
    [['doctor', '--help'], 'serving-cert doctor --service S'],
    [['manifests', '--help'], 'serving-cert manifests [platform|app]'],
    [['help', 'inspect'], 'serving-cert inspect DIR'],
    [['--help'], 'inspect secret NAME       the validation gate on a Secret'],
    [[], 'usage: serving-cert <command>'],
  ])('%j prints the help on stdout and exits 0', async (args, expected) => {
    const result = await servingCert(args);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(expected);
    expect(result.stdout).toContain('exit codes:');
    expect(result.stdout).not.toContain('kind: ClusterPolicy'); // manifests --help is not the manifests
  });
});

describe('serving-cert with an unreachable cluster or none', () => {
  it('doctor reports the unreachable API server as a failed check, not a raw fetch error, and exits 2', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const kubeconfig = `${dir}/kubeconfig`;
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    await writeFile(kubeconfig, JSON.stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'away',
      clusters: [{ name: 'away', cluster: { server: 'https://127.0.0.1:1' } }], users: [{ name: 'me', user: { token: 'not-a-secret' } }],
      contexts: [{ name: 'away', context: { cluster: 'away', user: 'me', namespace: 'shop' } }] }));
    const text = await servingCert(['doctor', '--service', 'web', '--kubeconfig', kubeconfig]);
    expect(text.code).toBe(2);
    expect(text.stdout).toMatch(/FAIL {2}API server https:\/\/127\.0\.0\.1:1: cannot be reached: ECONNREFUSED/);
    expect(text.stdout).toContain('fix: check the server of the kubeconfig');
    expect(text.stderr).toBe('');
    const json = await servingCert(['doctor', '--service', 'web', '--kubeconfig', kubeconfig, '-o', 'json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, namespace: 'shop', checks: [{ id: 'api-server', status: 'fail', code: 'E_UNREACHABLE' }] });
    const secret = await servingCert(['inspect', 'secret', 'web-tls', '--kubeconfig', kubeconfig, '-o', 'json']);
    expect(secret.code).toBe(2);
    expect(JSON.parse(secret.stdout)).toMatchObject({ error: { code: 'E_UNREACHABLE', message: expect.stringContaining('ECONNREFUSED') } });
    const noContext = await servingCert(['doctor', '--service', 'web', '--kubeconfig', kubeconfig, '--context', 'elsewhere', '-o', 'json']);
    expect(noContext.code).toBe(2);
    expect(JSON.parse(noContext.stdout)).toEqual({ error: { code: 'E_CONFIG', message: '--context elsewhere: the kubeconfig has no such context (it has: away)' } });
  });

  it('doctor reports an API server whose certificate the kubeconfig does not trust as a failed check too', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    // A real TLS server with a certificate from a CA the kubeconfig does not name.
    const leaf = ca.issue({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_request, response) => response.end('{}'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const kubeconfig = `${dir}/kubeconfig`;
    await writeFile(kubeconfig, JSON.stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'untrusted',
      clusters: [{ name: 'untrusted', cluster: { server: `https://127.0.0.1:${(server.address() as AddressInfo).port}` } }],
      users: [{ name: 'me', user: { token: 'not-a-secret' } }], contexts: [{ name: 'untrusted', context: { cluster: 'untrusted', user: 'me' } }] }));
    const result = await servingCert(['doctor', '--service', 'web', '-n', 'shop', '--kubeconfig', kubeconfig, '-o', 'json']);
    expect(result.code).toBe(2);
    const { checks } = JSON.parse(result.stdout) as { checks: Array<{ id: string; code: string; detail: string }> };
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({ id: 'api-server', code: 'E_UNREACHABLE', detail: expect.stringMatching(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER_CERT/) });
  });

  it.each([
    [['doctor', '--service', 'web'], 'E_NO_CLUSTER', /no cluster: not in a pod, and no KUBECONFIG/],
    [['inspect', 'secret', 'web-tls', '--kubeconfig', '/nonexistent/kubeconfig'], 'E_CONFIG', /--kubeconfig \/nonexistent\/kubeconfig: no such file/],
  ])('%j exits 2 with %s', async (args, code, message) => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const env = { KUBECONFIG: `${dir}/none`, HOME: dir, KUBERNETES_SERVICE_HOST: '' };
    const result = await servingCert([...args, '-o', 'json'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code } });
  });
});
