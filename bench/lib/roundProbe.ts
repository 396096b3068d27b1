import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

type PerformanceEntryList = PerformanceEntry[];
import { readFileSync } from 'node:fs';

/** What happened during one throughput round, besides its rate: what a stall is explained by. */
export interface RoundFacts {
  /** New TLS connections the server accepted in the round (keep-alive reuse keeps it at 0 after warm-up); undefined when not counted. */
  connections: number | undefined;
  /** The longest event-loop delay in the round, ms. */
  maxLoopDelayMs: number;
  /** Time spent in garbage collection in the round, ms, and its longest pause. */
  gcMs: number;
  maxGcPauseMs: number;
  /** Loopback TCP sockets in TIME_WAIT at the end of the round (/proc/net/tcp), or undefined. */
  timeWait: number | undefined;
}

/** Starts measuring a round; `end()` ends it. With `countConnections`, `connections` counts the caller's `connection()` calls. */
export function probeRound(countConnections = false): { connection(): void; end(): RoundFacts } {
  let connections = 0;
  let gcMs = 0;
  let maxGcPauseMs = 0;
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const gc = new PerformanceObserver((list) => countGc(list.getEntries()));
  const countGc = (entries: PerformanceEntryList): void => {
    for (const entry of entries) {
      gcMs += entry.duration;
      maxGcPauseMs = Math.max(maxGcPauseMs, entry.duration);
    }
  };
  gc.observe({ entryTypes: ['gc'] });
  return {
    connection: () => void (connections += 1),
    end: () => {
      delay.disable();
      countGc(gc.takeRecords());
      gc.disconnect();
      return { connections: countConnections ? connections : undefined, maxLoopDelayMs: delay.max / 1e6, gcMs, maxGcPauseMs, timeWait: timeWaitSockets() };
    },
  };
}

/** Sockets in TIME_WAIT (state 06) on this machine, from /proc/net/tcp; undefined off Linux. */
function timeWaitSockets(): number | undefined {
  try {
    return readFileSync('/proc/net/tcp', 'utf8').split('\n').filter((line) => line.split(/\s+/)[4] === '06').length;
  } catch {
    return undefined;
  }
}
