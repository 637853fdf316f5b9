import { format, stripVTControlCharacters } from 'node:util';
import type { Logger } from './logger.js';

type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * Makes the server process print nothing but log lines: what libraries write with console.*
 * (oidc-provider's notices, anything else), Node's process warnings and an uncaught error become
 * one log line each, with an error's stack as a field (`err`), never a multi-line trace on stderr.
 * For the server only: the CLI's commands print for people.
 */
export function logProcessOutput(logger: Logger): void {
  const log = logger.child({ source: 'console' });
  const to = (level: Level) => (...args: unknown[]) => {
    const err = args.find((arg) => arg instanceof Error);
    const text = stripVTControlCharacters(format(...args.filter((arg) => arg !== err)));
    if (err) log[level]({ err }, text || (err as Error).message);
    else log[level](text);
  };
  console.log = to('info');
  console.info = to('info');
  console.debug = to('debug');
  console.warn = to('warn');
  console.error = to('error');
  console.trace = to('error');
  // Node prints warnings (deprecations, listener leaks) itself unless the default listener goes
  process.removeAllListeners('warning');
  process.on('warning', (warning) => logger.warn({ warning: { name: warning.name, code: (warning as { code?: string }).code, stack: warning.stack } }, warning.message));
  // a bug that escaped every handler: said as a log line, and the process stops as Node would
  process.on('uncaughtException', (error, origin) => {
    logger.fatal({ err: error, origin }, 'uncaught error: stopping');
    process.exit(1);
  });
}
