// The serving-cert command: inspect a certificate folder or Secret, check a cluster, print the
// manifests. bin/serving-cert.js runs main(). A command is `(args) => Promise<exit code>`: it
// calls parseCommand(args, { its own flags }) for the common options (-n, -A, -o, --kubeconfig,
// --context), clusterFor(options) (imported lazily) for the cluster, printResult for its output,
// and throws UsageError or CliError; main prints those (JSON on stdout when asked) with exit 2.
import { readFileSync, readdirSync } from 'node:fs';
import { isServingCertError } from '../errors.js';
import { CliError, parseCommand, requestedOutput, UsageError, type OutputFormat } from './args.js';
import { doctorCommand } from './doctorCommand.js';
import { COMMAND_HELP, helpOf } from './help.js';
import { inspectCommand } from './inspectCommand.js';
import { EXIT, printError, printResult } from './output.js';

/** Runs the command line `argv` (without node and the script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const format = requestedOutput(argv);
  const known = command !== undefined && Object.hasOwn(COMMAND_HELP, command) ? command as keyof typeof COMMAND_HELP : undefined;
  try {
    if (known && (rest.includes('--help') || rest.includes('-h'))) return help(known);
    switch (command) {
      case 'inspect': return await inspectCommand(rest);
      case 'doctor': return await doctorCommand(rest);
      case 'manifests': return manifestsCommand(rest);
      // Loaded only here, with @kubernetes/client-node.
      case 'rollover': return await (await import('./rollover.js')).rolloverCommand(rest);
      case '--version':
      case 'version': {
        const { options } = parseCommand(rest);
        const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
        printResult(options.output, { version }, () => version);
        return EXIT.pass;
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h': {
        const about = rest[0];
        if (about !== undefined && !Object.hasOwn(COMMAND_HELP, about)) throw new UsageError(`no help for "${about}": the commands are ${Object.keys(COMMAND_HELP).join(', ')}`);
        return help(about as keyof typeof COMMAND_HELP | undefined);
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    return failed(error, format, known);
  }
}

function help(command?: keyof typeof COMMAND_HELP): number {
  process.stdout.write(`${helpOf(command)}\n`);
  return EXIT.pass;
}

/** Every error of the command: on stderr, and as a JSON (or YAML) error object on stdout when asked. Exit 2. */
function failed(error: unknown, format: OutputFormat, command: keyof typeof COMMAND_HELP | undefined): number {
  if (error instanceof UsageError) {
    printError(format, error.code, error.message, `${helpOf(command)}`.split('\n\nflags of every command')[0] + `\n(serving-cert ${command ?? ''}${command ? ' ' : ''}--help for the flags)`);
  } else if (error instanceof CliError || isServingCertError(error)) {
    printError(format, error.code, error.message);
  } else {
    printError(format, 'E_INTERNAL', `an internal error of serving-cert (${error instanceof Error ? error.stack ?? error.message : String(error)}); please report it`);
  }
  return EXIT.usageOrNoCluster;
}

/** `serving-cert manifests [platform|app]`: the YAML of deploy/ (shipped in the package). */
function manifestsCommand(args: string[]): number {
  const { options, positionals } = parseCommand(args);
  if (options.output === 'json') throw new UsageError('manifests prints YAML: -o json does not apply');
  const which = positionals[0] ?? 'platform';
  const base = new URL('../../deploy/', import.meta.url);
  const files = which === 'platform'
    ? readdirSync(new URL('platform/', base)).filter((file) => file.endsWith('.yaml')).sort().map((file) => new URL(`platform/${file}`, base))
    : which === 'app' ? [new URL('app-rbac.yaml', base), new URL('example-app.yaml', base)] : undefined;
  if (!files || positionals.length > 1) throw new UsageError(`manifests takes platform or app, not "${positionals.join(' ')}"`);
  process.stdout.write(files.map((file) => readFileSync(file, 'utf8').trimEnd()).join('\n---\n') + '\n');
  return EXIT.pass;
}
