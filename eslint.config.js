// Linting for every workspace; each package runs `eslint .` from its own folder, and the root's
// `npm run lint` adds the repository's own scripts (scripts/, tools/). TypeScript gets the
// type-aware rules; the .mjs scripts get plain JavaScript rules with Node's globals.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { coreLayering } from './eslint.layering.js';

const typeScriptFiles = ['**/*.ts'];

export default tseslint.config(
  // scripts/consumer/*.ts is type-checked by check-packages.mjs in a project of its own, against the tarballs.
  { ignores: ['**/dist/**', '**/node_modules/**', '**/*.js', '**/vitest.config.ts', 'scripts/consumer/*.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked.map((config) => ({ ...config, files: config.files ?? typeScriptFiles })),
  {
    files: typeScriptFiles,
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...coreLayering(),
  {
    // Scripts run by Node as they are (build steps, CI's summary, envtest's setup, test fixtures
    // started as child processes, bench peers): no types, Node's globals.
    files: ['**/*.mjs'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.node } },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Fastify's convention: plugins, hooks and handlers are async functions, awaiting or not.
    files: ['packages/fastify-adapter/**/*.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    files: ['**/test/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      // vitest's asymmetric matchers (expect.any, expect.arrayContaining) are typed any.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
);
