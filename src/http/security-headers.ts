import type { Middleware } from 'koa';

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' https: data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Headers for every response, ours and oidc-provider's. No inline script is allowed; oidc-provider
 * adds the hash of its own form_post script to this policy when it renders one.
 *
 * `form-action` limits where the page's forms may go: this origin, and the app the flow returns
 * to. Browsers apply it to the whole redirect chain after a form is posted (Chromium does), and a
 * sign-in form's chain ends at the app's redirect URI, so a page that leads back to an app names
 * that app's origins in `ctx.state.formTargets`; oidc-provider's own pages (the form_post response,
 * the logout confirmation) name theirs through the request's redirect parameters.
 */
export function securityHeaders(httpsIssuer: boolean): Middleware {
  return async (ctx, next) => {
    ctx.set('Content-Security-Policy', CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    if (httpsIssuer) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    try {
      await next();
    } finally {
      if (ctx.response.is('html')) ctx.set('Content-Security-Policy', `${ctx.response.get('Content-Security-Policy')}; form-action ${formSources(ctx).join(' ')}`);
    }
  };
}

interface OidcView {
  params?: Record<string, unknown>;
  client?: { redirectUris?: string[]; postLogoutRedirectUris?: string[] };
  entities?: { Interaction?: { params?: Record<string, unknown> } };
}

/** Where this page's forms may lead: 'self', and the origins of the app the flow returns to. */
function formSources(ctx: Parameters<Middleware>[0]): string[] {
  const oidc = (ctx as { oidc?: OidcView }).oidc;
  // only a redirect the app registered: an error page for a bad request names no origin of the request's choosing
  const registered = (uri: unknown, list: string[] | undefined) => (typeof uri === 'string' && list?.includes(uri) ? [uri] : []);
  const targets = [
    ...(ctx.state.formTargets as string[] | undefined ?? []),
    ...registered(oidc?.params?.redirect_uri, oidc?.client?.redirectUris),
    ...registered(oidc?.params?.post_logout_redirect_uri, oidc?.client?.postLogoutRedirectUris),
    // resuming a sign-in as another account first signs the old one out (a form oidc-provider
    // posts to itself), then returns to the app the interaction was started for: its
    // redirect_uri was checked when the interaction was created
    oidc?.entities?.Interaction?.params?.redirect_uri,
  ];
  const origins = new Set<string>();
  for (const target of targets) {
    if (typeof target !== 'string') continue;
    try {
      const { origin, protocol } = new URL(target);
      // a native app's custom scheme has no origin: its scheme is the source
      origins.add(origin === 'null' ? protocol : origin);
    } catch {
      // not a URL: nothing a form may go to
    }
  }
  return ["'self'", ...origins];
}
