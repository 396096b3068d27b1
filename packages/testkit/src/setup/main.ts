// npx serving-cert-envtest [--control-plane-only]: builds or finds what the testkit runs.
// Exit codes: 0 ready, 1 the setup failed (the message says what to do), 2 usage.
import { parseArgs } from 'node:util';
import { TestkitError } from '../errors.js';
import { setupEnvtest } from './setup.js';

const USAGE = `usage: serving-cert-envtest [--control-plane-only]

Builds kube-apiserver and etcd, and the real platform (the cert-manager controller, Kyverno's
admission and background controllers) from Go modules (Go 1.26 needed), and copies cert-manager's
and Kyverno's CRDs, into ~/.cache/serving-cert/envtest (or $SERVING_CERT_ENVTEST_DIR), where
@serving-cert/testkit finds them. The first run takes 10 to 20 minutes on 2 cores; later runs
check the cache and return in seconds.

  --control-plane-only   only kube-apiserver and etcd (enough for startControlPlane)

KUBEBUILDER_ASSETS (a folder with kube-apiserver and etcd, as setup-envtest makes), or
TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD, skip the control plane build;
SERVING_CERT_PLATFORM_BIN (a folder with the platform's three binaries) skips the platform build.
`;

try {
  const { values } = parseArgs({ options: { 'control-plane-only': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(USAGE);
  } else {
    await setupEnvtest({ platform: !values['control-plane-only'] });
  }
} catch (error) {
  const usage = error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS');
  if (usage) {
    process.stderr.write(`serving-cert-envtest: ${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    const code = error instanceof TestkitError ? `${error.code}: ` : '';
    process.stderr.write(`serving-cert-envtest: ${code}${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
