#!/usr/bin/env node
// The setup command of @serving-cert/testkit (its source: src/setup/main.ts). A committed file,
// so that npm links the command in a checkout before dist/ is built.
import { existsSync } from 'node:fs';

const main = new URL('../dist/setup/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('serving-cert-envtest: @serving-cert/testkit is not built (no dist/): in its repository, run `npm run build` first\n');
  process.exit(1);
}
await import(main.href);
