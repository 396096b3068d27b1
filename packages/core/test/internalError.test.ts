import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isServingCertError, type ServingCertError } from '../src/errors.js';
import { LiveServingCert, type LiveServingCertOptions } from '../src/live/liveServingCert.js';
import type { Logger } from '../src/logger.js';
import { CertificateAuthority } from '../src/pki/index.js';
import type { MaterialSource, SourceRead } from '../src/sources/source.js';
import { scriptedSource, type ScriptedSource } from './scriptedSource.js';
import { recordingLogger, type LoggedLine } from './recordingLogger.js';

const names = ['web'];
const ca = CertificateAuthority.create();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/**
 * A source whose next read hands the gate something that is not bytes: the kind of bug (ours,
 * or a custom source's) that throws a TypeError or RangeError inside the gate.
 */
function sourceWithABug(): ScriptedSource {
  return scriptedSource({ present: false, reason: 'nothing yet' });
}
const notBytes: SourceRead = { present: true, files: { 'tls.crt': 42 as unknown as Buffer, 'tls.key': Buffer.from('x') } };

function recording(): Logger & { readonly errors: LoggedLine[] } {
  const logger = recordingLogger();
  // defineProperty, not Object.assign: assign would read the getter once, when the logger is empty.
  return Object.defineProperty(logger, 'errors', { get: () => logger.lines.filter((line) => line.level === 'error') }) as unknown as Logger & { readonly errors: LoggedLine[] };
}

function options(source: MaterialSource, logger: Logger): LiveServingCertOptions {
  return {
    servingSource: source, caSource: undefined,
    expectations: { dnsNames: names, clockSkewMs: 0, maxBytes: 65536, description: source.description },
    // Far longer than the test's own timeout: only failing at once can pass.
    trustGraceMs: 0, timeoutMs: 10 * 60_000, logger, signal: undefined,
  };
}

describe('an unexpected exception in the gate', () => {
  it('fails a start at once with E_INTERNAL, not as bad material, and logs the stack', async () => {
    const source = sourceWithABug();
    source.next = notBytes;
    const logger = recording();
    const error = await LiveServingCert.open(options(source, logger)).then(() => undefined, (caught: unknown) => caught);
    expect(isServingCertError(error, 'E_INTERNAL')).toBe(true);
    expect((error as ServingCertError).message).toMatch(/^test source: an internal error in serving-cert, not a problem of the certificate \((TypeError|RangeError)\b/);
    expect(logger.errors).toHaveLength(1);
    // The version's content hash meets the number first (a TypeError); the gate itself would throw a RangeError.
    expect(String(logger.errors[0]!.fields.stack)).toMatch(/TypeError|RangeError/);
    expect(logger.errors[0]!.fields.code).toBe('E_INTERNAL');
  }, 20_000);

  it('after the start, is an E_INTERNAL error event while the last good certificate keeps serving', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'internal-error-'));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const source = sourceWithABug();
    const good = ca.issue({ dnsNames: names });
    source.next = { present: true, files: { 'tls.crt': Buffer.from(good.certPem), 'tls.key': Buffer.from(good.keyPem) } };
    const live = await LiveServingCert.open(options(source, recording()));
    cleanups.push(() => live.close());
    const refused = new Promise<ServingCertError>((resolve) => live.once('error', resolve));
    source.next = notBytes;
    source.changed();
    const error = await refused;
    expect(error.code).toBe('E_INTERNAL');
    expect(live.current.info.serialNumber).toBe(good.leaf.serialNumber);
  });
});
