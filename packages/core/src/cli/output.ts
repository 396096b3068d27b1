import type { ServingCertErrorCode } from '../errors.js';
import type { CliErrorCode, OutputFormat } from './args.js';

/** The command's exit codes, as the README documents them. */
export const EXIT = Object.freeze({
  /** Every check passes. */
  pass: 0,
  /** A check fails (the report says which, and the fix). */
  fail: 1,
  /** The command line is wrong, or there is no cluster to ask (none configured, or unreachable). */
  usageOrNoCluster: 2,
});

/** Writes `data` as JSON or YAML, or `text` for a terminal, to stdout. */
export function printResult(format: OutputFormat, data: unknown, text: () => string): void {
  process.stdout.write(format === 'text' ? `${text()}\n` : serialize(format, data));
}

/**
 * An error of the command: its message (and `hint`) on stderr always; as
 * `{ "error": { "code", "message" } }` on stdout too when JSON or YAML was asked for, so that a
 * script reading stdout gets a document either way.
 */
export function printError(format: OutputFormat, code: CliErrorCode | ServingCertErrorCode, message: string, hint?: string): void {
  process.stderr.write(`serving-cert: ${message}\n${hint ? `${hint}\n` : ''}`);
  if (format !== 'text') process.stdout.write(serialize(format, { error: { code, message } }));
}

function serialize(format: 'json' | 'yaml', data: unknown): string {
  const plain: unknown = JSON.parse(JSON.stringify(data)); // dates as ISO strings, no undefined
  return format === 'json' ? `${JSON.stringify(plain, null, 2)}\n` : toYaml(plain);
}

/** YAML for JSON data (objects, arrays, strings, numbers, booleans, null): block style, strings quoted when plain would change them. */
export function toYaml(value: unknown, indent = ''): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return `${indent}[]\n`;
    return value.map((item) => {
      const nested = isCollection(item) ? toYaml(item, `${indent}  `).slice(indent.length + 2) : `${scalar(item)}\n`;
      return `${indent}- ${nested}`;
    }).join('');
  }
  if (isObject(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) return `${indent}{}\n`;
    return entries.map(([key, item]) => isCollection(item)
      ? `${indent}${scalar(key)}:\n${toYaml(item, Array.isArray(item) ? indent : `${indent}  `)}`
      : `${indent}${scalar(key)}: ${scalar(item)}\n`).join('');
  }
  return `${indent}${scalar(value)}\n`;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCollection = (value: unknown): boolean => (Array.isArray(value) && value.length > 0) || (isObject(value) && Object.keys(value).length > 0);

// Plain scalars that YAML would read as something else (true, null, 1e3, 0x1F, ...) get quotes.
const PLAIN = /^[A-Za-z_/][\w ./@()+,-]*$/;
const RESERVED = /^(?:true|false|yes|no|on|off|y|n|null|~)$/i;

function scalar(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return '[]';
  if (isObject(value)) return '{}';
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? 'null';
  return PLAIN.test(text) && !RESERVED.test(text) && !text.endsWith(' ') ? text : JSON.stringify(text);
}
