// The source contract: where raw material comes from. A source only fetches bytes and says
// "maybe changed"; it never validates and never decides what is served (x509/ and live/ do).

/** Raw bytes by file name or Secret key (`tls.crt`, `tls.key`, `ca.crt`), not yet trusted. */
export type RawFiles = Readonly<Record<string, Buffer | undefined>>;

/** What a source found: files (not yet trusted), or the reason there is nothing yet. */
export type SourceRead =
  | { readonly present: true; readonly files: RawFiles }
  | { readonly present: false; readonly reason: string };

/** A mounted volume, a Secret through the API, a local CA. */
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

/** The two inputs of a live certificate: the serving Secret and the platform root CA. */
export interface MaterialSources {
  serving: MaterialSource;
  /** `service-root-ca`; undefined when there is none to follow. */
  ca: MaterialSource | undefined;
  /**
   * Lets go of what opening the sources took (the api source's shares of process-wide watchers)
   * when a start fails before their watches run; a watch lets go of its own when it ends. Safe
   * to call more than once.
   */
  release?(): Promise<void>;
}
