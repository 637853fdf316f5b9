import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Provider } from 'oidc-provider';
import { assetsDir } from '../shared/paths.js';
import { adminApi } from './admin-routes.js';
import { accountRoutes } from './account-routes.js';
import { assets, brandCss, webauthnBrowserScript } from './assets.js';
import { audited, type HttpDeps } from './context.js';
import { emailChangeRoutes } from './email-change-routes.js';
import { demoRoutes } from './demo-routes.js';
import { databaseUnavailable, errorHandler, notFoundPage } from './errors.js';
import { issuerHostFirst } from './dev-host.js';
import { fromMemory } from './from-memory.js';
import { healthRoutes } from './health-routes.js';
import { interactionRoutes } from './interaction-routes.js';
import { passkeyAccountRoutes } from './passkey-account-routes.js';
import { passkeyRoutes } from './passkey-routes.js';
import { pinOriginToIssuer } from '../oidc/patches.js';
import { registrationGuard } from '../oidc/registration.js';
import { unknownMethods } from './methods.js';
import { localeFromBrowser } from './pages.js';
import { requestLog } from './request-log.js';
import { postAsGet, throttleClientAuth, unauthorizedClientGrant, untypedEmptyRevocation } from './protocol-answers.js';
import { securityHeaders } from './security-headers.js';
import { unitOfWork } from './unit-of-work.js';
import { verifyRoutes } from './verify-routes.js';

/**
 * Sesame's routes live on oidc-provider's own koa app (as in its example), so both share one set
 * of cookie keys and interaction look-ups work. Ours run first; anything they do not answer falls
 * through to the provider's endpoints.
 */
export function mountHttp(deps: HttpDeps): Provider {
  const { provider, config, templates, logger } = deps;
  const staticAssets = assets(assetsDir, { 'brand.css': brandCss(config.brand.color), 'webauthn.js': webauthnBrowserScript() });
  templates.setGlobals({ productName: config.brand.productName, brandLogoUrl: config.brand.logoUrl, assets: staticAssets.urls });

  pinOriginToIssuer(provider, config.issuer);
  if (config.env === 'development') provider.use(issuerHostFirst(config.issuer));
  provider.use(fromMemory(logger, deps.metrics));
  provider.use(requestLog(logger, deps.metrics));
  provider.use(localeFromBrowser(templates.messages));
  provider.use(securityHeaders(config.issuer.startsWith('https:')));
  provider.use(unknownMethods());
  provider.use(databaseUnavailable(templates));
  provider.use(errorHandler(templates, logger));
  provider.use(notFoundPage(templates));
  // inside the error handler: a failed commit is answered by it like any other failure
  provider.use(unitOfWork(deps.finishUnitOfWork));
  provider.use(registrationGuard(config.registration.enabled, deps.mayRegister, deps.isClientSecret, (ctx, type, clientId, actor) =>
    deps.audit.record(audited(ctx as unknown as Context, { type, clientId, actor, details: { via: 'dynamic_registration' } }))));
  // before the provider's endpoints: /admin/api/… never reaches oidc-provider (nor its CORS)
  if (config.adminApi !== 'off') provider.use(adminApi(deps));
  provider.use(throttleClientAuth(deps.clientAuth));
  provider.use(postAsGet());
  provider.use(untypedEmptyRevocation());
  provider.use(unauthorizedClientGrant());
  const passkeys = passkeyRoutes(deps);
  const routers = [healthRoutes(deps), staticAssets.router, interactionRoutes(deps, passkeys.interaction), passkeys.router, passkeyAccountRoutes(deps), verifyRoutes(deps), emailChangeRoutes(deps), accountRoutes(deps)];
  if (deps.demoClientId) routers.push(demoRoutes(deps, deps.demoClientId));
  provider.use(ownRoutes(routers));
  return provider;
}

/**
 * Our routers, each with its 405/501 answers, entered only by a request whose path one of their
 * routes serves. The provider's endpoints (token, userinfo, introspection…) are most requests;
 * they skip the 2 × N router layers, each of which matched the path against its routes again
 * (userinfo: 0.63 → 0.51 ms of main-thread time per request, introspection 0.76 → 0.53, measured
 * alternately with `npm run bench -- --profile`).
 */
function ownRoutes(routers: Router[]): Middleware {
  const layers = routers.flatMap((router) => [router.routes(), router.allowedMethods()]) as Middleware[];
  const run = (ctx: Parameters<Middleware>[0], next: () => Promise<unknown>, i: number): Promise<unknown> =>
    i === layers.length ? next() : Promise.resolve(layers[i](ctx, () => run(ctx, next, i + 1)));
  return (ctx, next) => {
    const ours = routers.some((router) => router.match(ctx.path, ctx.method).path.some((layer) => layer.methods.length > 0));
    return ours ? run(ctx, next, 0) : next();
  };
}
