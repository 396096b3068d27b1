#!/usr/bin/env node
// Packs the published packages (every workspace that is not private) into a folder, as
// `npm publish` would pack them, and prints {"@serving-cert/core": "/abs/path.tgz", ...} on stdout.
// The packages must be built (npm run build): npm pack ships dist/ as it is.
//
//   node scripts/pack-published.mjs DEST
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const root = fileURLToPath(new URL('..', import.meta.url));

/** The workspaces that npm would publish: { name, dir } for each that is not private. */
export function publishedWorkspaces() {
  const { workspaces } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  return workspaces
    .map((dir) => ({ dir: path.join(root, dir), pkg: JSON.parse(readFileSync(path.join(root, dir, 'package.json'), 'utf8')) }))
    .filter(({ pkg }) => !pkg.private)
    .map(({ dir, pkg }) => ({ name: pkg.name, dir }));
}

/** Packs each published workspace into dest; resolves to { name: tarball path }. */
export async function packPublished(dest) {
  mkdirSync(dest, { recursive: true });
  const tarballs = {};
  for (const { name, dir } of publishedWorkspaces()) {
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dest], { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
    const [packed] = JSON.parse(stdout);
    tarballs[name] = path.join(dest, packed.filename);
  }
  return tarballs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dest = process.argv[2];
  if (!dest) {
    process.stderr.write('usage: node scripts/pack-published.mjs DEST\n');
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(await packPublished(path.resolve(dest)))}\n`);
}
