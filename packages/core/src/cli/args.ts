import { parseArgs, type ParseArgsConfig } from 'node:util';

/** How a command prints its result: `-o text|json|yaml` (`--json` is `-o json`). */
export type OutputFormat = 'text' | 'json' | 'yaml';
const FORMATS: readonly OutputFormat[] = ['text', 'json', 'yaml'];

/** The flags every subcommand takes, kubectl's names; what each subcommand receives. */
export interface CommonOptions {
  /** `-n/--namespace`: unset means the subcommand's default (POD_NAMESPACE, then the kubeconfig context's). */
  namespace?: string;
  /** `-A/--all-namespaces`. */
  allNamespaces: boolean;
  output: OutputFormat;
  /** `--kubeconfig FILE`: instead of KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  /** `--context NAME`: a context of the kubeconfig other than its current one. */
  context?: string;
}

type Specs = NonNullable<ParseArgsConfig['options']>;

const COMMON: Specs = {
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A', default: false },
  output: { type: 'string', short: 'o' },
  json: { type: 'boolean', default: false },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
};

/** Stable codes of the command's own errors (the checks carry serving-cert's E_* codes). */
export type CliErrorCode = 'E_USAGE' | 'E_NO_CLUSTER' | 'E_UNREACHABLE';

/** An error of the command itself, with a stable code: exit 2. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(readonly code: CliErrorCode, message: string) {
    super(message);
  }
}

/** Neither a pod nor a kubeconfig (nor --kubeconfig): exit 2, E_NO_CLUSTER. */
export function noCluster(): CliError {
  return new CliError('E_NO_CLUSTER', 'no cluster: not in a pod, and no KUBECONFIG or ~/.kube/config (pass --kubeconfig FILE)');
}

/** A command line that cannot be run as written: exit 2, with the usage of the command. */
export class UsageError extends CliError {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

/** One subcommand's command line: the common options, its own flags, its positionals. */
export interface ParsedCommand<Flags extends string> {
  options: CommonOptions;
  flags: Partial<Record<Flags, string | boolean>>;
  positionals: string[];
  help: boolean;
}

/**
 * Parses `args` (what follows the subcommand name) with the common flags and `own` flags
 * (all strings, as `--service web`). Unknown flags, a bad `-o`, a missing value: UsageError.
 */
export function parseCommand<Flags extends string>(args: string[], own: Record<Flags, 'string' | 'boolean'> = {} as Record<Flags, 'string' | 'boolean'>): ParsedCommand<Flags> {
  const specs: Specs = { ...COMMON };
  for (const [name, type] of Object.entries<'string' | 'boolean'>(own)) specs[name] = { type };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: specs, allowPositionals: true, strict: true });
  } catch (error) {
    // node's messages name the flag ("Unknown option '--frob'"); its hints about '--' do not apply here.
    throw new UsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  // kubectl takes -o=json and -n=shop; node's parser keeps the '=' of a short flag's value.
  for (const name of ['output', 'namespace']) if (typeof values[name] === 'string') values[name] = values[name].replace(/^=/, '');
  const output = outputOf(values.output as string | undefined, values.json === true);
  const options: CommonOptions = {
    allNamespaces: values['all-namespaces'] === true,
    output,
    ...(typeof values.namespace === 'string' ? { namespace: nonEmpty(values.namespace, '--namespace') } : {}),
    ...(typeof values.kubeconfig === 'string' ? { kubeconfig: nonEmpty(values.kubeconfig, '--kubeconfig') } : {}),
    ...(typeof values.context === 'string' ? { context: nonEmpty(values.context, '--context') } : {}),
  };
  if (options.allNamespaces && options.namespace !== undefined) throw new UsageError('-A/--all-namespaces and -n/--namespace exclude each other');
  const flags: Partial<Record<Flags, string | boolean>> = {};
  for (const name of Object.keys(own) as Flags[]) {
    const value = values[name];
    if (value !== undefined) flags[name] = typeof value === 'string' ? nonEmpty(value, `--${name}`) : value;
  }
  return { options, flags, positionals: parsed.positionals, help: values.help === true };
}

function outputOf(output: string | undefined, json: boolean): OutputFormat {
  if (output === undefined) return json ? 'json' : 'text';
  if (!FORMATS.includes(output as OutputFormat)) throw new UsageError(`-o/--output takes ${FORMATS.join(', ')}, not "${output}"`);
  if (json && output !== 'json') throw new UsageError(`--json is -o json: it contradicts -o ${output}`);
  return output as OutputFormat;
}

function nonEmpty(value: string, flag: string): string {
  if (value.trim() === '') throw new UsageError(`${flag} needs a value`);
  return value;
}

/**
 * The output format the command line asks for, read leniently: for a usage error, which
 * must still be JSON (or YAML) on stdout when the caller asked for that.
 */
export function requestedOutput(argv: readonly string[]): OutputFormat {
  let format: OutputFormat = 'text';
  argv.forEach((arg, index) => {
    const value = arg === '-o' || arg === '--output' ? argv[index + 1]
      : arg.startsWith('--output=') ? arg.slice('--output='.length)
        : arg.startsWith('-o') && arg.length > 2 ? arg.slice(2).replace(/^=/, '') : undefined;
    if (arg === '--json') format = 'json';
    else if (value === 'json' || value === 'yaml') format = value;
  });
  return format;
}
