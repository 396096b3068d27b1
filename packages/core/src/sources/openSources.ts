import type { ClusterAccess } from '../kube/clusterAccess.js';
import type { ServiceIdentity } from '../options/identity.js';
import type { EnsurePlan } from '../options/resolveOptions.js';
import { mountedSecrets } from './files/mountedSecrets.js';
import type { MaterialSources } from './source.js';

/** What a start reads from, and how it says why it waits. */
export interface OpenedSources extends MaterialSources {
  /** Says why a certificate is late, from the cluster (when one is reachable) and the mount. */
  diagnose: () => Promise<string | undefined>;
}

/** Where the material is, once the plan is checked and the Service annotated. */
export interface SourceTarget {
  source: 'files' | 'api' | 'local';
  identity: ServiceIdentity | undefined;
  secretName: string | undefined;
  dnsNames: readonly string[];
  /** Resolves the cluster access on demand (the diagnosis of a files start); undefined without a cluster. */
  access: () => Promise<ClusterAccess | undefined>;
  /** The api source re-opened a watch (metrics). */
  onWatchReconnect?: (reason: string) => void;
}

/**
 * Opens the sources a start reads: the mounted Secrets, the Secrets through the API (loaded on
 * demand, with @kubernetes/client-node), or the local development CA (loaded on demand, with
 * node-forge).
 */
export async function openSources(plan: EnsurePlan, target: SourceTarget): Promise<OpenedSources> {
  const { logger } = plan;
  let sources: MaterialSources;
  let caExists: (() => Promise<boolean | undefined>) | undefined;
  if (target.source === 'local') {
    const { localCaSources } = await import('./local/localCaSource.js');
    logger.info({ source: 'local', dir: plan.local.dir }, `outside a cluster: serving a certificate from the local development CA (${plan.local.dir ?? 'user cache'})`);
    sources = localCaSources({ ...plan.local, dnsNames: target.dnsNames, logger });
  } else if (target.source === 'api') {
    const { secretSources } = await import('./api/secretSources.js');
    const api = secretSources({
      access: (await target.access())!, namespace: target.identity!.namespace, secretName: target.secretName!,
      caSecretName: plan.caSecretName, watchTimeoutSeconds: plan.watchTimeoutSeconds, logger, onReconnect: target.onWatchReconnect,
    });
    caExists = async () => (await api.caWatcher.current()).exists;
    sources = api;
  } else {
    sources = mountedSecrets(plan.certDir, plan.caDir, { pollIntervalMs: plan.reloadIntervalMs, logger });
  }
  return { ...sources, diagnose: () => diagnose(plan, target, caExists) };
}

async function diagnose(plan: EnsurePlan, target: SourceTarget, caExists: (() => Promise<boolean | undefined>) | undefined): Promise<string | undefined> {
  const hints: string[] = [];
  const { identity, secretName } = target;
  const access = identity && secretName && target.source !== 'local' ? await target.access().catch(() => undefined) : undefined;
  if (access && identity && secretName) {
    const { diagnoseCertificate } = await import('../kube/diagnose.js');
    hints.push(await diagnoseCertificate({ access, ...identity, secretName, caSecretName: plan.caSecretName, caExists }));
  }
  if (target.source === 'files') {
    hints.push(`check that Secret ${secretName ?? '(the serving Secret)'} is mounted at ${plan.certDir}; a volume mounted with ` +
      "subPath never updates, and a Secret created after the pod reaches it only at kubelet's next sync (about a minute). " +
      `\`serving-cert inspect ${plan.certDir}\` shows what the files hold`);
  }
  return hints.filter(Boolean).join('. ') || undefined;
}
