/**
 * Why serving-cert refused material or could not start. Every code is a literal so that callers
 * can branch on it; the message says what to fix.
 */
export type ServingCertErrorCode =
  /** An option or the environment is missing or contradictory. */
  | 'E_CONFIG'
  /** A file or Secret key that must be there is not. */
  | 'E_MISSING'
  /** A file or Secret key is empty. */
  | 'E_EMPTY'
  /** A file or Secret key is larger than the size bound. */
  | 'E_TOO_LARGE'
  /** PEM, certificate or key cannot be parsed. */
  | 'E_PARSE'
  /** tls.key does not belong to the leaf of tls.crt. */
  | 'E_KEY_MISMATCH'
  /** The leaf (or a certificate of its chain) has expired. */
  | 'E_EXPIRED'
  /** The leaf's (or a CA of its chain's) notBefore is further in the future than the allowed clock skew. */
  | 'E_NOT_YET_VALID'
  /** The leaf does not cover a DNS name it must cover. */
  | 'E_DNS_NAME'
  /**
   * The leaf does not chain to the ca.crt of its own Secret, or the chain breaks a CA's
   * constraints (an issuer that is no CA, may not sign, or whose pathLenConstraint is exceeded).
   */
  | 'E_CHAIN'
  /** The leaf's keyUsage or extendedKeyUsage does not allow TLS serving (or client use, when asked). */
  | 'E_KEY_USAGE'
  /** A key or signature clients refuse: RSA under 2048 bits, an MD5 or SHA-1 signature. */
  | 'E_WEAK'
  /** A file holds more certificates than the count bound (10 in tls.crt, 200 in a CA bundle). */
  | 'E_TOO_MANY'
  /** Reading a file failed for another reason than its absence. */
  | 'E_IO'
  /** The certificate did not become available within timeoutMs. */
  | 'E_TIMEOUT'
  /** The handle was closed, or the start was aborted. */
  | 'E_CLOSED'
  /** The Kubernetes API refused an operation (403): the message names the verb, resource and object, and the Role that grants it. */
  | 'E_FORBIDDEN'
  /** A Kubernetes object that must exist does not (404), such as the Service. */
  | 'E_NOT_FOUND'
  /** The Service names another Secret than the `secretName` option; serving-cert never overwrites it. */
  | 'E_CONFLICT'
  /** Another failure of the Kubernetes API or the connection to it. */
  | 'E_API'
  /** A peer's certificate does not name who it should be (mTLS). */
  | 'E_PEER_IDENTITY'
  /**
   * A bug in serving-cert (or in something it calls), not a problem of the material: the
   * message names the exception and the log has its stack. Waiting cannot cure it, so a start
   * fails at once; please report it.
   */
  | 'E_INTERNAL';

/**
 * The error serving-cert throws, rejects with and emits. `details` never holds key material.
 */
export class ServingCertError extends Error {
  override readonly name = 'ServingCertError';
  readonly code: ServingCertErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ServingCertErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...options.details });
  }
}

/** True when `error` is a {@link ServingCertError}, optionally with the given code. */
export function isServingCertError(
  error: unknown,
  code?: ServingCertErrorCode,
): error is ServingCertError {
  return error instanceof ServingCertError && (code === undefined || error.code === code);
}

/**
 * Names what a refresh threw. OpenSSL's refusals of the material (its errors carry an
 * `ERR_OSSL_*` code or a `library`) are E_PARSE; a failed system call is E_IO; anything else
 * (a TypeError, a RangeError) is a bug of ours and must never read as bad material: E_INTERNAL.
 */
export function asServingCertError(error: unknown, description: string): ServingCertError {
  if (error instanceof ServingCertError) return error;
  const fields = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; library?: unknown; syscall?: unknown };
  const code = typeof fields.code === 'string' ? fields.code : undefined;
  const details = { source: description };
  if (code?.startsWith('ERR_OSSL') || code?.startsWith('ERR_SSL') || typeof fields.library === 'string') {
    return new ServingCertError('E_PARSE', `${description}: OpenSSL refused the material (${code ?? String(error)})`, { cause: error, details });
  }
  if (typeof fields.syscall === 'string') {
    return new ServingCertError('E_IO', `${description}: ${String(error)}`, { cause: error, details });
  }
  return new ServingCertError('E_INTERNAL',
    `${description}: an internal error in serving-cert, not a problem of the certificate (${String(error)}); ` +
    'please report it with the stack from the log', { cause: error, details });
}
