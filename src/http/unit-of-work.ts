import type { Context, Middleware } from 'koa';
import { errors as oidcErrors } from 'oidc-provider';

/**
 * Each request's writes to oidc-provider's state are committed when its answer is not a server
 * error, before the answer goes out; otherwise they are rolled back (store/unit-of-work.ts). A
 * failed commit is thrown to the error handler, so the answer the request had prepared (tokens, a
 * code) is never sent for writes that were not stored; one that failed because another request
 * spent the same code or token first is answered as oidc-provider answers that (invalid_grant). When writes were rolled back the cookies
 * the request set are not sent either: the browser keeps the ones that match what is stored (the
 * resume cookie of /auth/:uid, the session), and its retry finds everything as it was.
 */
export function unitOfWork(finish: (commit: boolean) => Promise<boolean>): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (await finish(false).catch(() => true)) dropCookies(ctx);
      throw error;
    }
    if (ctx.status >= 500) {
      if (await finish(false).catch(() => true)) dropCookies(ctx);
      return;
    }
    try {
      await finish(true);
    } catch (error) {
      dropCookies(ctx);
      // a token or code another request spent first (its guarded consume changed no row): the
      // answer oidc-provider gives to a second redemption
      if (error instanceof oidcErrors.OIDCProviderError && error.statusCode < 500) {
        ctx.status = error.statusCode;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: error.error, error_description: error.error_description };
        return;
      }
      throw error;
    }
  };
}

function dropCookies(ctx: Context): void {
  ctx.res.removeHeader('Set-Cookie');
}
