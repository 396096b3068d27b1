/** Default size bound of one file: far above any real chain, far below a mistake. */
export const DEFAULT_MAX_BYTES = 1024 * 1024;
/** Default allowed clock skew for notBefore: cert-manager stamps it with its own clock. */
export const DEFAULT_CLOCK_SKEW_MS = 5 * 60_000;
/** Most certificates a tls.crt holds: a leaf and a few intermediates; more is not a chain. */
export const MAX_CHAIN_CERTIFICATES = 10;
/** Most certificates a CA bundle (ca.crt) holds: a few roots during rollovers, far below this. */
export const MAX_CA_CERTIFICATES = 200;
