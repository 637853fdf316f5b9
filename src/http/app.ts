import type { Provider } from 'oidc-provider';
import { assetsDir } from '../shared/paths.js';
import { adminApi } from './admin-routes.js';
import { assets, brandCss } from './assets.js';
import type { HttpDeps } from './context.js';
import { emailChangeRoutes } from './email-change-routes.js';
import { demoRoutes } from './demo-routes.js';
import { databaseBusy, errorHandler } from './errors.js';
import { fromMemory } from './from-memory.js';
import { healthRoutes } from './health-routes.js';
import { interactionRoutes } from './interaction-routes.js';
import { registrationGuard } from '../oidc/registration.js';
import { localeFromBrowser } from './pages.js';
import { requestLog } from './request-log.js';
import { untypedEmptyRevocation } from './revocation-response.js';
import { securityHeaders } from './security-headers.js';
import { verifyRoutes } from './verify-routes.js';

/**
 * The issuer is Sesame's only public address, so every request is taken to have arrived at it:
 * `Host`, `X-Forwarded-Host`, `X-Forwarded-Proto` and `Forwarded` cannot move a URL that oidc-provider
 * or we build (discovery, redirects, links) to another origin. And with an https issuer every
 * request arrived over https, even when a TLS terminator forwarded it as http: cookies, ours and
 * oidc-provider's, are then always Secure.
 */
function pinOriginToIssuer(provider: Provider, issuer: string): void {
  const { protocol, host } = new URL(issuer);
  Object.defineProperty(provider.request, 'protocol', { configurable: true, get: () => protocol.slice(0, -1) });
  Object.defineProperty(provider.request, 'host', { configurable: true, get: () => host });
}

/**
 * Sesame's routes live on oidc-provider's own koa app (as in its example), so both share one set
 * of cookie keys and interaction look-ups work. Ours run first; anything they do not answer falls
 * through to the provider's endpoints.
 */
export function mountHttp(deps: HttpDeps): Provider {
  const { provider, config, templates, logger } = deps;
  const staticAssets = assets(assetsDir, { 'brand.css': brandCss(config.brand.color) });
  templates.setGlobals({ productName: config.brand.productName, brandLogoUrl: config.brand.logoUrl, assets: staticAssets.urls });

  pinOriginToIssuer(provider, config.issuer);
  provider.use(fromMemory(logger, deps.metrics));
  provider.use(requestLog(logger, deps.metrics));
  provider.use(localeFromBrowser(templates.messages));
  provider.use(securityHeaders(config.issuer.startsWith('https:')));
  provider.use(databaseBusy(templates));
  provider.use(errorHandler(templates, logger));
  provider.use(registrationGuard(config.registration.enabled, deps.mayRegister));
  // before the provider's endpoints: /admin/api/… never reaches oidc-provider (nor its CORS)
  if (config.adminApi.enabled) provider.use(adminApi(deps));
  provider.use(untypedEmptyRevocation());
  const routers = [healthRoutes(deps), staticAssets.router, interactionRoutes(deps), verifyRoutes(deps), emailChangeRoutes(deps)];
  if (deps.demoClientId) routers.push(demoRoutes(deps, deps.demoClientId));
  for (const router of routers) {
    provider.use(router.routes());
    provider.use(router.allowedMethods());
  }
  return provider;
}
