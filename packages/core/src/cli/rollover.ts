// `serving-cert rollover status`: the operator's view of a platform CA rollover. For every
// annotated Service it can read, which CA signed its current leaf (the current platform root CA,
// or an old one), its Certificate's Ready condition and renewal time.
import { X509Certificate } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { apiError, apiMessageOf, statusOf } from '../kube/apiErrors.js';
import { conditionOf, type CertManagerObject } from '../kube/conditions.js';
import { certificateNameOf, PLATFORM } from '../options/platformNames.js';
import { CliError, noCluster, parseCommand, UsageError } from './args.js';
import { clusterAccessFor, namespaceFor } from './clusterAccessFor.js';
import { EXIT, printResult } from './output.js';
import { apiClient } from '../kube/apiClient.js';

/** Which Services `rollover status` reads. */
export interface RolloverStatusOptions {
  /** One namespace. Default: the kubeconfig context's, else "default". */
  namespace?: string;
  /** Every namespace the caller can list Services in. */
  allNamespaces: boolean;
}

/** One annotated Service in the report. */
export interface RolloverService {
  namespace: string;
  service: string;
  secret: string;
  certificate: string;
  /** current: signed by the current platform root CA; old: by another CA; unknown: no leaf readable. */
  ca: 'current' | 'old' | 'unknown';
  serial?: string;
  issuer?: string;
  notAfter?: string;
  /** The Certificate's Ready condition status (True, False, Unknown). */
  ready: string;
  readyReason?: string;
  /** status.renewalTime: when cert-manager renews the leaf on its own. */
  renewalTime?: string;
  /** What could not be read, and why. */
  problems: string[];
}

/** The report: ok when every leaf is on the current platform root CA. */
export interface RolloverReport {
  ok: boolean;
  /** Where the current platform root CA was read, and its fingerprint(s). */
  platformCa: { from: string; fingerprints: string[] } | undefined;
  services: RolloverService[];
  summary: { total: number; current: number; old: number; unknown: number };
}

/** Reads the report through `kubeConfig`; only reads, never writes. */
export async function rolloverStatus(kubeConfig: KubeConfig, options: Pick<RolloverStatusOptions, 'namespace' | 'allNamespaces'>): Promise<RolloverReport> {
  const core = apiClient(kubeConfig, CoreV1Api);
  const custom = apiClient(kubeConfig, CustomObjectsApi);
  const namespace = options.namespace ?? kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ?? 'default';
  const list = options.allNamespaces ? await core.listServiceForAllNamespaces() : await core.listNamespacedService({ namespace });
  const annotated = list.items.filter((service) => service.metadata?.annotations?.[PLATFORM.annotation]);

  // The platform root CA itself when this identity may read it; else each namespace's copy.
  const root = await readSecret(core, PLATFORM.caNamespace, PLATFORM.caSecretName).catch(() => undefined);
  const rootCas = root ? casOf(root) : [];
  const copies = new Map<string, Promise<X509Certificate[]>>();
  const platformCasIn = (ns: string): Promise<X509Certificate[]> => {
    if (rootCas.length > 0) return Promise.resolve(rootCas);
    let copy = copies.get(ns);
    if (!copy) copies.set(ns, copy = readSecret(core, ns, PLATFORM.caSecretName).then(casOf, () => []));
    return copy;
  };

  const services = await Promise.all(annotated.map(async (service): Promise<RolloverService> => {
    const ns = service.metadata!.namespace!;
    const name = service.metadata!.name!;
    const secretName = service.metadata!.annotations![PLATFORM.annotation]!;
    const row: RolloverService = { namespace: ns, service: name, secret: secretName, certificate: certificateNameOf(name), ca: 'unknown', ready: 'Unknown', problems: [] };
    try {
      const secret = await readSecret(core, ns, secretName);
      row.certificate = secret.metadata?.annotations?.['cert-manager.io/certificate-name'] ?? row.certificate;
      const pem = secret.data?.['tls.crt'];
      if (!pem) throw new Error('has no tls.crt yet');
      const leaf = new X509Certificate(Buffer.from(pem, 'base64'));
      Object.assign(row, { serial: leaf.serialNumber, issuer: leaf.issuer ?? '', notAfter: new Date(leaf.validTo).toISOString() });
      const cas = await platformCasIn(ns);
      if (cas.length === 0) row.problems.push(`no readable ${PLATFORM.caSecretName} to compare with`);
      else row.ca = cas.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey)) ? 'current' : 'old';
    } catch (error) {
      row.problems.push(`Secret ${secretName}: ${describe(error)}`);
    }
    try {
      const certificate = await custom.getNamespacedCustomObject({ group: 'cert-manager.io', version: 'v1', namespace: ns, plural: 'certificates', name: row.certificate }) as CertManagerObject & { status?: { renewalTime?: string } };
      const ready = conditionOf(certificate, 'Ready');
      row.ready = ready?.status ?? 'Unknown';
      if (ready?.reason) row.readyReason = ready.reason;
      if (certificate.status?.renewalTime) row.renewalTime = certificate.status.renewalTime;
    } catch (error) {
      row.problems.push(`Certificate ${row.certificate}: ${describe(error)}`);
    }
    return row;
  }));
  services.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service));
  const count = (ca: RolloverService['ca']) => services.filter((row) => row.ca === ca).length;
  const summary = { total: services.length, current: count('current'), old: count('old'), unknown: count('unknown') };
  return {
    ok: summary.current === summary.total,
    platformCa: rootCas.length > 0 ? { from: `${PLATFORM.caNamespace}/${PLATFORM.caSecretName}`, fingerprints: rootCas.map((ca) => ca.fingerprint256) }
      : copies.size > 0 ? { from: `${PLATFORM.caSecretName} of each namespace`, fingerprints: [...new Set((await Promise.all(copies.values())).flat().map((ca) => ca.fingerprint256))] } : undefined,
    services,
    summary,
  };
}

/** The report as a table, then one line that says what is left to do. */
export function formatRolloverStatus(report: RolloverReport): string {
  const header = ['NAMESPACE', 'SERVICE', 'SECRET', 'LEAF CA', 'SERIAL', 'READY', 'RENEWAL'];
  const rows = report.services.map((row) => [row.namespace, row.service, row.secret, row.ca, row.serial ?? '-',
    row.ready + (row.readyReason ? ` (${row.readyReason})` : ''), row.renewalTime ?? '-']);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  const problems = report.services.flatMap((row) => row.problems.map((problem) => `  ${row.namespace}/${row.service}: ${problem}`));
  const { total, current, old, unknown } = report.summary;
  const verdict = report.ok
    ? `${current} of ${total} leaves on the current platform root CA: the rollover is complete`
    : `${current} of ${total} leaves on the current platform root CA; ${old} on an old CA, ${unknown} unknown: keep the old CA trusted until this says complete`;
  return [line(header), ...rows.map(line), ...(problems.length > 0 ? ['problems:', ...problems] : []), verdict].join('\n');
}

/**
 * `serving-cert rollover status [-n NS | -A] [-o text|json|yaml] [--kubeconfig F] [--context C]`:
 * prints the report; exit 0 when every leaf is on the current platform root CA, 1 when not.
 */
export async function rolloverCommand(args: string[]): Promise<number> {
  const { options, positionals } = parseCommand(args);
  if (positionals[0] !== 'status' || positionals.length > 1) throw new UsageError('rollover takes one subcommand: status');
  const access = clusterAccessFor(options);
  if (!access) throw noCluster();
  const namespace = options.allNamespaces ? undefined : namespaceFor(options, access);
  let report: RolloverReport;
  try {
    report = await rolloverStatus(access.kubeConfig, { allNamespaces: options.allNamespaces, ...(namespace ? { namespace } : {}) });
  } catch (error) {
    if (statusOf(error) === undefined) throw new CliError('E_UNREACHABLE', `the API server cannot be reached: ${error instanceof Error ? error.message : String(error)}`);
    throw apiError(error, { verb: 'list', resource: 'services', ...(namespace ? { namespace } : {}) });
  }
  printResult(options.output, report, () => formatRolloverStatus(report));
  return report.ok ? EXIT.pass : EXIT.fail;
}

async function readSecret(core: CoreV1Api, namespace: string, name: string): Promise<V1Secret> {
  return core.readNamespacedSecret({ namespace, name });
}

function casOf(secret: V1Secret): X509Certificate[] {
  const pem = Buffer.from(secret.data?.['ca.crt'] ?? secret.data?.['tls.crt'] ?? '', 'base64').toString();
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block));
}

function describe(error: unknown): string {
  const status = statusOf(error);
  return status === 403 ? `forbidden (${apiMessageOf(error)})` : status === 404 ? 'not found' : error instanceof Error ? error.message : String(error);
}
