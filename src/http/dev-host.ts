import type { Middleware } from 'koa';

/** Probes reach an instance by its address, whatever the issuer's name: answered where they ask. */
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Development only: a browser that opened Sesame at another host name than the issuer's
 * (127.0.0.1 for localhost) would get its cookies for the wrong host and fail at the end of the
 * sign-in, when oidc-provider finds no interaction. Sent to the issuer's origin first instead
 * (307 keeps the method and body). In production the issuer is pinned and nothing is redirected.
 */
export function issuerHostFirst(issuer: string): Middleware {
  const { host, origin } = new URL(issuer);
  return async (ctx, next) => {
    // the Host header itself: koa's ctx.host is pinned to the issuer (oidc/patches.ts)
    if (ctx.get('Host').toLowerCase() === host || PROBES.has(ctx.path)) return next();
    ctx.status = 307;
    ctx.redirect(`${origin}${ctx.originalUrl}`);
  };
}
