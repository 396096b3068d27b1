import { serviceDnsNames } from '../options/platformNames.js';
import { parseCommand, UsageError, type CommonOptions } from './args.js';
import { formatInspect, inspect, type InspectReport } from './inspect.js';
import { EXIT, printResult } from './output.js';

// A DNS domain as kubelet's --cluster-domain takes it: labels of letters, digits and hyphens.
const DOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

/** `serving-cert inspect DIR` and `serving-cert inspect secret NAME`. */
export async function inspectCommand(args: string[]): Promise<number> {
  const { options, flags, positionals } = parseCommand(args, { service: 'string', 'cluster-domain': 'string' });
  if (options.allNamespaces) throw new UsageError('inspect reads one folder or Secret: -A/--all-namespaces does not apply');
  const clusterDomain = flags['cluster-domain'] as string | undefined;
  if (clusterDomain !== undefined && !DOMAIN.test(clusterDomain)) throw new UsageError(`--cluster-domain "${clusterDomain}" is not a DNS domain (e.g. cluster.local)`);
  const service = (flags.service as string | undefined) ?? (process.env.SERVING_CERT_SERVICE || undefined);
  const namesOf = (namespace: string) => (name: string) => serviceDnsNames(name, namespace, clusterDomain);

  let report: InspectReport;
  if (positionals[0] === 'secret') {
    const [, name, ...extra] = positionals;
    if (!name) throw new UsageError('inspect secret needs the Secret\'s NAME (for a folder named "secret", write ./secret)');
    if (extra.length > 0) throw new UsageError(`inspect secret takes one NAME, not also ${extra.join(' ')}`);
    report = await inspectClusterSecret(options, name, flags.service as string | undefined, namesOf);
  } else {
    const [dir, ...extra] = positionals;
    if (!dir) throw new UsageError('inspect needs a folder, or secret NAME');
    if (extra.length > 0) throw new UsageError(`inspect takes one folder, not also ${extra.join(' ')}`);
    // In a pod POD_NAMESPACE is always set: only an explicit -n asks for a Service's names.
    const namespace = options.namespace ?? (service === undefined ? undefined : process.env.POD_NAMESPACE || undefined);
    if ((service === undefined) !== (namespace === undefined)) throw new UsageError('--service and --namespace go together');
    report = await inspect(dir, service && namespace ? namesOf(namespace)(service) : []);
  }
  printResult(options.output, report, () => formatInspect(report));
  return report.ok ? EXIT.pass : EXIT.fail;
}

async function inspectClusterSecret(options: CommonOptions, name: string, service: string | undefined, namesOf: (namespace: string) => (service: string) => string[]): Promise<InspectReport> {
  const { access, namespace } = (await import('./clusterAccessFor.js')).clusterFor(options);
  const { inspectSecret } = await import('./inspectSecret.js');
  return inspectSecret(access, { namespace, name, ...(service ? { serviceName: service } : {}), dnsNamesOf: namesOf(namespace) });
}
