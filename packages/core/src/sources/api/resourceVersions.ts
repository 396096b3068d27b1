// Ordering resourceVersions. The API contract calls them opaque strings, to be compared for
// equality only; every kube-apiserver backed by etcd (all of them, today) fills them with etcd's
// modification revision, a decimal integer that only grows. client-go's own watch cache relies on
// that (it parses them with strconv.ParseUint). So: two decimal integers are ordered as numbers
// (BigInt: they may exceed 2^53 in a long-lived cluster); anything else is unordered, and then a
// version counts as newer only when its data differs, as before ordering existed.

const DECIMAL = /^\d+$/;

/** -1, 0 or 1 when both versions are decimal integers; undefined when they cannot be ordered. */
export function compareResourceVersions(a: string, b: string): -1 | 0 | 1 | undefined {
  if (!DECIMAL.test(a) || !DECIMAL.test(b)) return a === b ? 0 : undefined;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Whether `candidate` is known to be older than `reference` (never true for unordered versions). */
export function isOlder(candidate: string | undefined, reference: string | undefined): boolean {
  if (candidate === undefined || reference === undefined) return false;
  return compareResourceVersions(candidate, reference) === -1;
}

/** The newer of two versions; `next` when they cannot be ordered (the server's latest word wins). */
export function newest(current: string | undefined, next: string | undefined): string | undefined {
  if (next === undefined) return current;
  if (current === undefined) return next;
  return isOlder(next, current) ? current : next;
}
