import type { X509Certificate } from 'node:crypto';
import { dnsNamesOf } from './certInfo.js';

/** Told of a peer's leaf that the TLS layer verified, to follow which CA each peer is on. */
export type PeerLeafObserver = (leaf: X509Certificate) => void;

// Handle -> its observer: the mTLS client (connect/) reports the servers it verified to the
// live certificate it presents, which it knows only as a ServingCert.
const observers = new WeakMap<object, PeerLeafObserver>();

/** Makes `handle` hear of the peer leaves reported for it with {@link observePeerLeaf}; returns `observer`. */
export function followPeerLeaves(handle: object, observer: PeerLeafObserver): PeerLeafObserver {
  observers.set(handle, observer);
  return observer;
}

/** Reports a verified peer leaf to the handle that verified it; nothing for a handle that does not follow peers. */
export function observePeerLeaf(handle: object, leaf: X509Certificate): void {
  observers.get(handle)?.(leaf);
}

const SERVICE_NAME = /^([a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)\.([a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)\.svc(?:\.|$)/;

/**
 * Who a peer leaf belongs to, for following its CA: `<svc>.<ns>` from its first service DNS
 * name (`svc.ns.svc[.domain]`), else its DNS names joined; undefined with no DNS name.
 */
export function peerKeyOf(leaf: X509Certificate): string | undefined {
  const names = dnsNamesOf(leaf);
  for (const name of names) {
    const match = SERVICE_NAME.exec(name);
    if (match) return `${match[1]}.${match[2]}`;
  }
  return names.length > 0 ? [...names].sort().join(',').slice(0, 253) : undefined;
}
