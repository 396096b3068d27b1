import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ServingCertError } from '../errors.js';
import type { TrustMemoryStore } from './trustMemory.js';

/** The state file's name inside the folder the app gives (`stateDir`). */
export const TRUST_STATE_FILE = 'serving-cert-trust.json';

/** Bigger than any honest state (a few CA certificates); a bigger file is not read. */
const MAX_STATE_BYTES = 256 * 1024;

/**
 * The trust state in `<dir>/serving-cert-trust.json`: written to a temporary file and renamed
 * over the old one, so that a crash mid-write leaves the previous state, never half of one.
 * The folder must survive what it should survive: an emptyDir survives a container restart,
 * not a new pod; a PersistentVolume survives both.
 */
export function trustStateFile(dir: string): TrustMemoryStore {
  const file = path.join(dir, TRUST_STATE_FILE);
  const description = `file ${file}`;
  const ioError = (verb: string, error: unknown) => new ServingCertError('E_IO',
    `cannot ${verb} ${file}: ${(error as Error).message}; give stateDir a folder this process can write`, { cause: error, details: { source: description } });
  return {
    description,
    async load() {
      try {
        const stat = await fs.stat(file);
        if (!stat.isFile() || stat.size > MAX_STATE_BYTES) {
          throw new ServingCertError('E_TOO_LARGE', `${file} is not a regular file under ${MAX_STATE_BYTES} bytes`, { details: { source: description } });
        }
        return await fs.readFile(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error instanceof ServingCertError ? error : ioError('read', error);
      }
    },
    async save(text) {
      const temporary = path.join(dir, `.${TRUST_STATE_FILE}.${randomBytes(4).toString('hex')}.tmp`);
      try {
        await fs.writeFile(temporary, text, { mode: 0o644 });
        await fs.rename(temporary, file);
      } catch (error) {
        await fs.rm(temporary, { force: true });
        throw ioError('write', error);
      }
    },
  };
}
