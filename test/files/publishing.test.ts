// What the repository promises about its packages and scripts, checked on the files themselves
// (the tarballs are checked by scripts/check-packages.mjs in CI, and by cluster/packedTestkit.test.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const repository = new URL('../../', import.meta.url);
const read = (file: string): string => readFileSync(new URL(file, repository), 'utf8');
const json = (file: string): Record<string, unknown> => JSON.parse(read(file)) as Record<string, unknown>;

describe('root scripts', () => {
  it('turn turbo\'s telemetry off wherever they run turbo (no notice in npm run demo, build, test, lint)', () => {
    const scripts = json('package.json').scripts as Record<string, string>;
    const withTurbo = Object.entries(scripts).filter(([, command]) => /\bturbo\b/.test(command));
    expect(withTurbo.map(([name]) => name)).toEqual(expect.arrayContaining(['build', 'test', 'lint', 'demo', 'bench']));
    for (const [name, command] of withTurbo) {
      // Every turbo in the command, not only the first: `a && turbo ...` would print the notice.
      for (const part of command.split(/&&|\|\||;/).filter((segment) => /\bturbo\b/.test(segment))) {
        expect(part.trim(), `script "${name}"`).toMatch(/^TURBO_TELEMETRY_DISABLED=1 turbo /);
      }
    }
  });
});

describe('published packages', () => {
  const published = ['core', 'express-adapter', 'fastify-adapter', 'testkit'];

  it('are exactly the workspaces that are not private', () => {
    const workspaces = json('package.json').workspaces as string[];
    const notPrivate = workspaces.filter((workspace) => json(`${workspace}/package.json`).private !== true);
    expect(notPrivate.sort()).toEqual(published.map((dir) => `packages/${dir}`).sort());
  });

  it.each(published)('%s has the Apache-2.0 LICENSE, a README, links, public provenance publishing and build output without declaration maps', (dir) => {
    const pkg = json(`packages/${dir}/package.json`);
    expect(read(`packages/${dir}/LICENSE`)).toBe(read('LICENSE'));
    expect(read('LICENSE')).toMatch(/^\s+Apache License\s+Version 2\.0, January 2004/);
    expect(read(`packages/${dir}/README.md`)).toMatch(new RegExp(`^# ${String(pkg.name).replace('/', '\\/')}\\n`));
    expect(pkg).toMatchObject({
      license: 'Apache-2.0',
      repository: { type: 'git', directory: `packages/${dir}` },
      homepage: expect.stringContaining(`/packages/${dir}#readme`),
      bugs: { url: expect.stringMatching(/\/issues$/) },
      publishConfig: { access: 'public', provenance: true },
    });
    const build = JSON.parse(read(`packages/${dir}/tsconfig.build.json`)) as { compilerOptions: Record<string, unknown> };
    expect(build.compilerOptions).toMatchObject({ inlineSources: true, declarationMap: false });
    expect((pkg.scripts as Record<string, string>).build).toMatch(/^rm -rf dist && /);
  });
});
