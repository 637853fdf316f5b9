import type { Middleware } from 'koa';
import type { ClientAuthThrottle } from '../login/client-auth-throttle.js';
import { GRANT_NOT_ALLOWED } from '../oidc/patches.js';
import { formBody } from './body.js';

/** oidc-provider's revocation endpoint (its default route) */
const REVOCATION_PATH = '/token/revocation';

/**
 * RFC 7009 §2.2: a successful revocation is a 200 whose body the client ignores. oidc-provider
 * answers with an empty body, which koa labels `text/plain`; oidc-client-ts (and other browser
 * clients that accept only JSON answers) then report a successful revocation as an error. An empty
 * answer carries no Content-Type, which every client accepts.
 */
export function untypedEmptyRevocation(): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.method === 'POST' && ctx.path === REVOCATION_PATH && ctx.status === 200 && ctx.body === '') ctx.remove('Content-Type');
  };
}

/** oidc-provider's token endpoint, and its answer to a grant type the client is not registered for */
const TOKEN_PATH = '/token';

/**
 * RFC 6749 §5.2: a client that authenticated but is not registered for the grant type it used gets
 * `unauthorized_client`. oidc-provider answers `invalid_request`, which points the app's developer
 * at their request when it is the app's registration that lacks the grant. Only that one answer
 * (matched by its description) is renamed; everything else oidc-provider says is left alone.
 */
export function unauthorizedClientGrant(): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST' || ctx.path !== TOKEN_PATH || ctx.status !== 400) return;
    const answer = ctx.body as { error?: unknown; error_description?: unknown } | null | undefined;
    if (answer?.error === 'invalid_request' && answer.error_description === GRANT_NOT_ALLOWED) ctx.body = { ...answer, error: 'unauthorized_client' };
  };
}

/** oidc-provider's endpoints where a client authenticates (PAR: `/request`) */
const CLIENT_AUTH_PATHS = new Set([TOKEN_PATH, '/token/introspection', REVOCATION_PATH, '/request']);

/**
 * Counts failed client authentication (oidc-provider answers 401 `invalid_client`) per client IP,
 * and refuses an IP over the limit with 429 and Retry-After before oidc-provider checks anything.
 */
export function throttleClientAuth(throttle: Pick<ClientAuthThrottle, 'refusal' | 'failed'>): Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST' || !CLIENT_AUTH_PATHS.has(ctx.path)) return next();
    const wait = await throttle.refusal(ctx.ip);
    if (wait !== undefined) {
      ctx.status = 429;
      ctx.set('Retry-After', String(wait));
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'invalid_client', error_description: `too many failed client authentications from this address; try again in ${wait} s` };
      return;
    }
    await next();
    if (ctx.status === 401 && (ctx.body as { error?: unknown } | undefined)?.error === 'invalid_client') await throttle.failed(ctx.ip);
  };
}

/** oidc-provider's authorization and RP-initiated logout endpoints (its default routes) */
const POSTABLE_PATHS = new Set(['/auth', '/session/end']);

/**
 * OpenID Connect Core §3.1.2.1 (and RP-Initiated Logout §2) let a client send the request as a
 * form POST. oidc-provider 9 serves POST there only with its session cookie SameSite=None, since a
 * cross-site POST carries no Lax cookie: the person's session would be invisible and the flow would
 * break, unless every session cookie were sent on every cross-site request. Instead the POST is
 * answered with a 303 to the same endpoint with the same parameters as a query: the browser follows
 * it as a top-level GET, which carries the Lax cookies, and the flow goes on unchanged.
 */
export function postAsGet(): Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST' || !POSTABLE_PATHS.has(ctx.path)) return next();
    await formBody(ctx, async () => {});
    const body = ctx.request.body as Record<string, unknown> | undefined;
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(body ?? {})) {
      // a repeated or structured parameter is passed on as oidc-provider would see it in a query: it refuses it
      for (const item of Array.isArray(value) ? value : [value]) if (typeof item === 'string') query.append(name, item);
    }
    ctx.status = 303;
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(`${ctx.path}?${query}`);
  };
}
