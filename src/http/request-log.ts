import type { Middleware } from 'koa';
import { randomToken } from '../shared/crypto.js';
import type { Logger } from '../shared/logger.js';

const INCOMING_ID = /^[A-Za-z0-9._-]{8,64}$/;

/** A request id on every response and log line. Logs the path only: query strings may hold link tokens. */
export function requestLog(logger: Logger): Middleware {
  return async (ctx, next) => {
    const incoming = ctx.get('X-Request-Id');
    const requestId = INCOMING_ID.test(incoming) ? incoming : randomToken(12);
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      logger.info({ requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) }, 'request');
    }
  };
}
