import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const READMES = ['README.md', 'packages/core/README.md', 'packages/express-adapter/README.md', 'packages/fastify-adapter/README.md', 'packages/testkit/README.md'];
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** The ```ts blocks of a Markdown file, each with the line it starts on. */
function tsBlocks(markdown: string): Array<{ line: number; code: string }> {
  const blocks: Array<{ line: number; code: string }> = [];
  const pattern = /^```ts\n([\s\S]*?)^```$/gm;
  for (let match = pattern.exec(markdown); match; match = pattern.exec(markdown)) {
    blocks.push({ line: markdown.slice(0, match.index).split('\n').length + 1, code: match[1]! });
  }
  return blocks;
}

/** The @types/node of each Node line users run: the repository's (20), and 22 and 24 as npm aliases. */
const NODE_TYPES = [['20', '@types/node'], ['22', '@types/node22'], ['24', '@types/node24']] as const;

describe("the READMEs' TypeScript examples", () => {
  it.each(NODE_TYPES)('type-check, each as a module of its own, against the packages and @types/node of Node %s', async (_line, typesPackage) => {
    // Inside the repository, so that @serving-cert/* and express resolve as they do for users.
    const dir = await mkdtemp(path.join(root, 'test', '.readme-examples-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // typeRoots holds one "node": every `types: ['node']` and `/// <reference types="node" />`
    // (in our .d.ts files and undici's) then means this line's @types/node.
    await mkdir(path.join(dir, 'types'));
    await symlink(path.join(root, 'node_modules', typesPackage), path.join(dir, 'types', 'node'), 'dir');
    const files: string[] = [];
    for (const readme of READMES) {
      const blocks = tsBlocks(await readFile(path.join(root, readme), 'utf8'));
      expect(blocks.length, readme).toBeGreaterThan(0);
      for (const { line, code } of blocks) {
        const file = `${readme.replaceAll(/[/.]/g, '_')}_line${line}.mts`;
        await writeFile(path.join(dir, file), `${code}\nexport {};\n`);
        files.push(file);
      }
    }
    await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', types: ['node'], typeRoots: ['./types'], skipLibCheck: true },
      files,
    }));
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const output = await new Promise<string>((resolve) => {
      execFile(process.execPath, [tsc, '-p', dir], { timeout: 120_000 }, (_error, stdout, stderr) => resolve(`${stdout}${stderr}`));
    });
    // tsc names the README and the line of each block in the file name: that is what to fix.
    expect(output).toBe('');
    expect(files.length).toBeGreaterThanOrEqual(6);
  });
});
