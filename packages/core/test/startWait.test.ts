import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LiveServingCert } from '../src/live/liveServingCert.js';
import { CertificateAuthority } from '../src/pki/index.js';
import { filesSource } from '../src/sources/files/filesSource.js';
import { recordingLogger } from './recordingLogger.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

describe('a start that waits', () => {
  it('says what it waits for at each progress interval, with the diagnosis when it takes long', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'start-wait-'));
    dirs.push(dir);
    const logger = recordingLogger();
    let diagnoses = 0;
    const opening = LiveServingCert.open({
      servingSource: filesSource({ dir, keys: ['tls.crt', 'tls.key'], requiredKeys: ['tls.crt', 'tls.key'], maxBytes: 65536, pollIntervalMs: 60_000, logger }),
      caSource: undefined,
      expectations: { dnsNames: ['web'], clockSkewMs: 0, maxBytes: 65536, description: `files ${dir}` },
      trustGraceMs: 0, timeoutMs: 10_000, logger, signal: undefined,
      diagnose: () => Promise.resolve(`the Certificate says Pending (${++diagnoses})`),
      progressIntervalMs: 100, diagnosisIntervalMs: 300,
    });
    await new Promise((resolve) => setTimeout(resolve, 700));
    const leaf = CertificateAuthority.create().issue({ dnsNames: ['web'] });
    await fs.writeFile(path.join(dir, 'tls.key'), leaf.keyPem);
    await fs.writeFile(path.join(dir, 'tls.crt'), leaf.certPem);
    const live = await opening;
    await live.close();
    const waiting = logger.lines.map((line) => line.message).filter((line) => line.startsWith(`waiting for a valid serving certificate: files ${dir}: ${dir} holds no tls.crt or tls.key yet`));
    expect(waiting.length).toBeGreaterThanOrEqual(4);
    expect(waiting.filter((line) => line.includes('. the Certificate says Pending')).length).toBeGreaterThanOrEqual(1);
    expect(diagnoses).toBeLessThan(waiting.length); // the diagnosis comes less often than the progress line
  });
});
