import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
// The same rules `npm run lint` applies (eslint.config.js spreads them).
import { coreLayering } from '../../../eslint.layering.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const eslint = new ESLint({
  cwd: root,
  overrideConfigFile: true,
  overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser }, plugins: { '@typescript-eslint': tseslint.plugin } }, ...coreLayering()],
});

async function problemsOf(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}packages/core/src/${file}` });
  return result!.messages.map((message) => `${message.ruleId ?? 'parse'}: ${message.message}`);
}

describe("lint keeps core's data path one way", () => {
  it.each([
    ['x509 importing live', 'x509/bad.ts', "import { LiveServingCert } from '../live/liveServingCert.js';\nvoid LiveServingCert;", 'comes earlier in core\'s data path'],
    ['sources importing the gate', 'sources/files/bad.ts', "import { validateServingBundle } from '../../x509/validateBundle.js';\nvoid validateServingBundle;", 'sources/ comes earlier'],
    ['options importing kube', 'options/bad.ts', "import { ClusterAccess } from '../kube/clusterAccess.js';\nvoid ClusterAccess;", 'options/ comes earlier'],
    ['serve importing the live class', 'serve/bad.ts', "import { LiveServingCert } from '../live/liveServingCert.js';\nvoid LiveServingCert;", 'serve/ comes earlier'],
    ['a base file importing a stage', 'types.ts', "import { certInfoOf } from './x509/certInfo.js';\nvoid certInfoOf;", 'a base file comes earlier'],
    ['a source loading pki statically', 'sources/local/bad.ts', "import { CertificateAuthority } from '../../pki/certificateAuthority.js';\nvoid CertificateAuthority;", 'reached only through import()'],
    ['the gate loading client-node', 'x509/bad.ts', "import { KubeConfig } from '@kubernetes/client-node';\nvoid KubeConfig;", 'loaded only by the folder that needs it'],
    ['live loading undici', 'live/bad.ts', "import { Agent } from 'undici';\nvoid Agent;", 'loaded only by the folder that needs it'],
    ['live importing observe', 'live/bad.ts', "import { channelsObserver } from '../observe/channels.js';\nvoid channelsObserver;", 'live/ comes earlier'],
    ['serve loading the OpenTelemetry API', 'serve/bad.ts', "import { metrics } from '@opentelemetry/api';\nvoid metrics;", 'loaded only by the folder that needs it'],
  ])('refuses %s', async (_label, file, code, message) => {
    const problems = await problemsOf(file, code);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('@typescript-eslint/no-restricted-imports');
    expect(problems[0]).toContain(message);
  });

  it.each([
    ['live importing the gate and the source contract', 'live/ok.ts', "import { validateServingBundle } from '../x509/validateBundle.js';\nimport type { MaterialSource } from '../sources/source.js';\nexport const x: MaterialSource | undefined = undefined;\nvoid validateServingBundle;"],
    ['a source naming pki types only', 'sources/local/ok.ts', "import type { CertificateAuthority } from '../../pki/certificateAuthority.js';\nexport const x: CertificateAuthority | undefined = undefined;"],
    ['the api source using client-node', 'sources/api/ok.ts', "import { CoreV1Api } from '@kubernetes/client-node';\nvoid CoreV1Api;"],
    ['connect using serve and undici', 'connect/ok.ts', "import { Agent } from 'undici';\nimport { peerIdentity } from '../serve/peerIdentity.js';\nvoid Agent; void peerIdentity;"],
    ['observe using the OpenTelemetry API and live', 'observe/ok.ts', "import { metrics } from '@opentelemetry/api';\nimport type { LiveObserver } from '../live/observer.js';\nexport const x: LiveObserver | undefined = undefined;\nvoid metrics;"],
    ['the root wiring anything', 'ensureServingCert.ts', "import { LiveServingCert } from './live/liveServingCert.js';\nimport { ClusterAccess } from './kube/clusterAccess.js';\nvoid LiveServingCert; void ClusterAccess;"],
  ])('allows %s', async (_label, file, code) => {
    expect(await problemsOf(file, code)).toEqual([]);
  });
});
