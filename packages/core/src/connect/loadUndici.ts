import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);
let undici: typeof Undici | undefined;

/**
 * undici, loaded on first use: about 110 modules that a service which never makes a dispatcher
 * should not pay for at import. Synchronous (undici is CommonJS), so createMtlsDispatcher and
 * installGlobalTrust stay synchronous; the instance is the one `import 'undici'` gives.
 */
export function loadUndici(): typeof Undici {
  undici ??= require('undici') as typeof Undici;
  return undici;
}
