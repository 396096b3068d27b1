/** What went wrong, for a program to branch on; the message says what to do. */
export type TestkitErrorCode =
  /** kube-apiserver, etcd, the platform's binaries or the CRDs are not where the testkit looks. */
  | 'E_ASSETS_MISSING'
  /** The setup needs Go to build from Go modules and found none on PATH. */
  | 'E_NO_GO'
  /** `go mod download` or `go build` failed (the message ends with Go's own output). */
  | 'E_BUILD'
  /** A binary or a Go module is not the version this testkit release runs. */
  | 'E_VERSION'
  /** etcd, kube-apiserver, a platform process or the supervisor exited or could not start (the message has its log). */
  | 'E_START'
  /** Something the testkit waits for did not come in time (a process ready, a CRD Established, an issuer Ready). */
  | 'E_TIMEOUT'
  /** A call the testkit cannot honour as made (a bad volume path, a policy name that is not in the manifests). */
  | 'E_USAGE';

/** Every error the testkit's setup and asset lookup throw: a code, and a message that says what to do. */
export class TestkitError extends Error {
  override readonly name = 'TestkitError';

  constructor(readonly code: TestkitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The consumer-facing command that builds or finds what the testkit runs. */
export const SETUP_COMMAND = 'npx serving-cert-envtest';
