import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ServingCertError } from '../errors.js';
import type { EnsurePlan } from './resolveOptions.js';

/** The Service this process serves. */
export interface ServiceIdentity {
  serviceName: string;
  namespace: string;
}

/**
 * Who this process is: the serviceName option or `SERVING_CERT_SERVICE`; the namespace option,
 * `POD_NAMESPACE`, the service-account namespace file, else the kubeconfig context's namespace.
 */
export function resolveIdentity(plan: EnsurePlan, contextNamespace: () => string | undefined = () => undefined): ServiceIdentity {
  const { serviceName } = plan;
  if (!serviceName) {
    throw new ServingCertError('E_CONFIG',
      'no service name: pass the serviceName option or set SERVING_CERT_SERVICE (or pass dnsNames and annotate: false)');
  }
  const namespace = plan.namespace ?? readNamespaceFile(plan.serviceAccountDir) ?? contextNamespace();
  if (!namespace) {
    throw new ServingCertError('E_CONFIG',
      `no namespace for service ${serviceName}: pass the namespace option or set POD_NAMESPACE ` +
      '(in a pod: env POD_NAMESPACE from fieldRef metadata.namespace)');
  }
  return { serviceName, namespace };
}

function readNamespaceFile(dir: string): string | undefined {
  try {
    return readFileSync(path.join(dir, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
