import type { RawFiles } from '../x509/validateBundle.js';

/** What a source found: files (not yet trusted), or the reason there is nothing yet. */
export type SourceRead =
  | { readonly present: true; readonly files: RawFiles }
  | { readonly present: false; readonly reason: string };

/**
 * Where raw material comes from: a mounted volume, a Secret through the API, a local CA. A
 * source only fetches bytes and says "maybe changed"; it never validates and never decides
 * what is served.
 */
export interface MaterialSource {
  /** For messages: "files /etc/tls/certs", "secret shop/web-tls". */
  readonly description: string;
  /** Reads the current material. Throws a ServingCertError for an I/O failure. */
  read(signal: AbortSignal): Promise<SourceRead>;
  /**
   * Calls `onMaybeChanged` when the material may have changed, until `signal` aborts. The
   * promise settles once every watcher and timer is released after the abort.
   */
  watch(onMaybeChanged: () => void, signal: AbortSignal): Promise<void>;
}
