// The direction of dependency inside @serving-cert/core (design section 1): the data flows
// options -> kube -> sources -> x509 -> live -> serve/connect; observe/ (metrics, diagnostics
// channels, Events) listens to live/ and is wired by the root files. A folder may import the folders
// before it and the base files (errors, logger, types), never one after it. Type-only imports
// of pki and of heavy packages are allowed (they cost nothing at run time); a value import
// outside their own place is not: node-forge loads only when something issues, client-node
// only when a cluster is used, undici only when a dispatcher is made (connect/loadUndici.ts,
// synchronously), the others through import().

const FOLDERS = ['options', 'kube', 'sources', 'x509', 'live', 'observe', 'serve', 'connect', 'webhook', 'cli', 'pki'];

/** What each place may import besides the base files; every other folder of core is refused. */
const LAYERS = {
  base: { files: ['errors.ts', 'logger.ts', 'types.ts'], may: [], heavy: [] },
  options: { files: ['options/**/*.ts'], may: [], heavy: [] },
  kube: { files: ['kube/**/*.ts'], may: ['options'], heavy: ['@kubernetes/client-node'] },
  sources: { files: ['sources/*.ts', 'sources/files/**/*.ts', 'sources/local/**/*.ts'], may: ['options', 'kube'], heavy: ['chokidar'] },
  'sources/api': { files: ['sources/api/**/*.ts'], may: ['options', 'kube'], heavy: ['@kubernetes/client-node'] },
  x509: { files: ['x509/**/*.ts'], may: ['options', 'sources'], heavy: [] },
  live: { files: ['live/**/*.ts'], may: ['options', 'sources', 'x509'], heavy: [] },
  // kube/ only for its types: the Events recorder (client-node) comes through import().
  observe: { files: ['observe/**/*.ts'], may: ['options', 'kube', 'x509', 'live'], heavy: ['@opentelemetry/api'] },
  serve: { files: ['serve/**/*.ts'], may: ['options', 'x509'], heavy: [] },
  connect: { files: ['connect/**/*.ts'], may: ['options', 'x509', 'serve'], heavy: ['undici'] },
  // A subpath export of its own (@serving-cert/core/webhook): it may load client-node.
  webhook: { files: ['webhook/**/*.ts'], may: ['options', 'kube', 'sources', 'x509', 'live'], heavy: ['@kubernetes/client-node'] },
  pki: { files: ['pki/**/*.ts'], may: ['pki'], heavy: ['node-forge'] },
};
const HEAVY = ['@kubernetes/client-node', 'node-forge', 'undici', 'chokidar', '@opentelemetry/api'];

function patternsOf(name, layer) {
  const own = name.split('/')[0];
  const refused = FOLDERS.filter((folder) => folder !== own && !layer.may.includes(folder));
  const path = name === 'base' ? 'a base file' : `${name}/`;
  const patterns = [{
    group: refused.filter((folder) => folder !== 'pki').flatMap((folder) => [`**/${folder}/*`, `**/${folder}/**`]),
    message: `${path} comes earlier in core's data path (options -> kube -> sources -> x509 -> live -> serve/connect): ` +
      `it may import ${['the base files', ...layer.may].join(', ')}, not a later stage`,
  }];
  if (refused.includes('pki')) {
    patterns.push({ group: ['**/pki/*', '**/pki/**'], allowTypeImports: true,
      message: 'pki (node-forge) is reached only through import(), so that a start that issues nothing never loads it' });
  }
  for (const heavy of HEAVY.filter((pkg) => !layer.heavy.includes(pkg))) {
    patterns.push({ group: [heavy, `${heavy}/*`], allowTypeImports: true,
      message: `${heavy} is loaded only by the folder that needs it, through import() from anywhere else` });
  }
  return patterns.filter((pattern) => pattern.group.length > 0);
}

/** Flat-config entries, one per place of packages/core/src (the root files and cli/ import freely). */
export function coreLayering(root = 'packages/core/src') {
  return Object.entries(LAYERS).map(([name, layer]) => ({
    files: layer.files.map((file) => `${root}/${file}`),
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: patternsOf(name, layer) }] },
  }));
}
