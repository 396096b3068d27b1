import { X509Certificate } from 'node:crypto';
import { silentLogger } from '../logger.js';
import { mountedServingSecret } from '../sources/files/mountedSecrets.js';
import { isServingCertError, type ServingCertErrorCode } from '../errors.js';
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_BYTES } from '../options/limits.js';
import { validateServingBundle, type Problem } from '../x509/validateBundle.js';
import type { CertInfo } from '../types.js';
import { certInfoOf, describeName } from '../x509/certInfo.js';

/** One check of the validation gate, as `serving-cert inspect` reports it. */
export interface CheckResult {
  check: string;
  status: 'pass' | 'fail' | 'skipped';
  problems: string[];
}

export interface InspectReport {
  dir: string;
  ok: boolean;
  certificate: CertInfo | undefined;
  checks: CheckResult[];
}

/** The gate's checks in its order; `stage` ones stop the gate when they fail (files, then parsing). */
interface Check {
  readonly check: string;
  readonly codes: readonly ServingCertErrorCode[];
  readonly stage?: true;
  readonly needsDnsNames?: true;
}
const CHECKS: readonly Check[] = [
  { check: 'tls.crt and tls.key are there, not empty, within the size bound', codes: ['E_MISSING', 'E_EMPTY', 'E_TOO_LARGE', 'E_IO'], stage: true },
  { check: 'every PEM block parses', codes: ['E_PARSE'], stage: true },
  { check: 'tls.key belongs to the leaf', codes: ['E_KEY_MISMATCH'] },
  { check: 'the leaf is inside its validity window', codes: ['E_EXPIRED', 'E_NOT_YET_VALID'] },
  { check: 'the leaf covers the expected DNS names', codes: ['E_DNS_NAME'], needsDnsNames: true },
  { check: 'the leaf chains to ca.crt', codes: ['E_CHAIN'] },
];

/** Reads DIR as serving-cert does (through ..data) and runs each check of the gate. */
export async function inspect(dir: string, dnsNames: string[]): Promise<InspectReport> {
  const source = mountedServingSecret(dir, { pollIntervalMs: 60_000, logger: silentLogger });
  let problems: Problem[] = [];
  let certificate: CertInfo | undefined;
  try {
    const read = await source.read(new AbortController().signal);
    if (!read.present) {
      problems = [{ code: 'E_MISSING', message: read.reason }];
    } else {
      try {
        certificate = validateServingBundle(read.files, { dnsNames, clockSkewMs: DEFAULT_CLOCK_SKEW_MS, maxBytes: DEFAULT_MAX_BYTES, description: `files ${dir}` }, new Date()).info;
      } catch (error) {
        if (!isServingCertError(error)) throw error;
        problems = (error.details.problems as Problem[] | undefined) ?? [{ code: error.code, message: error.message }];
        certificate = leafInfo(read.files['tls.crt']);
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
    const { check, codes } = spec;
    const found = problems.filter((problem) => codes.includes(problem.code)).map((problem) => problem.message);
    if (found.length > 0) return { check, status: 'fail', problems: found };
    if (stoppedAt !== -1 && index > stoppedAt) return { check, status: 'skipped', problems: [] };
    if (spec.needsDnsNames && dnsNames.length === 0) return { check: `${check} (none given: pass --service and --namespace)`, status: 'skipped', problems: [] };
    return { check, status: 'pass', problems: [] };
  });
  return { dir, ok: problems.length === 0, certificate, checks };
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
  const lines = [`serving-cert inspect ${report.dir}`];
  const cert = report.certificate;
  if (cert) {
    lines.push(`  subject      ${describeName(cert.subject)}`, `  issuer       ${describeName(cert.issuer, 'issuer')}`, `  serial       ${cert.serialNumber}`,
      `  DNS names    ${cert.dnsNames.join(', ') || '(none)'}`, `  not before   ${cert.notBefore.toISOString()}`,
      `  not after    ${cert.notAfter.toISOString()}`, `  sha256       ${cert.fingerprint256}`);
  }
  lines.push('');
  for (const check of report.checks) {
    lines.push(`  ${check.status === 'pass' ? 'PASS' : check.status === 'fail' ? 'FAIL' : 'SKIP'}  ${check.check}`);
    for (const problem of check.problems) lines.push(`        ${problem}`);
  }
  lines.push('', report.ok ? 'valid: serving-cert would serve this' : 'invalid: serving-cert would refuse this');
  return lines.join('\n');
}
