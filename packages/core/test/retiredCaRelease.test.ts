import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeafHolds, MAX_TRACKED_PEERS, UNKNOWN_CA } from '../src/live/leafHolds.js';
import { decodeRetiredCas, TrustMemory } from '../src/live/trustMemory.js';
import { trustStateFile, TRUST_STATE_FILE } from '../src/live/trustStateFile.js';
import { TrustStore } from '../src/live/trustStore.js';
import { CertificateAuthority } from '../src/pki/index.js';
import { recordingLogger } from './recordingLogger.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
const HOLD = 6 * MINUTE;

const oldCa = CertificateAuthority.create({ commonName: 'old root' });
const newCa = CertificateAuthority.create({ commonName: 'new root' });
const leafOf = (ca: CertificateAuthority, service: string) => ca.issue({ dnsNames: [`${service}.shop.svc`, `${service}.shop.svc.cluster.local`] }).leaf;

/** A store after a rollover at t0: the own leaf and peers a, b seen on the old CA, then the platform CA replaced. */
function rolledOver(t0: Date, logger = recordingLogger()) {
  let holdsChanged = 0;
  const store = new TrustStore(90 * DAY, { minHoldMs: HOLD, logger, onHoldsChanged: () => holdsChanged++ });
  store.update('caDir', [oldCa.cert], t0);
  store.update('secret', [oldCa.cert], t0, leafOf(oldCa, 'web'));
  store.observePeer(leafOf(oldCa, 'a'));
  store.observePeer(leafOf(oldCa, 'b'));
  store.update('caDir', [newCa.cert], t0);
  return { store, logger, holdsChanged: () => holdsChanged };
}
const subjects = (store: TrustStore) => store.state.cas.map((ca) => ca.subject);
const at = (t0: Date, ms: number) => new Date(t0.getTime() + ms);

describe('releasing a retired CA before its bound', () => {
  const t0 = new Date('2026-11-01T00:00:00Z');

  it('releases it once the own leaf and every peer seen on it moved and the minimum hold passed, and says why', () => {
    const { store, logger } = rolledOver(t0);
    store.update('secret', [newCa.cert], t0, leafOf(newCa, 'web'));
    store.observePeer(leafOf(newCa, 'a'));
    store.observePeer(leafOf(newCa, 'b'));
    expect(store.prune(at(t0, HOLD - 1))).toBe(false);
    expect(store.nextChange()?.getTime()).toBe(t0.getTime() + HOLD);
    expect(store.prune(at(t0, HOLD))).toBe(true);
    expect(subjects(store)).toEqual(['CN=new root']);
    const line = logger.lines.find((entry) => entry.message.startsWith('released the retired CA CN=old root before its bound'));
    expect(line?.level).toBe('info');
    expect(line?.fields).toMatchObject({ ca: oldCa.cert.fingerprint256, minHoldMs: HOLD });
  });

  it('keeps it while the own leaf is signed by it', () => {
    const { store } = rolledOver(t0);
    // A Secret without ca.crt: nothing names the old CA, but this service still serves its leaf.
    store.update('secret', [], t0, leafOf(oldCa, 'web'));
    expect(store.state.retired?.map((ca) => ca.subject)).toEqual(['CN=old root']);
    store.observePeer(leafOf(newCa, 'a'));
    store.observePeer(leafOf(newCa, 'b'));
    expect(store.prune(at(t0, HOLD * 10))).toBe(false);
    expect(subjects(store)).toEqual(['CN=new root', 'CN=old root']);
    expect(store.nextChange()?.getTime()).toBe(t0.getTime() + 90 * DAY); // only its bound is left
  });

  it('keeps it while one peer last seen on it has not moved, and releases it when that peer moves', () => {
    const { store, holdsChanged } = rolledOver(t0);
    store.update('secret', [newCa.cert], t0, leafOf(newCa, 'web'));
    store.observePeer(leafOf(newCa, 'a'));
    expect(store.prune(at(t0, HOLD * 10))).toBe(false);
    expect(subjects(store)).toContain('CN=old root');
    expect(store.retiredCas()[0]?.hold).toEqual({ pending: ['b.shop'], untilBound: false });
    const before = holdsChanged();
    store.observePeer(leafOf(newCa, 'b'));
    expect(holdsChanged()).toBe(before + 1); // told: a release is now due
    expect(store.nextChange()?.getTime()).toBe(t0.getTime() + HOLD); // already past: the pruner fires at once
    expect(store.prune(at(t0, HOLD * 10))).toBe(true);
    expect(subjects(store)).toEqual(['CN=new root']);
  });

  it('keeps it until the minimum hold is over even when everything moved at once', () => {
    const { store } = rolledOver(t0);
    store.update('secret', [newCa.cert], t0, leafOf(newCa, 'web'));
    store.observePeer(leafOf(newCa, 'a'));
    store.observePeer(leafOf(newCa, 'b'));
    expect(store.prune(at(t0, MINUTE))).toBe(false);
    expect(subjects(store)).toContain('CN=old root');
  });

  it('a peer seen on the old CA after the rollover holds it too, and the same leaf seen again changes nothing', () => {
    const { store, holdsChanged } = rolledOver(t0);
    store.update('secret', [newCa.cert], t0, leafOf(newCa, 'web'));
    store.observePeer(leafOf(newCa, 'a'));
    store.observePeer(leafOf(newCa, 'b'));
    const late = leafOf(oldCa, 'late');
    store.observePeer(late);
    const count = holdsChanged();
    store.observePeer(late);
    expect(holdsChanged()).toBe(count);
    expect(store.prune(at(t0, HOLD * 10))).toBe(false);
    expect(store.retiredCas()[0]?.hold?.pending).toEqual(['late.shop']);
  });

  it('without early release (no minimum hold given) keeps it until its bound, and remembers it so', () => {
    const store = new TrustStore(90 * DAY);
    store.update('caDir', [oldCa.cert], t0);
    store.update('caDir', [newCa.cert], t0, leafOf(newCa, 'web'));
    expect(store.prune(at(t0, 30 * DAY))).toBe(false);
    expect(store.retiredCas()[0]?.hold).toEqual({ pending: [], untilBound: true });
  });

  it('past the cap of followed peers, stops following new ones and holds every retired CA to its bound', () => {
    const holds = new LeafHolds();
    for (let index = 0; index < MAX_TRACKED_PEERS; index++) expect(holds.seen(`p${index}.shop`, `leaf${index}`, 'new')).toBe(true);
    expect(holds.untilBound('old')).toBe(false);
    expect(holds.seen('one-too-many.shop', 'leaf', 'old')).toBe(true); // told once: the holds changed
    expect(holds.seen('another.shop', 'leaf', 'old')).toBe(false);
    expect(holds.overflowed).toBe(true);
    expect(holds.caOf('one-too-many.shop')).toBeUndefined();
    expect(holds.untilBound('old')).toBe(true);
    expect(holds.holdOf('old')).toEqual({ pending: [], untilBound: true });
    // A followed peer still moves.
    expect(holds.seen('p1.shop', 'leaf-b', 'old')).toBe(true);
    expect(holds.caOf('p1.shop')).toBe('old');
  });

  it('counts the peers on each CA as it lists them; a leaf of an unknown signer holds every retired CA', () => {
    const holds = new LeafHolds();
    holds.seen('a.shop', 'a1', 'old');
    holds.seen('b.shop', 'b1', 'old');
    holds.seen('a.shop', 'a2', 'new');
    expect([holds.pendingCount('old'), holds.pendingOn('old')]).toEqual([1, ['b.shop']]);
    holds.seen('c.shop', 'c1', UNKNOWN_CA);
    expect([holds.pendingCount('old'), holds.pendingOn('old')]).toEqual([2, ['b.shop', 'c.shop']]);
    expect([holds.pendingCount('other'), holds.pendingOn('other')]).toEqual([1, ['c.shop']]);
    holds.seen('b.shop', 'b2', 'new');
    holds.seen('c.shop', 'c2', 'new');
    expect([holds.pendingCount('old'), holds.pendingOn('old')]).toEqual([0, []]);
  });
});

describe('the holds of retired CAs across a restart, through the state file', () => {
  const t0 = new Date('2026-11-01T00:00:00Z');
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'serving-cert-holds-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** The state file, counting the writes that reach it. */
  function countedFile() {
    const file = trustStateFile(dir);
    const counted = { ...file, saves: 0, save: async (text: string) => { counted.saves++; await file.save(text); } };
    return counted;
  }

  it('remembers the pending peers when they change, and a restart keeps the CA until they move', async () => {
    const { store: before } = rolledOver(t0);
    const file = countedFile();
    const memory = new TrustMemory(file, recordingLogger());
    before.update('secret', [newCa.cert], t0, leafOf(newCa, 'web'));
    before.observePeer(leafOf(newCa, 'a'));
    await memory.remember(before.retiredCas());
    const text = await fs.readFile(path.join(dir, TRUST_STATE_FILE), 'utf8');
    expect(text).not.toMatch(/PRIVATE KEY/);
    expect(decodeRetiredCas(text, 'file').map((ca) => [ca.cert.fingerprint256, ca.retiredAt, ca.hold])).toEqual([
      [oldCa.cert.fingerprint256, t0.getTime(), { pending: ['b.shop'], untilBound: false }]]);
    const saves = file.saves;
    await memory.remember(before.retiredCas()); // the same set: nothing written
    expect(file.saves).toBe(saves);

    // The restart, long past the minimum hold: nothing seen yet, and b restored as pending keeps the old CA.
    const now = at(t0, 10 * HOLD);
    const after = new TrustStore(90 * DAY, { minHoldMs: HOLD, logger: recordingLogger(), onHoldsChanged: () => {} });
    after.update('caDir', [newCa.cert], now);
    expect(await new TrustMemory(trustStateFile(dir), recordingLogger()).restore(after, now)).toBe(true);
    after.update('secret', [newCa.cert], now, leafOf(newCa, 'web'));
    expect(after.prune(now)).toBe(false);
    expect(subjects(after)).toEqual(['CN=new root', 'CN=old root']);
    after.observePeer(leafOf(newCa, 'b'));
    expect(after.prune(now)).toBe(true);
    expect(subjects(after)).toEqual(['CN=new root']);
  });

  it('counts the minimum hold from the retirement, not from the restart, and waits for the own leaf', async () => {
    const { store: before } = rolledOver(t0);
    before.update('secret', [newCa.cert], t0, leafOf(newCa, 'web'));
    before.observePeer(leafOf(newCa, 'a'));
    before.observePeer(leafOf(newCa, 'b'));
    await new TrustMemory(trustStateFile(dir), recordingLogger()).remember(before.retiredCas());

    const restartedAt = at(t0, MINUTE);
    const after = new TrustStore(90 * DAY, { minHoldMs: HOLD, logger: recordingLogger(), onHoldsChanged: () => {} });
    after.update('caDir', [newCa.cert], restartedAt);
    await new TrustMemory(trustStateFile(dir), recordingLogger()).restore(after, restartedAt);
    expect(after.prune(at(t0, HOLD))).toBe(false); // the own leaf is not known yet
    after.update('secret', [newCa.cert], restartedAt, leafOf(newCa, 'web'));
    expect(after.nextChange()?.getTime()).toBe(t0.getTime() + HOLD);
    expect(after.prune(at(t0, HOLD - 1))).toBe(false);
    expect(after.prune(at(t0, HOLD))).toBe(true);
  });

  it('holds to its bound a CA remembered without holds (an older state file) or held so before', async () => {
    const older = JSON.stringify({ version: 1, retired: [{ retiredAt: t0.toISOString(), pem: oldCa.cert.toString() }] });
    await fs.writeFile(path.join(dir, TRUST_STATE_FILE), older);
    const now = at(t0, 10 * HOLD);
    const after = new TrustStore(90 * DAY, { minHoldMs: HOLD, logger: recordingLogger(), onHoldsChanged: () => {} });
    after.update('caDir', [newCa.cert], now);
    await new TrustMemory(trustStateFile(dir), recordingLogger()).restore(after, now);
    after.update('secret', [newCa.cert], now, leafOf(newCa, 'web'));
    expect(after.prune(now)).toBe(false);
    expect(after.retiredCas()[0]?.hold).toEqual({ pending: [], untilBound: true });
    expect(after.nextChange()?.getTime()).toBe(t0.getTime() + 90 * DAY);
  });
});
