import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../src/', import.meta.url));
const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));

// Size hid bugs once (a 484-line handle): keep each module small enough to read in one sitting.
describe('the layout of core stays readable', () => {
  it.each(files)('%s has at most 250 lines', (file) => {
    expect(readFileSync(path.join(src, file), 'utf8').trimEnd().split('\n').length).toBeLessThanOrEqual(250);
  });

  it('ensureServingCert itself is a short wiring of the stages (under 60 lines)', () => {
    const text = readFileSync(path.join(src, 'ensureServingCert.ts'), 'utf8');
    const body = text.slice(text.indexOf('export async function ensureServingCert('));
    expect(body.slice(0, body.indexOf('\n}\n') + 2).split('\n').length).toBeLessThan(60);
  });
});
