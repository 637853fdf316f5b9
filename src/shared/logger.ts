import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sesame' },
      // defence in depth: whatever a caller passes by mistake, these never reach a log line
      redact: {
        paths: ['token', '*.token', 'code', '*.code', 'password', '*.client_secret', 'req.headers.cookie', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

const require = createRequire(import.meta.url);

/**
 * The server's logger: JSON lines (one per event, for a log collector), or in development lines
 * for a person at a terminal (pino-pretty, loaded only then). Synchronous either way, so the last
 * line before the process stops is not lost.
 */
export function serverLogger(level: string, { readable }: { readable: boolean }): Logger {
  if (!readable) return createLogger(level);
  const pretty = require('pino-pretty') as typeof import('pino-pretty').PinoPretty;
  return createLogger(level, pretty({ sync: true, colorize: Boolean(process.stdout.isTTY), translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,service', singleLine: true }));
}

/**
 * knex's `log` option: what knex would print with console.log (pool warnings, deprecations) as
 * log lines. A connection that could not be made is reported by whoever asked for it (a request's
 * 503, start-up's one line); knex's own copy of it, with its stack, is for debugging only.
 */
export function knexLog(logger: Logger): { warn(m: unknown): void; error(m: unknown): void; debug(m: unknown): void; deprecate(m: string): void } {
  const log = logger.child({ source: 'knex' });
  const text = (message: unknown) => (typeof message === 'string' ? message : JSON.stringify(message));
  return {
    warn: (message) => {
      const line = text(message);
      if (line.startsWith('Acquire connection error')) log.debug({ detail: line }, 'knex could not make a connection');
      else log.warn(line);
    },
    error: (message) => log.error(text(message)),
    debug: (message) => log.debug(text(message)),
    deprecate: (message) => log.warn(text(message)),
  };
}
