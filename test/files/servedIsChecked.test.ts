import { createPrivateKey } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCert } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { recordingLogger, servedSerial, startAttachedHttpsServer, tempDir } from '../helpers/tls.js';

// The gate and OpenSSL must read the same certificate: what is served is exactly what was checked.

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const NAMES = ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local'];
const DAY = 86_400_000;

describe('a crafted tls.crt', () => {
  it('serves the leaf the gate checked, not a certificate OpenSSL alone would have read from the same file', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const ca = CertificateAuthority.create();
    const good = ca.issue({ dnsNames: NAMES });
    // Same key, expired: OpenSSL would accept the pair if it were handed this one.
    const expired = ca.issue({ dnsNames: NAMES, key: createPrivateKey(good.keyPem), notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) });
    // A BEGIN line that does not start its line: the gate's parser takes the block, OpenSSL skips
    // it and would read the next one.
    await writeAtomicVolume(dir, { 'tls.crt': `x${good.certPem}${expired.certPem}`, 'tls.key': good.keyPem, 'ca.crt': good.caPem });
    const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: dir, caDir: `${dir}-none`, logger: recordingLogger() });
    cleanups.push(() => cert.close());
    const server = await startAttachedHttpsServer(cert);
    cleanups.push(server.close);
    expect(cert.current.info.serialNumber).toBe(good.leaf.serialNumber);
    expect(await servedSerial(server.port, ca.certPem)).toBe(good.leaf.serialNumber);
  });
});
