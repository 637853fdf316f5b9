import type { Middleware } from 'koa';

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
