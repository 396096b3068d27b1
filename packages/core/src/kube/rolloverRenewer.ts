import { X509Certificate } from 'node:crypto';
import { ServingCertError } from '../errors.js';
import type { Logger } from '../logger.js';
import { followCertificate, type ServingCert } from '../types.js';
import type { ClusterAccess } from './clusterAccess.js';
import { requestReissue, type ReissueRequest } from './requestReissue.js';

/** What {@link renewOnRollover} needs. */
export interface RolloverRenewerOptions {
  access: ClusterAccess;
  namespace: string;
  secretName: string;
  serviceName: string | undefined;
  /** The request goes out at a random moment within this window after the CA change (0: at once). */
  windowMs: number;
  logger: Logger;
  /** For tests and benchmarks: the request itself. Default {@link requestReissue}. */
  request?: () => Promise<ReissueRequest>;
}

/**
 * After a platform CA rollover, asks cert-manager once to re-issue this service's leaf (the
 * `cmctl renew` way), so that the rollover converges in minutes instead of at the leaf's own
 * renewal (weeks away). Watches the handle's trust and rotations: when the platform root CA
 * (`service-root-ca`) names CAs and none of them signed the served leaf, a request is planned
 * at a random moment within `windowMs` (a thousand pods do not ask in the same second), and
 * made then if the leaf has still not moved. Once per leaf. A refusal is a warning that names
 * the missing rule; nothing else changes (the old CA stays trusted until the leaf renews).
 * Returns the function that stops it.
 */
export function renewOnRollover(cert: ServingCert, options: RolloverRenewerOptions): () => void {
  const { logger, windowMs } = options;
  const request = options.request ?? (() => requestReissue(options.access, options));
  const asked = new Set<string>(); // leaf fingerprints already asked for: once per leaf
  const warned = new Set<string>();
  let planned: { leaf: string; timer: NodeJS.Timeout } | undefined;
  let stopped = false;

  const cancel = (): void => {
    clearTimeout(planned?.timer);
    planned = undefined;
  };
  /** The served leaf, when it is left over from a rollover (no platform CA signed it). */
  const staleLeaf = (): X509Certificate | undefined => {
    const { trust, current } = cert;
    const platform = new Set((trust.platform ?? []).map((ca) => ca.fingerprint256));
    if (platform.size === 0) return undefined; // no platform CA known: nothing to compare with
    const leaf = new X509Certificate(current.certPem);
    const cas = splitPem(trust.pem).map((pem) => new X509Certificate(pem)).filter((ca) => platform.has(ca.fingerprint256));
    return cas.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey)) ? undefined : leaf;
  };
  const check = (): void => {
    if (stopped) return;
    let leaf: X509Certificate | undefined;
    try {
      leaf = staleLeaf();
    } catch (error) {
      if (error instanceof ServingCertError && error.code === 'E_CLOSED') return stop();
      throw error;
    }
    if (!leaf) return cancel(); // on the current CA (again): nothing to ask
    if (asked.has(leaf.fingerprint256) || planned?.leaf === leaf.fingerprint256) return;
    cancel();
    const delayMs = Math.floor(Math.random() * windowMs);
    logger.info({ serial: leaf.serialNumber, delayMs }, `the served leaf (serial ${leaf.serialNumber}) is not signed by the current platform root CA: ` +
      `asking cert-manager to re-issue it in ${(delayMs / 1000).toFixed(1)} s (a random moment within ${windowMs / 1000} s)`);
    const fingerprint = leaf.fingerprint256;
    const timer = setTimeout(() => void fire(fingerprint), delayMs);
    timer.unref(); // never what keeps a process alive
    planned = { leaf: fingerprint, timer };
  };
  const fire = async (fingerprint: string): Promise<void> => {
    planned = undefined;
    let leaf: X509Certificate | undefined;
    try {
      leaf = staleLeaf();
    } catch {
      return stop(); // closed meanwhile
    }
    if (stopped || leaf?.fingerprint256 !== fingerprint) return; // it moved meanwhile (renewed on its own)
    asked.add(fingerprint);
    try {
      const done = await request();
      logger.info({ certificate: done.certificate, serial: leaf.serialNumber, requested: done.requested }, done.requested
        ? `asked cert-manager to re-issue Certificate ${options.namespace}/${done.certificate} (Issuing=True, ManuallyTriggered): its leaf was signed by a retired platform CA`
        : `Certificate ${options.namespace}/${done.certificate} is already being issued: not asking again`);
    } catch (error) {
      const failure = error instanceof ServingCertError ? error : new ServingCertError('E_API', String(error), { cause: error });
      if (warned.has(failure.code)) return;
      warned.add(failure.code);
      logger.warn({ code: failure.code, serial: leaf.serialNumber }, `cannot ask cert-manager to re-issue this leaf after the platform CA rollover: ${failure.message}. ` +
        'Nothing else changes: the retired CA stays trusted, and the leaf moves at its own renewal');
    }
  };
  const unfollow = [followCertificate(cert, 'trust', check), followCertificate(cert, 'rotate', check)];
  function stop(): void {
    stopped = true;
    cancel();
    for (const off of unfollow) off();
  }
  check();
  return stop;
}

function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}
