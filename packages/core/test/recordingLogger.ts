import type { Logger } from '../src/logger.js';

/** One call to a {@link recordingLogger}. */
export interface LoggedLine {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

/** A logger in pino's convention that keeps every call, for assertions. */
export function recordingLogger(): Logger & { lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const at = (level: string) => (first: Record<string, unknown> | string, second?: string): void => {
    lines.push(typeof first === 'string' ? { level, message: first, fields: {} } : { level, message: second ?? '', fields: first });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
