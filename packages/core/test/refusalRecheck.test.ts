import { afterEach, describe, expect, it } from 'vitest';
import { LiveServingCert, type LiveServingCertOptions } from '../src/live/liveServingCert.js';
import { silentLogger } from '../src/logger.js';
import { CertificateAuthority } from '../src/pki/index.js';
import type { MaterialSource, SourceRead } from '../src/sources/source.js';
import { scriptedSource } from './scriptedSource.js';

const names = ['web'];
const ca = CertificateAuthority.create();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function bundle(leaf: ReturnType<CertificateAuthority['issue']>): SourceRead {
  return { present: true, files: { 'tls.crt': Buffer.from(leaf.certPem), 'tls.key': Buffer.from(leaf.keyPem), 'ca.crt': Buffer.from(leaf.caPem) } };
}

function options(source: MaterialSource, refusalRecheckMs: number): LiveServingCertOptions {
  return {
    servingSource: source, caSource: undefined,
    expectations: { dnsNames: names, clockSkewMs: 0, maxBytes: 65536, description: source.description },
    trustGraceMs: 0, timeoutMs: 10_000, logger: silentLogger, signal: undefined, refusalRecheckMs,
  };
}

async function until(condition: () => boolean, withinMs: number): Promise<boolean> {
  const end = Date.now() + withinMs;
  while (!condition() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 50));
  return condition();
}

describe('a version refused for the clock alone', () => {
  it('is validated again once time may have cured it, without any change from its source', async () => {
    const served = ca.issue({ dnsNames: names });
    const source = scriptedSource(bundle(served));
    const cert = await LiveServingCert.open(options(source, 300));
    cleanups.push(() => cert.close());
    const refused: string[] = [];
    cert.on('error', (error: { code: string }) => refused.push(error.code));
    // cert-manager stamped the renewal with a clock ahead of ours: refused until that moment.
    const early = ca.issue({ dnsNames: names, notBefore: new Date(Date.now() + 1_500) });
    source.next = bundle(early);
    source.changed(); // the one change a Secret watch reports; nothing comes after it
    expect(await until(() => refused.length > 0, 2_000)).toBe(true);
    expect(refused[0]).toBe('E_NOT_YET_VALID');
    expect(cert.current.info.serialNumber).toBe(served.leaf.serialNumber);
    // A liveness bound, far above the 1.5 s until notBefore plus the 0.3 s recheck.
    expect(await until(() => cert.current.info.serialNumber === early.leaf.serialNumber, 6_000)).toBe(true);
  });
});
