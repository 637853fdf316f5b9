import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware } from 'koa';
import { allows, tokenActor, type AdminActor, type AdminScope, type AdminTokens } from '../admin/admin-tokens.js';
import { bearerToken } from '../shared/bearer.js';
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { toView } from './errors.js';

export const ADMIN_API_PREFIX = '/admin/api';
/** Bodies above this are refused (413) before they are read in full. */
export const ADMIN_BODY_LIMIT_BYTES = 64 * 1024;
const REALM = 'Bearer realm="sesame-admin"';

/**
 * The frame around every admin API request: JSON errors `{error, error_description}` (never a
 * page, never a stack trace), `Cache-Control: no-store`, and nothing for cross-origin callers: no
 * CORS headers on any answer, OPTIONS included, so a browser page elsewhere cannot call it.
 */
export function adminFrame(logger: Logger): Middleware {
  return async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
      if (ctx.status === 405 || ctx.status === 501) throw new AppError('method_not_allowed', 405, `${ctx.method} is not allowed on ${ctx.path}`);
      if (ctx.status === 404 && ctx.body === undefined) throw new AppError('not_found', 404, `no admin API route ${ctx.method} ${ctx.path}`);
    } catch (error) {
      const view = toView(error);
      if (view.status >= 500) (ctx.state.log ?? logger).error({ err: error, path: ctx.path }, 'admin API request failed');
      ctx.status = view.status;
      if (view.retryAfter) ctx.set('Retry-After', String(view.retryAfter));
      if (view.status === 401) ctx.set('WWW-Authenticate', view.code === 'invalid_token' ? `${REALM}, error="invalid_token"` : REALM);
      if (view.status === 403 && view.code === 'insufficient_scope') ctx.set('WWW-Authenticate', `${REALM}, error="insufficient_scope", scope="${view.params.scope}"`);
      ctx.body = { error: admin(view.code, view.status), error_description: view.english };
    }
    for (const name of Object.keys(ctx.response.headers)) if (name.startsWith('access-control-')) ctx.remove(name);
  };
}

/** Generic koa/body-parser answers under the API's own names. */
function admin(code: string, status: number): string {
  if (code !== 'bad_request') return code;
  return status === 415 ? 'unsupported_media_type' : status === 400 ? 'invalid_json' : code;
}

/**
 * A valid admin token with the scope the route needs. 401 when the token is missing, malformed,
 * unknown, revoked or expired (one answer for all, so none can be told apart); 403 when it lacks the scope.
 */
export function requireScope(tokens: AdminTokens, scope: AdminScope): Middleware {
  return async (ctx, next) => {
    const header = ctx.get('Authorization');
    if (!header) throw new AppError('unauthorized', 401, 'an admin token is required: Authorization: Bearer <token>');
    const presented = bearerToken(header);
    const actor = presented ? await tokens.verify(presented) : undefined;
    if (!actor) throw new AppError('invalid_token', 401, 'the admin token is invalid, expired or revoked');
    if (!allows(actor.scopes, scope)) throw new AppError('insufficient_scope', 403, `this token may not do that: it needs the "${scope}" scope`, { params: { scope } });
    ctx.state.admin = actor;
    ctx.state.log = ctx.state.log?.child({ adminToken: actor.id });
    await next();
  };
}

export const actorOf = (ctx: Context): AdminActor => ctx.state.admin as AdminActor;

/** The audit trail's name for the admin token behind this request (AuditEvent.actor). */
export const auditActor = (ctx: Context): string => tokenActor(actorOf(ctx).id);

const parse = bodyParser({ enableTypes: ['json'], jsonLimit: ADMIN_BODY_LIMIT_BYTES, encoding: 'utf-8' });

/** The request body as JSON (415 for any other type), at most ADMIN_BODY_LIMIT_BYTES; no body is `undefined`. */
export const jsonBody: Middleware = async (ctx, next) => {
  const length = ctx.get('Content-Length');
  const hasBody = ctx.get('Transfer-Encoding') !== '' || (length !== '' && length !== '0');
  if (!hasBody) {
    ctx.request.body = undefined;
    return next();
  }
  if (!ctx.is('application/json')) throw new AppError('unsupported_media_type', 415, 'the body must be JSON (Content-Type: application/json)');
  // parsed here, outside `next`: a parse error is the caller's, whatever the route does afterwards
  await parse(ctx, async () => undefined);
  await next();
};
