import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { consoleLogger, ensureServingCert, type Logger } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { nextEvent, tempDir, WEB_NAMES } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const ca = CertificateAuthority.create();
const payloadOf = (leaf: { certPem: string; keyPem: string; caPem: string }) => ({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });

/** Every JSON line a pino destination received. */
function capture(): { stream: Writable; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { stream, records };
}

/** A start, a rotation and a refusal, logged through `logger`. */
async function startRotateRefuse(logger: Logger) {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  const first = ca.issue({ dnsNames: WEB_NAMES });
  await writeAtomicVolume(dir, payloadOf(first));
  const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop', certDir: dir, caDir: `${dir}/ca`, logger });
  cleanups.push(() => cert.close());
  const second = ca.issue({ dnsNames: WEB_NAMES });
  const rotated = nextEvent(cert, 'rotate');
  await writeAtomicVolume(dir, payloadOf(second));
  await rotated;
  await writeAtomicVolume(dir, { ...payloadOf(second), 'tls.key': ca.issue().keyPem }); // a key of another pair
  return { dir, first, second };
}

describe("logging in pino's convention", () => {
  it('a real pino logger receives serial, notAfter, source and code as fields, and no key material', async () => {
    const { stream, records } = capture();
    const { dir, first, second } = await startRotateRefuse(pino({ level: 'debug' }, stream));
    await expect.poll(() => records.some((record) => record.code === 'E_KEY_MISMATCH'), { timeout: 5_000 }).toBe(true);
    const loaded = records.find((record) => String(record.msg).endsWith('serving certificate loaded'))!;
    expect(loaded).toMatchObject({ level: 30, source: `files ${dir}`, serial: first.leaf.serialNumber, notAfter: new Date(first.leaf.validTo).toISOString() });
    const rotated = records.find((record) => String(record.msg).endsWith('serving certificate rotated'))!;
    expect(rotated).toMatchObject({ serial: second.leaf.serialNumber, previousSerial: first.leaf.serialNumber });
    const refused = records.find((record) => record.code === 'E_KEY_MISMATCH')!;
    expect(refused).toMatchObject({ level: 50, serial: second.leaf.serialNumber, source: `files ${dir}` });
    expect(String(refused.msg)).toContain('does not belong to tls.crt');
    const everything = JSON.stringify(records);
    for (const leaf of [first, second]) expect(everything).not.toContain(leaf.keyPem.split('\n')[1]);
  });

  it("Fastify's own logger (app.log) passes as is", async () => {
    const { stream, records } = capture();
    const app = Fastify({ loggerInstance: pino(stream) });
    cleanups.push(() => app.close());
    const { first } = await startRotateRefuse(app.log);
    await expect.poll(() => records.some((record) => record.code === 'E_KEY_MISMATCH'), { timeout: 5_000 }).toBe(true);
    expect(records.find((record) => String(record.msg).endsWith('serving certificate loaded'))).toMatchObject({ serial: first.leaf.serialNumber });
  });

  it('the console default writes one line per message, or JSON lines like pino', () => {
    const lines: string[] = [];
    consoleLogger('info', 'text', (line) => lines.push(line)).info({ serial: '0A' }, 'loaded');
    consoleLogger('info', 'text', (line) => lines.push(line)).debug('hidden below the threshold');
    consoleLogger('debug', 'json', (line) => lines.push(line)).warn('plain message');
    expect(lines[0]).toBe('[serving-cert] info loaded {"serial":"0A"}\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 'warn', name: 'serving-cert', msg: 'plain message' });
  });
});
