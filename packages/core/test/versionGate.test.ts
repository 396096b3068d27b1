import { describe, expect, it } from 'vitest';
import { ServingCertError } from '../src/errors.js';
import { VersionGate, versionOf } from '../src/live/versionGate.js';
import type { MaterialSource, RawFiles } from '../src/sources/source.js';

/** A source whose bytes the test sets; validation counts its calls and refuses "bad". */
function gateOver(initial: RawFiles) {
  let files = initial;
  const source: MaterialSource = {
    description: 'test source',
    read: () => Promise.resolve({ present: true, files }),
    watch: async () => {},
  };
  let validations = 0;
  const gate = new VersionGate(source, (input) => {
    validations += 1;
    if (input['tls.crt']!.toString() === 'bad') throw new ServingCertError('E_PARSE', 'refused by the test');
    return input['tls.crt']!.toString();
  });
  return { gate, set: (next: RawFiles) => { files = next; }, validations: () => validations };
}

const signal = new AbortController().signal;
const good = (n: number): RawFiles => ({ 'tls.crt': Buffer.from(`good ${n}`), 'tls.key': Buffer.from('key') });
const bad: RawFiles = { 'tls.crt': Buffer.from('bad'), 'tls.key': Buffer.from('key') };

describe('VersionGate', () => {
  it('remembers a first refusal by its content hash, so re-reads do not validate again', async () => {
    const { gate, set, validations } = gateOver(bad);
    const first = await gate.read(signal);
    expect(first).toMatchObject({ outcome: 'refused', known: false, version: versionOf(bad) });
    // Fresh buffers of the same bytes, as a source returns them on each read.
    set({ 'tls.crt': Buffer.from('bad'), 'tls.key': Buffer.from('key') });
    expect(await gate.read(signal)).toMatchObject({ outcome: 'refused', known: true, version: versionOf(bad) });
    expect(validations()).toBe(1);
  });

  it('gives a valid read the content hash of its bytes, and skips the bytes served', async () => {
    const { gate, set, validations } = gateOver(good(1));
    const read = await gate.read(signal);
    if (read.outcome !== 'valid') throw new Error(`expected valid, got ${read.outcome}`);
    expect(read.version).toBe(versionOf(good(1)));
    gate.served(read.files);
    set(good(1));
    expect(await gate.read(signal)).toEqual({ outcome: 'unchanged' });
    set(good(2));
    expect(await gate.read(signal)).toMatchObject({ outcome: 'valid', value: 'good 2', version: versionOf(good(2)) });
    expect(validations()).toBe(2);
  });

  it('remembers a refusal made after the gate (OpenSSL at install) under the valid read\'s version', async () => {
    const { gate, set, validations } = gateOver(good(3));
    const read = await gate.read(signal);
    if (read.outcome !== 'valid') throw new Error(`expected valid, got ${read.outcome}`);
    gate.refuse(read.files, read.version, new ServingCertError('E_KEY_MISMATCH', 'refused at install'));
    set(good(3));
    expect(await gate.read(signal)).toMatchObject({ outcome: 'refused', known: true, error: { code: 'E_KEY_MISMATCH' } });
    expect(validations()).toBe(1);
  });
});
