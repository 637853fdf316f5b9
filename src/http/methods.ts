import type { Middleware } from 'koa';

/** The methods some route of Sesame or oidc-provider answers. */
const SERVED = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * A method nothing here implements (TRACE, PROPFIND, MKCOL…) is refused with 405 and `Allow`, the
 * answer HTTP has for "not on this resource": koa-router said 501, which reads as a server that
 * cannot do HTTP, and oidc-provider's endpoints said 404. Node itself refuses methods it does not
 * parse (400).
 */
export function unknownMethods(): Middleware {
  return async (ctx, next) => {
    await next();
    // our routers' answer to a method none of their routes has; they have set Allow
    if (ctx.status === 501) ctx.status = 405;
    else if (ctx.status === 404 && !SERVED.includes(ctx.method)) {
      ctx.status = 405;
      ctx.set('Allow', SERVED.join(', '));
      ctx.set('Cache-Control', 'no-store');
    }
  };
}
