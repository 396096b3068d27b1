import type { ClusterAccess } from '../kube/clusterAccess.js';
import type { LiveObserver } from '../live/observer.js';
import type { ServiceIdentity } from '../options/identity.js';
import type { EnsurePlan } from '../options/resolveOptions.js';
import { channelsObserver } from './channels.js';
import { joinObservers } from './joinObservers.js';

/** What a start reports to, once its sources are open. */
export interface Observers {
  /** For the live handle; undefined when nothing observes. */
  observer: LiveObserver | undefined;
  /** For the api source: one of its watches was re-opened. */
  watchReconnected: (reason: string) => void;
}

/**
 * The observers of a start: diagnostics channels always (free without subscribers), metrics
 * when a meter provider is registered or given (loaded on demand), Kubernetes Events with
 * `events: true` in a cluster.
 */
export async function openObservers(plan: EnsurePlan, target: { source: string; identity: ServiceIdentity | undefined; access: () => Promise<ClusterAccess | undefined> }): Promise<Observers> {
  // @opentelemetry/api is an optional peer: an app without it has no metrics, and starts all the same.
  const metricsModule = await import('./metrics.js').catch(() => undefined);
  const metrics = metricsModule?.metricsObserver(target.source, plan.meterProvider);
  if (!metricsModule && plan.meterProvider) plan.logger.warn({}, 'a meterProvider was given, but @opentelemetry/api cannot be loaded: no metrics');
  let events: LiveObserver | undefined;
  const access = plan.events ? await target.access() : undefined;
  if (plan.events && (!access || !target.identity)) {
    plan.logger.warn({ source: target.source }, 'events: true, but no cluster is configured: Kubernetes Events are not recorded');
  } else if (access && target.identity) {
    const { kubeEventsObserver } = await import('./kubeEvents.js');
    events = await kubeEventsObserver(access, { ...target.identity, podName: process.env.POD_NAME || undefined, podUid: process.env.POD_UID || undefined }, plan.logger);
  }
  const onError = (error: unknown): void => plan.logger.error({ code: 'E_INTERNAL', error: String(error) }, 'an observer (metrics, channels or Events) failed; serving goes on');
  return {
    observer: joinObservers([channelsObserver(target.source), metrics, events], onError),
    watchReconnected: (reason) => metrics?.watchReconnected(reason),
  };
}
