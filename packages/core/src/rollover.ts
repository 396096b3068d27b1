// The platform CA rollover, wired for a start: where retired CAs are remembered across a
// restart, and the request for this service's own re-issue. Loaded parts come through import().
import type { ClusterAccess } from './kube/clusterAccess.js';
import type { TrustMemory } from './live/trustMemory.js';
import type { ServiceIdentity } from './options/identity.js';
import type { EnsurePlan } from './options/resolveOptions.js';
import type { ServingCert } from './types.js';

/** What a start knows once its sources are chosen. */
export interface RolloverTarget {
  source: 'files' | 'api' | 'local';
  cluster: ClusterAccess | undefined;
  identity: ServiceIdentity | undefined;
  secretName: string | undefined;
}

/**
 * Where the retired CAs are remembered: `stateDir`'s file when the app gives one; else, for
 * the api source, the companion ConfigMap `<secret>-serving-cert-trust`; else nowhere (memory).
 */
export async function openTrustMemory(plan: EnsurePlan, target: RolloverTarget): Promise<TrustMemory | undefined> {
  if (target.source === 'local') return undefined;
  const { TrustMemory } = await import('./live/trustMemory.js');
  if (plan.stateDir) {
    const { trustStateFile } = await import('./live/trustStateFile.js');
    return new TrustMemory(trustStateFile(plan.stateDir), plan.logger);
  }
  if (target.source !== 'api' || !target.cluster || !target.identity || !target.secretName) return undefined;
  const { trustConfigMap } = await import('./kube/trustConfigMap.js');
  return new TrustMemory(trustConfigMap(target.cluster, target.identity.namespace, target.secretName), plan.logger);
}

/** Starts asking for this service's re-issue after a platform CA rollover, when it can (a cluster, a known Secret). */
export async function renewAfterRollover(cert: ServingCert, plan: EnsurePlan, target: RolloverTarget): Promise<void> {
  if (!plan.renewOnRollover || target.source === 'local' || !target.cluster || !target.identity || !target.secretName) return;
  const { renewOnRollover } = await import('./kube/rolloverRenewer.js');
  renewOnRollover(cert, { access: target.cluster, namespace: target.identity.namespace, secretName: target.secretName,
    serviceName: target.identity.serviceName, windowMs: plan.rolloverRenewWindowMs, logger: plan.logger });
}
