import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { ServingCertError } from '../errors.js';
import { clusterConfigured } from './clusterConfigured.js';
import type { EnsurePlan } from './resolveOptions.js';

/** Which source a start uses, and what it needs of the cluster. */
export interface SourceChoice {
  readonly source: 'files' | 'api' | 'local';
  /** Make sure the Service carries the annotation. */
  readonly annotate: boolean;
  /** Annotation or the api source: the kubeconfig must be loaded. */
  readonly needsCluster: boolean;
  /** A cluster is configured (a pod, a kubeConfig, a kubeconfig file): the diagnosis may use it. */
  readonly clusterConfigured: boolean;
}

/**
 * `auto` is 'files' when certDir holds a certificate, else 'api' in a cluster, else 'local'
 * (never 'local' in a pod). Looks at the file system (certDir, the kubeconfig files), never at
 * the network, and loads no kubeconfig.
 */
export function chooseSource(plan: EnsurePlan, env: NodeJS.ProcessEnv = process.env): SourceChoice {
  const inPod = Boolean(env.KUBERNETES_SERVICE_HOST);
  const inCluster = inPod || plan.kubeConfig !== undefined;
  const configured = clusterConfigured(plan);
  const source = plan.source !== 'auto'
    ? plan.source
    : existsSync(path.join(plan.certDir, 'tls.crt')) ? 'files' : inCluster ? 'api' : 'local';
  if (source === 'local' && inPod && !plan.local.allowInCluster) {
    throw new ServingCertError('E_CONFIG',
      "source 'local' (a development CA) refuses to run in a cluster, where the platform issues certificates: use " +
      "source 'files' or 'api', or pass local: { allowInCluster: true } if you really mean it");
  }
  // A developer's kubeconfig must not make a local run patch a Service in some cluster.
  const annotate = plan.annotate ?? (configured && source !== 'local');
  if ((annotate || source === 'api') && !configured) {
    throw new ServingCertError('E_CONFIG',
      `${source === 'api' ? "source 'api'" : 'annotating the Service'} needs a cluster, and none is configured: ` +
      'KUBERNETES_SERVICE_HOST is unset (not in a pod), no kubeConfig option was given, and there is no KUBECONFIG or ~/.kube/config. ' +
      (source === 'api' ? '' : 'Pass annotate: false to use the mounted files alone'));
  }
  if (source === 'files' && !inCluster && !existsSync(plan.certDir)) {
    throw new ServingCertError('E_CONFIG',
      `certDir ${plan.certDir} does not exist, and this process is not in a cluster (KUBERNETES_SERVICE_HOST is unset). ` +
      'Point certDir at a directory holding tls.crt and tls.key. In a cluster, mount the serving Secret there ' +
      "(with optional: true, so the pod starts before the Secret exists), or use source: 'api' to read it without a mount",
      { details: { certDir: plan.certDir } });
  }
  return Object.freeze({ source, annotate, needsCluster: annotate || source === 'api', clusterConfigured: configured });
}
