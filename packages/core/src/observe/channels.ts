import * as diagnosticsChannel from 'node:diagnostics_channel';
import type { ServingCertError } from '../errors.js';
import type { LiveObserver } from '../live/observer.js';
import type { CertInfo, TrustState } from '../types.js';

/**
 * The `diagnostics_channel` channels of serving-cert (Node's convention for library
 * instrumentation, as undici and fastify do). A message is built only when someone subscribes.
 *
 * - `serving-cert:rotate` `{ source, next: CertInfo, previous: CertInfo, latencyMs }`: a new
 *   certificate is served; latencyMs runs from the source's change event
 * - `serving-cert:refuse` `{ source, code, error: ServingCertError }`: an update was refused
 *   (once per distinct refused version); the error holds no key material
 * - `serving-cert:trust` `{ source, trust: TrustState }`: the trusted CAs changed
 */
export const CHANNELS = {
  rotate: diagnosticsChannel.channel('serving-cert:rotate'),
  refuse: diagnosticsChannel.channel('serving-cert:refuse'),
  trust: diagnosticsChannel.channel('serving-cert:trust'),
} as const;

/** Message of `serving-cert:rotate`. */
export interface RotateMessage { source: string; next: CertInfo; previous: CertInfo; latencyMs: number | undefined }
/** Message of `serving-cert:refuse`. */
export interface RefuseMessage { source: string; code: string; error: ServingCertError }
/** Message of `serving-cert:trust`. */
export interface TrustMessage { source: string; trust: TrustState }

/** Publishes a handle's rotations, refusals and trust changes on {@link CHANNELS}. */
export function channelsObserver(source: string): LiveObserver {
  return {
    served(next, previous, changedAt) {
      if (!previous || !CHANNELS.rotate.hasSubscribers) return;
      const latencyMs = changedAt === undefined ? undefined : performance.now() - changedAt;
      CHANNELS.rotate.publish({ source, next, previous, latencyMs } satisfies RotateMessage);
    },
    refused(error) {
      if (CHANNELS.refuse.hasSubscribers) CHANNELS.refuse.publish({ source, code: error.code, error } satisfies RefuseMessage);
    },
    trustChanged(trust) {
      if (CHANNELS.trust.hasSubscribers) CHANNELS.trust.publish({ source, trust } satisfies TrustMessage);
    },
  };
}
