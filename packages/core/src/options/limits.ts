/** Default size bound of one file: far above any real chain, far below a mistake. */
export const DEFAULT_MAX_BYTES = 1024 * 1024;
/** Default allowed clock skew for notBefore: cert-manager stamps it with its own clock. */
export const DEFAULT_CLOCK_SKEW_MS = 5 * 60_000;
