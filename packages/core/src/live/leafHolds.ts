/** How many peers are followed; past it, no retired CA is released before its bound. */
export const MAX_TRACKED_PEERS = 10_000;

/** How many pending peers of one retired CA are remembered; past it, the CA is remembered as held to its bound. */
export const MAX_REMEMBERED_PENDING = 1_000;

/** A leaf whose signer is none of the trusted CAs (an intermediate): it holds every retired CA. */
export const UNKNOWN_CA = '?';

/** What keeps one retired CA, as remembered across a restart. */
export interface RetiredCaHold {
  /** Peers whose latest seen leaf is signed by it (or by an unknown signer). */
  pending: string[];
  /** Kept until its bound whatever is seen: too many peers to follow, or remembered so. */
  untilBound: boolean;
}

/**
 * Which CA signed the latest leaf seen from each peer (a Service, by its DNS name): a retired
 * CA whose peers have all moved no longer needs to be trusted. Bounded: past
 * {@link MAX_TRACKED_PEERS} peers, new ones are not followed and every retired CA is held to
 * its bound from then on.
 */
export class LeafHolds {
  readonly #latest = new Map<string, { leaf: string; ca: string }>();
  readonly #untilBound = new Set<string>();
  /** How many followed peers each CA signed the latest leaf of: the release check without a scan. */
  readonly #counts = new Map<string, number>();
  #overflowed = false;

  get overflowed(): boolean {
    return this.#overflowed;
  }

  /** The CA (fingerprint) that signed the latest leaf seen from `key`, if followed. */
  caOf(key: string): string | undefined {
    return this.#latest.get(key)?.ca;
  }

  /** True when `leaf` (a fingerprint) is the one already recorded for `key`: nothing to work out. */
  known(key: string, leaf: string): boolean {
    return this.#latest.get(key)?.leaf === leaf;
  }

  /** Records that `key` presented `leaf`, signed by `ca`. Returns true when the peer's CA changed (or it overflowed). */
  seen(key: string, leaf: string, ca: string): boolean {
    const previous = this.#latest.get(key);
    if (!previous && this.#latest.size >= MAX_TRACKED_PEERS) {
      if (this.#overflowed) return false;
      this.#overflowed = true;
      return true;
    }
    this.#latest.set(key, { leaf, ca });
    if (previous?.ca === ca) return false;
    if (previous) this.#counts.set(previous.ca, this.#counts.get(previous.ca)! - 1);
    this.#counts.set(ca, (this.#counts.get(ca) ?? 0) + 1);
    return true;
  }

  /** How many followed peers keep `ca`: {@link pendingOn}'s length. */
  pendingCount(ca: string): number {
    return (this.#counts.get(ca) ?? 0) + (ca === UNKNOWN_CA ? 0 : this.#counts.get(UNKNOWN_CA) ?? 0);
  }

  /** The peers that keep the retired CA `ca`: those whose latest leaf it (or an unknown signer) signed. */
  pendingOn(ca: string): string[] {
    const pending: string[] = [];
    for (const [key, seen] of this.#latest) if (seen.ca === ca || seen.ca === UNKNOWN_CA) pending.push(key);
    return pending.sort();
  }

  /** Whether `ca` is held to its bound whatever is seen. */
  untilBound(ca: string): boolean {
    return this.#overflowed || this.#untilBound.has(ca);
  }

  /** What to remember of the retired CA `ca`. */
  holdOf(ca: string): RetiredCaHold {
    const pending = this.pendingOn(ca);
    const untilBound = this.untilBound(ca) || pending.length > MAX_REMEMBERED_PENDING;
    return { pending: untilBound ? [] : pending, untilBound };
  }

  /** Restores a remembered hold of `ca`: its pending peers count as still on it until they show otherwise. */
  restore(ca: string, hold: RetiredCaHold): void {
    if (hold.untilBound) this.#untilBound.add(ca);
    for (const key of hold.pending) if (!this.#latest.has(key)) this.seen(key, '', ca);
  }

  /** Forgets the holds of a CA that left the store. */
  forget(ca: string): void {
    this.#untilBound.delete(ca);
  }
}
