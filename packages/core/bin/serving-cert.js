#!/usr/bin/env node
// The serving-cert command. Committed, not built: npm links a package's bin at install only if
// its file exists then, and in a checkout dist/ does not yet (npm ci, then npm run build).
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist/cli/main.js')) throw error;
  process.stderr.write('serving-cert: not built yet: run `npm run build` in the repository (dist/cli/main.js is missing)\n');
  process.exit(2);
}
process.exitCode = await cli.main(process.argv.slice(2));
