/** A logger: pino, console-like objects and most structured loggers fit. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

type Level = keyof Logger;
const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

/**
 * The default logger: one line per message on stderr, `[serving-cert] level message {fields}`.
 * `SERVING_CERT_LOG_LEVEL` (debug, info, warn, error, silent) sets the threshold; default info.
 */
export function consoleLogger(level: Level | 'silent' = defaultLevel()): Logger {
  const threshold = level === 'silent' ? LEVELS.length : LEVELS.indexOf(level);
  const write = (at: Level) => (message: string, fields?: Record<string, unknown>): void => {
    if (LEVELS.indexOf(at) < threshold) return;
    const suffix = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    process.stderr.write(`[serving-cert] ${at} ${message}${suffix}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function defaultLevel(): Level | 'silent' {
  const value = process.env.SERVING_CERT_LOG_LEVEL;
  return value === 'silent' || LEVELS.includes(value as Level) ? (value as Level | 'silent') : 'info';
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
