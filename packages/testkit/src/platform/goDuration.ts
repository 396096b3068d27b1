const UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };

/** Parses a Go duration ("2160h0m0s", "90m", "1.5h", "500ms") into milliseconds, as cert-manager's spec.duration is written. */
export function parseGoDuration(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text) {
    throw new Error(`not a Go duration: "${text}"`);
  }
  return parts.reduce((total, part) => total + Number(part[1]) * UNITS[part[2]!]!, 0);
}
