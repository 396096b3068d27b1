import { CoreV1Api } from '@kubernetes/client-node';
import { apiError, statusOf } from '../kube/apiErrors.js';
import type { ClusterAccess } from '../kube/clusterAccess.js';
import { SERVING_KEYS } from '../options/platformNames.js';
import type { SourceRead } from '../sources/source.js';
import { CliError } from './args.js';
import { inspectMaterial, type InspectReport } from './inspect.js';
import { networkReasonOf } from './networkReason.js';
import { apiClient } from '../kube/apiClient.js';

/** cert-manager's annotation on the Secrets it writes: the Certificate, `<service>-cert` on this platform. */
const CERTIFICATE_NAME = 'cert-manager.io/certificate-name';

/**
 * Reads Secret `name` in `namespace` through the API and runs the same gate as `inspect DIR`.
 * The names to check are the Service's (`serviceName`), else the one cert-manager's
 * annotation names (`<service>-cert`), else none. Other failures than 404 throw: E_UNREACHABLE,
 * E_FORBIDDEN (naming the Role rule that grants the read), E_API.
 */
export async function inspectSecret(access: ClusterAccess, target: { namespace: string; name: string; serviceName?: string; dnsNamesOf: (service: string) => string[] }): Promise<InspectReport & { service?: string }> {
  const { namespace, name } = target;
  const description = `secret ${namespace}/${name}`;
  let service = target.serviceName;
  let found: SourceRead;
  try {
    const secret = await apiClient(access.kubeConfig, CoreV1Api).readNamespacedSecret({ namespace, name });
    const data = secret.data ?? {};
    const files: Record<string, Buffer | undefined> = {};
    for (const key of SERVING_KEYS.keys) files[key] = data[key] === undefined ? undefined : Buffer.from(data[key], 'base64');
    found = { present: true, files }; // the gate names a missing key itself
    service ??= secret.metadata?.annotations?.[CERTIFICATE_NAME]?.match(/^(.+)-cert$/)?.[1];
  } catch (error) {
    const unreachable = networkReasonOf(error);
    if (unreachable) throw new CliError('E_UNREACHABLE', `the API server ${access.kubeConfig.getCurrentCluster()?.server ?? ''} cannot be reached: ${unreachable}`);
    if (statusOf(error) !== 404) throw apiError(error, { verb: 'get', resource: 'secrets', namespace, name });
    found = { present: false, reason: `${description} does not exist` };
  }
  const report = await inspectMaterial(description, () => Promise.resolve(found), service ? target.dnsNamesOf(service) : []);
  return service ? { ...report, service } : report;
}
