import type { Context, Middleware } from 'koa';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { requestIdOf } from './request-log.js';

/** Answers that change only with the provider itself (a new one is built when the keys change). */
const ROUTES = new Map([
  ['/.well-known/openid-configuration', 'oidc:discovery'],
  ['/jwks', 'oidc:jwks'],
]);

/** Headers of the first answer that belong to that request only; everything else is replayed. */
const PER_REQUEST = new Set(['x-request-id', 'access-control-allow-origin', 'content-length', 'date']);

interface Remembered {
  headers: Record<string, string | string[]>;
  body: string;
}

/**
 * Discovery and JWKS, answered from memory. The first GET of each goes through every middleware and
 * oidc-provider; its body and headers (security headers, content type, Vary) are kept, and later
 * GETs and HEADs get the same answer with only what is per request redone: the request id, CORS's
 * echoed Origin, the metrics, and the log line when info is logged. The URLs inside are the
 * issuer's (the origin is pinned, see app.ts), so one answer fits every request; a key change
 * builds a new provider and with it a new, empty memory.
 */
export function fromMemory(logger: Logger, metrics: Metrics): Middleware {
  const remembered = new Map<string, Remembered>();
  return async (ctx, next) => {
    const route = ROUTES.get(ctx.path);
    if (!route || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    const hit = remembered.get(ctx.path);
    if (!hit) {
      await next();
      remember(ctx, remembered);
      return;
    }
    const started = performance.now();
    const requestId = requestIdOf(ctx);
    ctx.set(hit.headers);
    ctx.set('X-Request-Id', requestId);
    ctx.set('Access-Control-Allow-Origin', ctx.get('Origin') || '*');
    ctx.status = 200;
    ctx.body = hit.body;
    const seconds = (performance.now() - started) / 1000;
    metrics.httpRequests.inc({ route, method: ctx.method, status: '200' });
    metrics.httpDuration.observe({ route, method: ctx.method }, seconds);
    if (logger.isLevelEnabled('info')) {
      logger.info({ requestId, method: ctx.method, path: ctx.path, route, status: 200, ms: Math.round(seconds * 1000) }, 'request');
    }
  };
}

function remember(ctx: Context, remembered: Map<string, Remembered>): void {
  if (ctx.method !== 'GET' || ctx.status !== 200 || ctx.body === null || typeof ctx.body !== 'object' || Buffer.isBuffer(ctx.body)) return;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(ctx.response.headers)) {
    if (!PER_REQUEST.has(name) && value !== undefined) headers[name] = typeof value === 'number' ? String(value) : value;
  }
  remembered.set(ctx.path, { headers, body: JSON.stringify(ctx.body) });
}
