import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ServingCertError } from '../src/errors.js';
import { renewOnRollover } from '../src/kube/rolloverRenewer.js';
import type { ClusterAccess } from '../src/kube/clusterAccess.js';
import { CertificateAuthority } from '../src/pki/index.js';
import type { ServingCert, TrustState } from '../src/types.js';
import { certInfoOf } from '../src/x509/certInfo.js';
import { recordingLogger } from './recordingLogger.js';

const NAMES = ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local'];

/** A handle of another make: what the renewer reads (current, trust) and the events it follows. */
class Handle extends EventEmitter {
  leafPem = '';
  trustState: TrustState = { cas: [], pem: '' };
  closed = false;
  get current() {
    if (this.closed) throw new ServingCertError('E_CLOSED', 'closed');
    return { certPem: this.leafPem };
  }
  get trust() {
    if (this.closed) throw new ServingCertError('E_CLOSED', 'closed');
    return this.trustState;
  }
  serve(ca: CertificateAuthority) {
    this.leafPem = ca.issue({ dnsNames: NAMES }).certPem;
    this.emit('rotate');
  }
  platform(...cas: CertificateAuthority[]) {
    const infos = cas.map((ca) => certInfoOf(ca.cert));
    this.trustState = { cas: infos, pem: cas.map((ca) => ca.certPem).join(''), platform: infos };
    this.emit('trust');
  }
}

function setup(windowMs: number, answer: () => Promise<{ certificate: string; requested: boolean }> = () => Promise.resolve({ certificate: 'web-cert', requested: true })) {
  const handle = new Handle();
  const oldCa = CertificateAuthority.create({ commonName: 'old root' });
  const newCa = CertificateAuthority.create({ commonName: 'new root' });
  handle.serve(oldCa);
  handle.platform(oldCa);
  const logger = recordingLogger();
  let requests = 0;
  const stop = renewOnRollover(handle as unknown as ServingCert, {
    access: {} as ClusterAccess, namespace: 'shop', secretName: 'web-tls', serviceName: 'web', windowMs, logger,
    request: () => { requests += 1; return answer(); },
  });
  return { handle, oldCa, newCa, logger, requests: () => requests, stop };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('renewOnRollover asks for a re-issue once, within the window, only for a stale leaf', () => {
  it('asks nothing while the leaf is signed by the platform CA', async () => {
    const { requests, stop } = setup(0);
    await sleep(30);
    expect(requests()).toBe(0);
    stop();
  });

  it('asks once after the platform CA changes, at a moment within the window, however many trust events follow', async () => {
    const { handle, newCa, logger, requests, stop } = setup(200);
    handle.platform(newCa);
    handle.platform(newCa, CertificateAuthority.create({ commonName: 'yet another root' })); // more trust events, the same stale leaf
    const planned = logger.lines.filter((line) => line.message.includes('asking cert-manager to re-issue it in'));
    expect(planned).toHaveLength(1);
    expect(planned[0]!.fields.delayMs).toBeGreaterThanOrEqual(0);
    expect(planned[0]!.fields.delayMs).toBeLessThan(200);
    await expect.poll(requests, { timeout: 3_000, interval: 10 }).toBe(1); // its moment is < 200 ms away; timers slip under load
    await expect.poll(() => logger.lines.some((line) => line.message.startsWith('asked cert-manager to re-issue Certificate shop/web-cert')), { timeout: 3_000 }).toBe(true);
    handle.platform(newCa);
    await sleep(250);
    expect(requests()).toBe(1);
    stop();
  });

  it('does not ask when the leaf moved to the new CA before its moment came', async () => {
    const { handle, newCa, requests, stop } = setup(10_000);
    handle.platform(newCa);
    handle.serve(newCa); // renewed on its own meanwhile
    await sleep(30);
    expect(requests()).toBe(0);
    stop();
  });

  it('a refusal is one warning that carries the reason; nothing is retried for that leaf', async () => {
    const refusal = new ServingCertError('E_FORBIDDEN', 'the Kubernetes API denied patch ... Add the optional Role serving-cert-renew of deploy/app-rbac.yaml');
    const { handle, newCa, logger, requests, stop } = setup(0, () => Promise.reject(refusal));
    handle.platform(newCa);
    await sleep(30);
    handle.platform(newCa, CertificateAuthority.create({ commonName: 'another' }));
    await sleep(30);
    expect(requests()).toBe(1);
    const warnings = logger.lines.filter((line) => line.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain('serving-cert-renew');
    expect(warnings[0]!.message).toContain('Nothing else changes: the retired CA stays trusted');
    stop();
  });

  it('stops by itself once the handle is closed', async () => {
    const { handle, newCa, requests } = setup(20);
    handle.platform(newCa);
    handle.closed = true;
    await sleep(60);
    expect(requests()).toBe(0);
  });
});
