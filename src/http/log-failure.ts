import { isDatabaseUnavailable } from '../shared/database-errors.js';
import type { Logger } from '../shared/logger.js';

/**
 * A 5xx's cause. The database being away (an outage, a lock) is an expected state with its own
 * 503, /readyz and metrics: its reason goes on the request's own log line (see request-log.ts),
 * without the driver's stack, so an outage costs one line per request. Anything else is a line of
 * its own at error level, its stack in the `err` field.
 */
export function logFailure(log: Logger, error: unknown, ctx: { path: string; state: Record<string, unknown> }): void {
  if (isDatabaseUnavailable(error)) {
    const e = error as { code?: unknown; message?: string };
    ctx.state.failure = { error: 'database_unavailable', description: [typeof e?.code === 'string' ? e.code : undefined, e?.message?.split('\n')[0]].filter(Boolean).join(' ') };
    return;
  }
  log.error({ err: error, path: ctx.path }, 'request failed');
}
