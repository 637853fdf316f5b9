import { randomUUID } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import type { Metrics } from '../shared/metrics.js';
import type { Logger } from '../shared/logger.js';

const INCOMING_ID = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * Why a request was refused, when the response is a page rather than a JSON error: set by whoever
 * renders it (`ctx.state.failure`), for the request's log line.
 */
export interface Failure {
  readonly error: string;
  readonly description?: string;
}

/**
 * A request id on every response and on every log line of the request (`ctx.state.log`), and the
 * request metrics. One line per request: the client's address (as trusted: X-Forwarded-For only
 * with TRUST_PROXY, see provider.ts), its user agent and, for a 4xx, the error it was answered
 * with. Logs the path only: query strings may hold link tokens.
 */
export function requestLog(logger: Logger, metrics: Metrics): Middleware {
  return async (ctx, next) => {
    const requestId = requestIdOf(ctx);
    ctx.state.requestId = requestId;
    ctx.state.log = logger.child({ requestId });
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const route = routeOf(ctx);
      metrics.httpRequests.inc({ route, method: ctx.method, status: String(ctx.status) });
      metrics.httpDuration.observe({ route, method: ctx.method }, seconds);
      const failure = failureOf(ctx);
      ctx.state.log.info({
        method: ctx.method, path: ctx.path, route, status: ctx.status, ms: Math.round(seconds * 1000),
        ip: ctx.ip, userAgent: ctx.get('User-Agent').slice(0, 300) || undefined,
        ...(failure ? { reason: failure.error, reasonDescription: failure.description } : {}),
      }, 'request');
    }
  };
}

/**
 * The caller's X-Request-Id when it is a sane one, otherwise a new id. A request id only has to be
 * unique, not secret: randomUUID draws from a buffer Node refills in batches, where randomBytes
 * asked the CSPRNG on every request (1.5% of a userinfo request's main-thread time).
 */
export function requestIdOf(ctx: Context): string {
  const incoming = ctx.get('X-Request-Id');
  return INCOMING_ID.test(incoming) ? incoming : randomUUID();
}

/** A bounded label: our route pattern, or oidc-provider's route name, never the raw path. */
function routeOf(ctx: Context): string {
  const matched = (ctx as Context & { _matchedRoute?: string })._matchedRoute;
  if (typeof matched === 'string') return matched;
  const oidcRoute = (ctx as Context & { oidc?: { route?: string } }).oidc?.route;
  return oidcRoute ? `oidc:${oidcRoute}` : 'other';
}

const EMAIL = /[^\s@<>"']+@[^\s@<>"']+/g;

/**
 * A 4xx's error code and description: noted by the page that showed it, or the JSON error body;
 * and for a 503 of an unavailable database, its reason (see log-failure.ts).
 */
export function failureOf(ctx: Context): Failure | undefined {
  const noted = ctx.state.failure as Failure | undefined;
  if (ctx.status === 503 && noted?.error === 'database_unavailable') return noted;
  if (ctx.status < 400 || ctx.status >= 500) return undefined;
  const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
  const failure = noted ?? (body && typeof body === 'object' && !Buffer.isBuffer(body) && typeof body.error === 'string'
    ? { error: body.error, description: typeof body.error_description === 'string' ? body.error_description : undefined }
    : undefined);
  // a description may quote what the person typed: never an address in a log line
  return failure && { error: failure.error, description: failure.description?.replace(EMAIL, '[email]').slice(0, 300) };
}
