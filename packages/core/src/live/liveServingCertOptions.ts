import type { Logger } from '../logger.js';
import type { MaterialSource } from '../sources/source.js';
import type { Expectations } from '../x509/validateBundle.js';
import type { LiveObserver } from './observer.js';
import type { TrustMemory } from './trustMemory.js';

/** What a live serving certificate is made of. */
export interface LiveServingCertOptions {
  servingSource: MaterialSource;
  /** Where the platform root CA comes from (`service-root-ca`); optional. */
  caSource: MaterialSource | undefined;
  expectations: Expectations;
  trustGraceMs: number;
  /** Releases a retired CA before its bound once every leaf seen on it moved, this long after it retired at the earliest; never without. */
  retiredCaMinHoldMs?: number | undefined;
  /** Where retired CAs are remembered across a restart (a ConfigMap, a state file); in memory only without. */
  trustMemory?: TrustMemory | undefined;
  timeoutMs: number;
  logger: Logger;
  signal: AbortSignal | undefined;
  /** Told of every served certificate, reported refusal, trust change and waiting start (observe/). */
  observer?: LiveObserver | undefined;
  /** Called when the start waits long or times out, to say why from what the environment shows. */
  diagnose?: () => Promise<string | undefined>;
  /** How often a waiting start logs what it waits for (default 10 s), and adds the diagnosis (default 30 s). */
  progressIntervalMs?: number;
  diagnosisIntervalMs?: number;
  /** How long a refused version is taken as refused before it is read and validated again (default 60 s; tests shorten it). */
  refusalRecheckMs?: number;
}
