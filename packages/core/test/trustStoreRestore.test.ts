import { describe, expect, it } from 'vitest';
import { decodeRetiredCas, encodeRetiredCas } from '../src/live/trustMemory.js';
import { TrustStore } from '../src/live/trustStore.js';
import { CertificateAuthority } from '../src/pki/index.js';

const DAY = 86_400_000;

describe('the trust store across a restart', () => {
  const oldCa = CertificateAuthority.create({ commonName: 'old root' });
  const newCa = CertificateAuthority.create({ commonName: 'new root' });

  it('lists what retired, and a new store restores it for what is left of its bound', () => {
    const before = new TrustStore(10 * DAY);
    const t0 = new Date('2026-11-01T00:00:00Z');
    before.update('caDir', [oldCa.cert], t0);
    before.update('caDir', [newCa.cert], t0);
    expect(before.state.retired?.map((ca) => ca.subject)).toEqual(['CN=old root']);
    expect(before.state.platform?.map((ca) => ca.subject)).toEqual(['CN=new root']);
    const text = encodeRetiredCas(before.retiredCas());

    const after = new TrustStore(10 * DAY);
    after.update('caDir', [newCa.cert], new Date(t0.getTime() + DAY));
    expect(after.restore(decodeRetiredCas(text, 'test'), new Date(t0.getTime() + DAY))).toBe(true);
    expect(after.state.cas.map((ca) => ca.subject)).toEqual(['CN=new root', 'CN=old root']);
    // The bound counts from the first retirement, not from the restart.
    expect(after.nextChange()?.getTime()).toBe(t0.getTime() + 10 * DAY);
    expect(after.prune(new Date(t0.getTime() + 10 * DAY))).toBe(true);
    expect(after.state.cas.map((ca) => ca.subject)).toEqual(['CN=new root']);
  });

  it('drops a restored CA that is past its bound already, and keeps current a CA an input names', () => {
    const store = new TrustStore(DAY);
    const now = new Date('2026-11-10T00:00:00Z');
    store.update('caDir', [oldCa.cert], now);
    store.restore([{ cert: oldCa.cert, retiredAt: now.getTime() - 5 * DAY }, { cert: newCa.cert, retiredAt: now.getTime() - 5 * DAY }], now);
    expect(store.state.cas.map((ca) => ca.subject)).toEqual(['CN=old root']);
    expect(store.state.retired).toEqual([]);
  });

  it('refuses text that is not its own, naming where it came from', () => {
    expect(() => decodeRetiredCas('{"version":2}', 'ConfigMap shop/web-tls-serving-cert-trust')).toThrow(/ConfigMap shop\/web-tls-serving-cert-trust does not hold serving-cert's trust state/);
    const leaf = oldCa.issue({ dnsNames: ['web'] });
    const notCa = JSON.stringify({ version: 1, retired: [{ retiredAt: new Date().toISOString(), pem: leaf.certPem }] });
    expect(() => decodeRetiredCas(notCa, 'file x')).toThrow(/is not a CA certificate/);
  });

  it('encodes the same set the same way, whatever the order', () => {
    const a = { cert: oldCa.cert, retiredAt: 1 };
    const b = { cert: newCa.cert, retiredAt: 2 };
    expect(encodeRetiredCas([a, b])).toBe(encodeRetiredCas([b, a]));
  });
});
