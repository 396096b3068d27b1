import * as fs from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { recordingLogger, rejection, tempDir, WEB_NAMES } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** What a user's key looks like inside a kubeconfig: the bytes that must never reach a message. */
const KEY_DATA = Buffer.from('-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIDxsecretkeymaterial\n-----END EC PRIVATE KEY-----\n').toString('base64');

/** A ~/.kube/config that is not YAML: a tab-indented mapping with the key right at the fault. */
async function brokenKubeconfig(): Promise<string> {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  const file = `${dir}/config`;
  await fs.writeFile(file, `apiVersion: v1\nusers:\n- name: me\n  user:\n\tclient-key-data: ${KEY_DATA}\n  : : [unclosed\n`);
  return file;
}

async function withKubeconfig<T>(file: string, run: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  process.env.KUBECONFIG = file;
  delete process.env.KUBERNETES_SERVICE_HOST;
  try {
    return await run();
  } finally {
    process.env = saved;
  }
}

describe('a broken kubeconfig', () => {
  it('does not affect a files start that does not annotate: nothing there needs a cluster', async () => {
    const file = await brokenKubeconfig();
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const leaf = CertificateAuthority.create().issue({ dnsNames: WEB_NAMES });
    await writeAtomicVolume(`${dir}/certs`, { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
    const cert = await withKubeconfig(file, () => ensureServingCert({
      source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: `${dir}/certs`, caDir: `${dir}/ca`, logger: recordingLogger(),
    }));
    cleanups.push(() => cert.close());
    expect(cert.current.info.serialNumber).toBe(leaf.leaf.serialNumber);
  });

  it('fails the api source with E_CONFIG naming the file and line, and quotes none of its key data', async () => {
    const file = await brokenKubeconfig();
    const error = await withKubeconfig(file, () => rejection(ensureServingCert({ source: 'api', serviceName: 'web', namespace: 'shop', logger: recordingLogger() })));
    expect(error.code).toBe('E_CONFIG');
    expect(error.message).toMatch(new RegExp(`the kubeconfig \\(${file}\\) does not parse at line \\d+`));
    const everything = JSON.stringify({ message: error.message, details: error.details, stack: error.stack, cause: String(error.cause) });
    expect(everything).not.toContain(KEY_DATA.slice(0, 24));
    expect(everything).not.toContain('secretkeymaterial');
  });
});
