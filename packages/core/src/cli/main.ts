#!/usr/bin/env node
// The serving-cert command: inspect a certificate folder, check a cluster, print the manifests.
import { readFileSync, readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { serviceDnsNames } from '../options/platformNames.js';
import { formatInspect, inspect } from './inspect.js';

const USAGE = `usage:
  serving-cert inspect DIR [--service S --namespace N] [--json]
      Reads tls.crt, tls.key and ca.crt from DIR (a mounted Secret or any folder), prints the
      certificate and each check of serving-cert's validation gate. Exit 0 when it passes, 1 when not.
  serving-cert doctor [--service S --namespace N] [--json]
      With a kubeconfig (or in a pod): each thing serving-cert depends on, pass or fail, with the fix.
      Defaults: SERVING_CERT_SERVICE, POD_NAMESPACE. Exit 0 when all pass, 1 when not.
  serving-cert rollover status [-n NS | -A] [-o text|json|yaml] [--kubeconfig F] [--context C]
      During a platform CA rollover: for each annotated Service, whether its leaf is signed by the
      current platform root CA, its Certificate's Ready condition and renewal time. Exit 0 when
      every leaf is on the current CA, 1 when not.
  serving-cert manifests [platform|app]
      Prints the YAML of deploy/: the platform's Kyverno policies and RBAC, or the app's RBAC and example.`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'rollover') return rollover(rest);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { service: { type: 'string' }, namespace: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  const service = values.service ?? process.env.SERVING_CERT_SERVICE;
  const namespace = values.namespace ?? process.env.POD_NAMESPACE;
  switch (command) {
    case 'inspect': {
      const dir = positionals[0];
      if (!dir) return usage('inspect needs a folder');
      if ((service === undefined) !== (namespace === undefined)) return usage('--service and --namespace go together');
      const names = service && namespace ? serviceDnsNames(service, namespace) : [];
      const report = await inspect(dir, names);
      process.stdout.write(`${values.json ? JSON.stringify(report, null, 2) : formatInspect(report)}\n`);
      return report.ok ? 0 : 1;
    }
    case 'doctor': {
      if (!service || !namespace) return usage('doctor needs --service and --namespace (or SERVING_CERT_SERVICE and POD_NAMESPACE)');
      // Loaded only here: @kubernetes/client-node takes a good part of a second to import.
      const { ClusterAccess } = await import('../kube/clusterAccess.js');
      const { doctor, formatDoctor } = await import('./doctor.js');
      const access = ClusterAccess.resolve({});
      if (!access) {
        process.stderr.write('serving-cert doctor: no cluster: not in a pod, and no KUBECONFIG or ~/.kube/config\n');
        return 2;
      }
      const checks = await doctor(access, { serviceName: service, namespace });
      process.stdout.write(`${values.json ? JSON.stringify(checks, null, 2) : formatDoctor(checks)}\n`);
      return checks.some((check) => check.status === 'fail') ? 1 : 0;
    }
    case 'manifests': {
      const which = positionals[0] ?? 'platform';
      const base = new URL('../../deploy/', import.meta.url);
      const files = which === 'platform'
        ? readdirSync(new URL('platform/', base)).filter((file) => file.endsWith('.yaml')).map((file) => new URL(`platform/${file}`, base))
        : which === 'app' ? [new URL('app-rbac.yaml', base), new URL('example-app.yaml', base)] : undefined;
      if (!files) return usage(`manifests takes platform or app, not "${which}"`);
      process.stdout.write(files.map((file) => readFileSync(file, 'utf8').trimEnd()).join('\n---\n') + '\n');
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      return usage(`unknown command "${command}"`);
  }
}

/** Its own flags (kubectl-style) and module; loaded only here, with @kubernetes/client-node. */
async function rollover(args: string[]): Promise<number> {
  const { rolloverCommand, UsageError } = await import('./rollover.js');
  try {
    return await rolloverCommand(args);
  } catch (error) {
    const parseError = String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    if (error instanceof UsageError || parseError) return usage((error as Error).message);
    throw error;
  }
}

function usage(problem: string): number {
  process.stderr.write(`serving-cert: ${problem}\n${USAGE}\n`);
  return 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`serving-cert: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
}
