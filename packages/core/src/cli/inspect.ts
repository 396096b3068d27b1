import { X509Certificate } from 'node:crypto';
import { silentLogger } from '../logger.js';
import { mountedServingSecret } from '../sources/files/mountedSecrets.js';
import { isServingCertError, type ServingCertErrorCode } from '../errors.js';
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_BYTES } from '../options/limits.js';
import { validateServingBundle, type Problem } from '../x509/validateBundle.js';
import type { SourceRead } from '../sources/source.js';
import type { CertInfo } from '../types.js';
import { certInfoOf, describeName } from '../x509/certInfo.js';

/** Stable ids of the gate's checks, in the gate's order: what scripts key on (the titles are for people). */
export type CheckId = 'files' | 'parse' | 'key-match' | 'validity' | 'key-usage' | 'strength' | 'dns-names' | 'chain' | 'other';

/** One check of the validation gate, as `serving-cert inspect` reports it. */
export interface CheckResult {
  id: CheckId;
  title: string;
  status: 'pass' | 'fail' | 'skipped';
  /** Why it fails: serving-cert's error code and its message for each reason. */
  problems: Problem[];
}

export interface InspectReport {
  /** What was read: "files /etc/tls/certs", "secret shop/web-tls". */
  source: string;
  ok: boolean;
  /** The names the leaf was checked against (empty: not checked). */
  dnsNames: string[];
  certificate: CertInfo | undefined;
  checks: CheckResult[];
}

/** The gate's checks in its order; `stage` ones stop the gate when they fail (files, then parsing). */
interface Check {
  readonly id: CheckId;
  readonly title: string;
  readonly codes: readonly ServingCertErrorCode[];
  readonly stage?: true;
  readonly needsDnsNames?: true;
}
const CHECKS: readonly Check[] = [
  { id: 'files', title: 'tls.crt and tls.key are there, not empty, within the size bound', codes: ['E_MISSING', 'E_EMPTY', 'E_TOO_LARGE', 'E_IO'], stage: true },
  { id: 'parse', title: 'every PEM block parses, within the count bound', codes: ['E_PARSE', 'E_TOO_MANY'], stage: true },
  { id: 'key-match', title: 'tls.key belongs to the leaf', codes: ['E_KEY_MISMATCH'] },
  { id: 'validity', title: 'the leaf is inside its validity window', codes: ['E_EXPIRED', 'E_NOT_YET_VALID'] },
  { id: 'key-usage', title: 'its key usage allows TLS serving', codes: ['E_KEY_USAGE'] },
  { id: 'strength', title: 'its key and signatures are strong enough for clients', codes: ['E_WEAK'] },
  { id: 'dns-names', title: 'the leaf covers the expected DNS names', codes: ['E_DNS_NAME'], needsDnsNames: true },
  { id: 'chain', title: 'the leaf chains to ca.crt', codes: ['E_CHAIN'] },
];

/** Reads DIR as serving-cert does (through ..data) and runs each check of the gate. */
export async function inspect(dir: string, dnsNames: string[]): Promise<InspectReport> {
  const source = mountedServingSecret(dir, { pollIntervalMs: 60_000, logger: silentLogger });
  return inspectMaterial(source.description, () => source.read(new AbortController().signal), dnsNames);
}

/** Runs the validation gate on what `read` finds (a folder, a Secret) and reports each check. */
export async function inspectMaterial(source: string, read: () => Promise<SourceRead>, dnsNames: string[]): Promise<InspectReport> {
  let problems: Problem[] = [];
  let certificate: CertInfo | undefined;
  try {
    const found = await read();
    if (!found.present) {
      problems = [{ code: 'E_MISSING', message: found.reason }];
    } else {
      try {
        certificate = validateServingBundle(found.files, { dnsNames, clockSkewMs: DEFAULT_CLOCK_SKEW_MS, maxBytes: DEFAULT_MAX_BYTES, description: source }, new Date()).info;
      } catch (error) {
        if (!isServingCertError(error)) throw error;
        problems = (error.details.problems as Problem[] | undefined) ?? [{ code: error.code, message: error.message }];
        certificate = leafInfo(found.files['tls.crt']);
      }
    }
  } catch (error) {
    if (!isServingCertError(error)) throw error;
    problems = [{ code: error.code, message: error.message }];
  }
  // The gate stops at the first stage that fails (files, then parsing, then the rest).
  const fails = ({ codes }: Check): boolean => problems.some((problem) => codes.includes(problem.code));
  const stoppedAt = CHECKS.findIndex((check) => check.stage && fails(check));
  const checks = CHECKS.map((spec, index): CheckResult => {
    const { id, title, codes } = spec;
    const found = problems.filter((problem) => codes.includes(problem.code)).map(({ code, message }) => ({ code, message }));
    if (found.length > 0) return { id, title, status: 'fail', problems: found };
    if (stoppedAt !== -1 && index > stoppedAt) return { id, title, status: 'skipped', problems: [] };
    if (spec.needsDnsNames && dnsNames.length === 0) return { id, title: `${title} (none given: pass --service and --namespace)`, status: 'skipped', problems: [] };
    return { id, title, status: 'pass', problems: [] };
  });
  // A reason no check names (a gate code added later) still shows, and fails the report.
  const unplaced = problems.filter((problem) => !CHECKS.some(({ codes }) => codes.includes(problem.code)));
  if (unplaced.length > 0) checks.push({ id: 'other', title: 'other reasons', status: 'fail', problems: unplaced });
  return { source, ok: problems.length === 0, dnsNames, certificate, checks };
}

/** The facts of the first certificate, when it parses, to show beside the failed checks. */
function leafInfo(bytes: Buffer | undefined): CertInfo | undefined {
  if (!bytes) return undefined;
  try {
    return certInfoOf(new X509Certificate(bytes));
  } catch {
    return undefined;
  }
}

/** The report as lines for a terminal. */
export function formatInspect(report: InspectReport): string {
  const lines = [`serving-cert inspect ${report.source}`];
  const cert = report.certificate;
  if (cert) {
    lines.push(`  subject      ${describeName(cert.subject)}`, `  issuer       ${describeName(cert.issuer, 'issuer')}`, `  serial       ${cert.serialNumber}`,
      `  DNS names    ${cert.dnsNames.join(', ') || '(none)'}`, `  not before   ${cert.notBefore.toISOString()}`,
      `  not after    ${cert.notAfter.toISOString()}`, `  sha256       ${cert.fingerprint256}`);
  }
  if (report.dnsNames.length > 0) lines.push(`  checked for  ${report.dnsNames.join(', ')}`);
  lines.push('');
  for (const check of report.checks) {
    lines.push(`  ${check.status === 'pass' ? 'PASS' : check.status === 'fail' ? 'FAIL' : 'SKIP'}  ${check.title}`);
    for (const problem of check.problems) lines.push(`        ${problem.message}`);
  }
  lines.push('', report.ok ? 'valid: serving-cert would serve this' : 'invalid: serving-cert would refuse this');
  return lines.join('\n');
}
