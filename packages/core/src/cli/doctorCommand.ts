import { parseCommand, UsageError } from './args.js';
import { EXIT, printResult } from './output.js';

/** `serving-cert doctor`: exit 0 when every check passes, 1 when one fails, 2 when the API server cannot be reached. */
export async function doctorCommand(args: string[]): Promise<number> {
  const { options, flags, positionals } = parseCommand(args, { service: 'string' });
  if (options.allNamespaces) throw new UsageError('doctor checks one Service: -A/--all-namespaces does not apply');
  if (positionals.length > 0) throw new UsageError(`doctor takes no arguments, not ${positionals.join(' ')}`);
  const serviceName = (flags.service as string | undefined) ?? (process.env.SERVING_CERT_SERVICE || undefined);
  if (!serviceName) throw new UsageError('doctor needs --service (or SERVING_CERT_SERVICE)');
  // Loaded only here: @kubernetes/client-node takes a good part of a second to import.
  const { access, namespace } = (await import('./clusterAccessFor.js')).clusterFor(options);
  const { doctor, formatDoctor } = await import('./doctor.js');
  const checks = await doctor(access, { serviceName, namespace });
  const ok = checks.every((check) => check.status !== 'fail');
  printResult(options.output, { ok, service: serviceName, namespace, checks }, () => formatDoctor(checks));
  if (checks.some((check) => check.code === 'E_UNREACHABLE' && check.id === 'api-server')) return EXIT.usageOrNoCluster;
  return ok ? EXIT.pass : EXIT.fail;
}
