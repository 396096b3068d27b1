import { LiveServingCert } from './live/liveServingCert.js';
import { chooseSource } from './options/chooseSource.js';
import type { EnsureOptions } from './options/ensureOptions.js';
import { resolveIdentity } from './options/identity.js';
import { defaultSecretNameOf, serviceDnsNames } from './options/platformNames.js';
import { resolveOptions } from './options/resolveOptions.js';
import { DEFAULT_MAX_BYTES } from './options/limits.js';
import { openSources } from './sources/openSources.js';
import { openObservers, type Observers } from './observe/openObservers.js';
import type { ClusterAccess } from './kube/clusterAccess.js';
import { openTrustMemory, renewAfterRollover } from './rollover.js';
import type { ServingCert } from './types.js';

/**
 * Gets this service's serving certificate, validated, and keeps it live. In a cluster it first
 * makes sure the Service carries the serving-cert annotation, then waits (with progress, and a
 * diagnosis when it takes long) for the Secret and the platform root CA. Every rotation that
 * passes the validation gate is swapped into attached servers; a bad one never replaces a good
 * one. Rejects with a {@link ServingCertError} that says what to fix.
 *
 * @example
 * const cert = await ensureServingCert();   // SERVING_CERT_SERVICE and POD_NAMESPACE set in the pod
 * const server = https.createServer(cert.serverOptions(), app);
 * cert.attach(server);
 */
export async function ensureServingCert(options: EnsureOptions = {}): Promise<ServingCert> {
  const plan = resolveOptions(options); // every option checked before anything happens
  const choice = chooseSource(plan);
  // @kubernetes/client-node and the kubeconfig load only when something needs the cluster.
  let accessing: Promise<ClusterAccess | undefined> | undefined;
  const access = (): Promise<ClusterAccess | undefined> => accessing ??= choice.clusterConfigured
    ? import('./kube/index.js').then((kube) => kube.ClusterAccess.resolve(plan))
    : Promise.resolve(undefined);
  const cluster = choice.needsCluster ? await access() : undefined;
  const needsIdentity = choice.annotate || choice.source === 'api' || plan.dnsNames === undefined || plan.events;
  const identity = needsIdentity ? resolveIdentity(plan, () => cluster?.namespace) : undefined;
  const dnsNames = plan.dnsNames ?? serviceDnsNames(identity!.serviceName, identity!.namespace, plan.clusterDomain);
  const secretName = choice.annotate
    ? await (await import('./kube/index.js')).ensureServiceAnnotation(cluster!, { ...identity!, secretName: plan.secretName }, plan.logger)
    : plan.secretName ?? (identity ? defaultSecretNameOf(identity.serviceName) : undefined);
  // The api source's watches report to the metrics once they exist (they need its description).
  let watchReconnected: Observers['watchReconnected'] = () => {};
  const sources = await openSources(plan, { source: choice.source, identity, secretName, dnsNames, access,
    onWatchReconnect: (reason) => watchReconnected(reason) });
  let cert: LiveServingCert;
  const rollover = { source: choice.source, cluster, identity, secretName };
  try {
    const observers = await openObservers(plan, { source: sources.serving.description, identity, access });
    watchReconnected = observers.watchReconnected;
    cert = await LiveServingCert.open({
      servingSource: sources.serving,
      caSource: sources.ca,
      expectations: { dnsNames, clockSkewMs: plan.clockSkewMs, maxBytes: DEFAULT_MAX_BYTES, description: sources.serving.description, clientUse: plan.clientUse },
      trustGraceMs: plan.trustGraceMs,
      retiredCaMinHoldMs: plan.retiredCaMinHoldMs,
      trustMemory: await openTrustMemory(plan, rollover),
      timeoutMs: plan.timeoutMs,
      logger: plan.logger,
      signal: plan.signal,
      diagnose: sources.diagnose,
      observer: observers.observer,
    });
  } catch (error) {
    await sources.release?.(); // a shared watcher must not keep a share of a start that failed
    throw error;
  }
  try {
    await renewAfterRollover(cert, plan, rollover);
  } catch (error) {
    await cert.close();
    throw error;
  }
  return cert;
}
