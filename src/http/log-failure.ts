import { isDatabaseUnavailable } from '../shared/database-errors.js';
import type { Logger } from '../shared/logger.js';

/**
 * A 5xx's cause, one line. The database being away (an outage, a lock) is an expected state with
 * its own 503, /readyz and metrics: said briefly, without the driver's stack on every request.
 */
export function logFailure(log: Logger, error: unknown, path?: string): void {
  if (isDatabaseUnavailable(error)) {
    const e = error as { code?: unknown; message?: string };
    log.warn({ path, reason: [typeof e?.code === 'string' ? e.code : undefined, e?.message?.split('\n')[0]].filter(Boolean).join(' ') }, 'database unavailable: answered 503');
    return;
  }
  log.error({ err: error, path }, 'request failed');
}
