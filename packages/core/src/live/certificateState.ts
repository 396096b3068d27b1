import * as tls from 'node:tls';
import type { Logger } from '../logger.js';
import type { CertificateState } from '../types.js';
import type { ValidServingBundle } from '../x509/validateBundle.js';

/** The public state of a valid bundle, with the trust bundle of the moment. Frozen. */
export function certificateStateOf(bundle: ValidServingBundle, trustPem: string): CertificateState {
  let context: tls.SecureContext | undefined;
  return Object.freeze({
    certPem: bundle.certPem,
    keyPem: bundle.keyPem,
    caPem: bundle.caPem,
    info: bundle.info,
    // Built on first use: servers get contexts of their own from setSecureContext, and a
    // rotation should not pay for one nobody asked for.
    get secureContext() {
      // With no CA known, an empty store: no ca at all would mean Node's public roots.
      context ??= tls.createSecureContext({ key: bundle.keyPem, cert: bundle.certPem, ca: trustPem === '' ? [] : trustPem });
      return context;
    },
  });
}

/** Logs a first certificate or a rotation: public facts only, never key material. */
export function logServed(logger: Logger, description: string, state: CertificateState, previous: CertificateState | undefined): void {
  if (previous) {
    logger.info({ ...factsOf(description, state), previousSerial: previous.info.serialNumber }, `${description}: serving certificate rotated`);
  } else {
    logger.info({ ...factsOf(description, state), dnsNames: state.info.dnsNames }, `${description}: serving certificate loaded`);
  }
}

/** The fields every log line about a served certificate carries: public facts, never key material. */
export function factsOf(source: string, state: CertificateState): Record<string, unknown> {
  return { source, serial: state.info.serialNumber, notAfter: state.info.notAfter.toISOString() };
}
