// Import time: a cold `import('@serving-cert/core')` plus a files-source start, beside a bare
// `import('node:tls')`, each in fresh processes (alternated, so that both see the same machine).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { writeAtomicVolume } from '@serving-cert/testkit';
import { median, type Row } from './lib/stats.js';

const BENCH_DIR = new URL('.', import.meta.url);

/** The child's script: times what it imports and starts, from its own clock. */
const script = (body: string) => `const t0 = performance.now();\nlet importMs;\n${body}\nconsole.log(JSON.stringify({ bootMs: t0, ms: performance.now() - t0, importMs, loaded: globalThis.loaded }));`;

const TLS = script(`await import('node:tls');`);
const core = (certDir: string, caDir: string) => script(`
const { ensureServingCert, silentLogger } = await import('@serving-cert/core');
importMs = performance.now() - t0;
const cert = await ensureServingCert({ source: 'files', annotate: false, serviceName: 'web', namespace: 'shop',
  certDir: ${JSON.stringify(certDir)}, caDir: ${JSON.stringify(caDir)}, logger: silentLogger });
await cert.close();`);

/**
 * A module hook that records every URL resolved, for one extra run that says which of the heavy
 * dependencies (node-forge, undici, client-node) a files-only service loads. Not in the timed runs.
 */
const RECORD_LOADS = `
import { register } from 'node:module';
const { port1, port2 } = new MessageChannel();
globalThis.loaded = new Set();
port1.on('message', (url) => globalThis.loaded.add(url));
port1.unref();
register('data:text/javascript,' + encodeURIComponent(
  'let port; export function initialize(data) { port = data.port; }' +
  'export async function resolve(specifier, context, next) { const result = await next(specifier, context); port.postMessage(result.url); return result; }'),
  { data: { port: port2 }, transferList: [port2] });
`;

interface ChildResult { bootMs: number; ms: number; importMs?: number; wallMs: number; loaded?: string[] }

async function run(code: string): Promise<ChildResult> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: BENCH_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code_ = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const wallMs = performance.now() - started;
  if (code_ !== 0) throw new Error(`import-time child exited with ${code_}: ${out}`);
  return { ...(JSON.parse(out) as Omit<ChildResult, 'wallMs'>), wallMs };
}

/** Rows: in-process time of import + start, and whole-process time, against node:tls; median of `runs` each. */
export async function importTime(runs: number): Promise<Row[]> {
  const ca = CertificateAuthority.create();
  const base = await fs.stat('/dev/shm').then(() => '/dev/shm', () => os.tmpdir());
  const dir = await fs.mkdtemp(path.join(base, 'serving-cert-import-'));
  try {
    const leaf = ca.issue({ dnsNames: ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local'] });
    await writeAtomicVolume(path.join(dir, 'certs'), { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
    await writeAtomicVolume(path.join(dir, 'ca'), { 'ca.crt': ca.certPem });
    const coreScript = core(path.join(dir, 'certs'), path.join(dir, 'ca'));
    const tls: ChildResult[] = [];
    const ours: ChildResult[] = [];
    for (let index = 0; index < runs; index += 1) {
      tls.push(await run(TLS));
      ours.push(await run(coreScript));
    }
    const traced = await run(coreScript.replace('const t0', `${RECORD_LOADS}\nconst t0`).replace('loaded: globalThis.loaded', 'loaded: [...globalThis.loaded]'));
    const heavy = ['node-forge', 'undici', '@kubernetes/client-node'];
    const loaded = Object.fromEntries(heavy.map((name) => [name, (traced.loaded ?? []).some((url) => url.includes(`/node_modules/${name}/`))]));
    const ms = (results: ChildResult[]) => median(results.map((result) => result.ms));
    const wall = (results: ChildResult[]) => median(results.map((result) => result.wallMs));
    return [
      {
        name: `import: import('@serving-cert/core') + files-source start, in process, median (${runs} fresh processes)`, unit: 'ms', value: ms(ours),
        baselineName: "import('node:tls')", baseline: ms(tls), ratio: ms(ours) / ms(tls), target: 'informative (lower is better)', met: true,
        detail: { samples: ours.map((result) => result.ms), importOnlyMedianMs: median(ours.map((result) => result.importMs ?? Number.NaN)), baselineSamples: tls.map((result) => result.ms), heavyModulesLoaded: loaded, modulesResolved: traced.loaded?.length },
      },
      {
        name: `import: the same, whole process from spawn to exit, median (${runs} fresh processes)`, unit: 'ms', value: wall(ours),
        baselineName: "node -e import('node:tls')", baseline: wall(tls), ratio: wall(ours) / wall(tls), target: 'informative (lower is better)', met: true,
        detail: { samples: ours.map((result) => result.wallMs), baselineSamples: tls.map((result) => result.wallMs), nodeBootMs: median(tls.map((result) => result.bootMs)) },
      },
    ];
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
