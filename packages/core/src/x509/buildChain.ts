import type { X509Certificate } from 'node:crypto';
import { certDate, describeName, distinguishedName } from './certInfo.js';
import { certificateFields } from './certificateFields.js';
import { Refusal, type Problem } from './refusal.js';
import { signatureVerifies } from './signatureCheck.js';
import { checkStrength } from './tlsChecks.js';

/** What {@link buildChain} needs besides the certificates. */
export interface ChainContext {
  now: Date;
  /** How far a notBefore may lie ahead (cert-manager stamps CAs with its own clock too). */
  clockSkewMs: number;
}

/**
 * Finds a path from `leaf` through `intermediates` (tls.crt after the leaf) to one of `anchors`
 * (ca.crt) that a TLS client would accept: each link's signature verifies, every issuer is a CA
 * (basicConstraints cA, keyCertSign when keyUsage is there), inside its validity window, within
 * its pathLenConstraint, with a key and (below the anchor) a signature strong enough.
 *
 * Linear in the input: candidates are indexed by subject name, filtered by key identifiers,
 * and each certificate is tried as an issuer at most once, so a bundle of decoys that share the
 * issuer's name costs one signature check each, not one per pair. Returns undefined when a path
 * was found, else the problems that ended the paths tried (empty when no issuer signed at all).
 */
export function buildChain(leaf: X509Certificate, intermediates: readonly X509Certificate[], anchors: readonly X509Certificate[], context: ChainContext): Problem[] | undefined {
  const bySubject = new Map<string, Array<{ cert: X509Certificate; anchor: boolean }>>();
  // Anchors first: a leaf issued by a CA of ca.crt needs no intermediate.
  for (const [list, anchor] of [[anchors, true], [intermediates, false]] as const) {
    for (const cert of list) {
      const key = certificateFields(cert).subjectKey;
      let entries = bySubject.get(key);
      if (!entries) bySubject.set(key, (entries = []));
      entries.push({ cert, anchor });
    }
  }
  const tried = new Set<X509Certificate>();
  const refusal = new Refusal();
  // Depth-first; a frame is a certificate whose issuer is sought, with the number of
  // intermediate CAs between it and the leaf (what pathLenConstraint counts).
  const stack: Array<{ cert: X509Certificate; intermediatesBelow: number }> = [{ cert: leaf, intermediatesBelow: 0 }];
  while (stack.length > 0) {
    const { cert, intermediatesBelow } = stack.pop()!;
    const fields = certificateFields(cert);
    for (const candidate of bySubject.get(fields.issuerKey) ?? []) {
      if (tried.has(candidate.cert)) continue;
      const candidateFields = certificateFields(candidate.cert);
      if (fields.authorityKeyId && candidateFields.subjectKeyId && fields.authorityKeyId !== candidateFields.subjectKeyId) continue;
      tried.add(candidate.cert);
      if (!signatureVerifies(cert, candidate.cert)) continue;
      if (!acceptableIssuer(candidate.cert, candidate.anchor, intermediatesBelow, context, refusal)) continue;
      if (candidate.anchor) return undefined;
      const selfIssued = candidateFields.subjectKey === candidateFields.issuerKey;
      stack.push({ cert: candidate.cert, intermediatesBelow: intermediatesBelow + (selfIssued ? 0 : 1) });
    }
  }
  return refusal.problems;
}

function acceptableIssuer(cert: X509Certificate, anchor: boolean, intermediatesBelow: number, context: ChainContext, refusal: Refusal): boolean {
  const fields = certificateFields(cert);
  const what = `the ${anchor ? 'CA' : 'intermediate'} ${describeName(distinguishedName(cert, 'subject'))} (serial ${cert.serialNumber}) in ${anchor ? 'ca.crt' : 'tls.crt'}`;
  const before = refusal.problems.length;
  if (!fields.basicConstraints?.ca) {
    refusal.add('E_CHAIN', `${what} signed the certificate below it but is not a CA (basicConstraints cA is not set)`);
  } else if (fields.keyUsage && !fields.keyUsage.has('keyCertSign')) {
    refusal.add('E_CHAIN', `${what} is a CA whose keyUsage does not allow keyCertSign, so it may not sign certificates`);
  }
  const pathLength = fields.basicConstraints?.pathLength;
  if (pathLength !== undefined && intermediatesBelow > pathLength) {
    refusal.add('E_CHAIN', `${what} allows ${pathLength} intermediate CA(s) below it (pathLenConstraint) and the chain has ${intermediatesBelow}`);
  }
  const notBefore = certDate(cert.validFrom);
  const notAfter = certDate(cert.validTo);
  if (notBefore.getTime() - context.clockSkewMs > context.now.getTime()) {
    refusal.add('E_NOT_YET_VALID', `${what} is not valid before ${notBefore.toISOString()}: check the issuer's clock or its notBefore`);
  }
  if (notAfter.getTime() < context.now.getTime()) {
    refusal.add('E_EXPIRED', `${what} expired at ${notAfter.toISOString()}: renew or replace that CA`);
  }
  checkStrength(cert, what, !anchor, refusal);
  return refusal.problems.length === before;
}
