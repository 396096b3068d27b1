/**
 * One log method in pino's calling convention: `info(fields, message)` or `info(message)`.
 * serving-cert always passes its fields first, so pino, Fastify's `app.log` and bunyan keep
 * them as structured data.
 */
export interface LogFn {
  (fields: Record<string, unknown>, message?: string): void;
  (message: string): void;
}

/** A logger in pino's convention: a pino, Fastify (`app.log`) or bunyan logger passes as is. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

type Level = keyof Logger;
const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

/**
 * The default logger: one line per message on stderr, `[serving-cert] level message {fields}`,
 * or one JSON object per line when `SERVING_CERT_LOG_FORMAT=json` (`level`, `time`, `msg` and the
 * fields, as pino writes them). `SERVING_CERT_LOG_LEVEL` (debug, info, warn, error, silent) sets
 * the threshold; default info.
 */
export function consoleLogger(
  level: Level | 'silent' = defaultLevel(),
  format: 'text' | 'json' = process.env.SERVING_CERT_LOG_FORMAT === 'json' ? 'json' : 'text',
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const threshold = level === 'silent' ? LEVELS.length : LEVELS.indexOf(level);
  const method = (at: Level): LogFn => ((first: Record<string, unknown> | string, second?: string): void => {
    if (LEVELS.indexOf(at) < threshold) return;
    const [fields, message] = typeof first === 'string' ? [{}, first] : [first, second ?? ''];
    if (format === 'json') {
      write(`${JSON.stringify({ level: at, time: Date.now(), name: 'serving-cert', ...fields, msg: message })}\n`);
      return;
    }
    const suffix = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    write(`[serving-cert] ${at} ${message}${suffix}\n`);
  });
  return { debug: method('debug'), info: method('info'), warn: method('warn'), error: method('error') };
}

function defaultLevel(): Level | 'silent' {
  const value = process.env.SERVING_CERT_LOG_LEVEL;
  return value === 'silent' || LEVELS.includes(value as Level) ? (value as Level | 'silent') : 'info';
}

const ignore = (() => {}) as LogFn;
/** A logger that drops everything. */
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
