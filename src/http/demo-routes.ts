import Router from '@koa/router';
import type { Context } from 'koa';
import { demoUrls } from '../demo/demo-client.js';
import { describeFailure, DemoRelyingParty, type PendingSignIn } from '../demo/relying-party.js';
import type { HttpDeps } from './context.js';
import { renderPage } from './pages.js';

const COOKIE = 'sesame.demo';
/** as long as a sign-in may take (the emailed link lives 10 minutes by default) */
const PENDING_MAX_AGE_MS = 60 * 60 * 1000;

/**
 * /demo, development only: a relying app served by Sesame itself that signs in against the provider
 * over HTTP (see demo/relying-party.ts) and shows the ID token claims and userinfo. What it keeps
 * between /demo/login and /demo/callback (PKCE verifier, state, nonce) is in a signed cookie.
 */
export function demoRoutes({ config, templates, logger }: HttpDeps, clientId: string): Router {
  const rp = new DemoRelyingParty(config.issuer, clientId);
  const page = (ctx: Context, data: Record<string, unknown>) => {
    ctx.set('Cache-Control', 'no-store');
    renderPage(ctx, templates, 'demo/index', { title: 'Demo app', issuer: config.issuer, clientId, redirectUri: demoUrls(config.issuer).callback, ...data });
  };
  const cookieOptions = (ctx: Context) => ({ signed: true, httpOnly: true, sameSite: 'lax' as const, secure: ctx.secure, path: '/demo', overwrite: true });

  const router = new Router();
  router.get('/demo', (ctx) => page(ctx, {}));

  router.get('/demo/login', async (ctx) => {
    let started;
    try {
      started = await rp.start();
    } catch (error) {
      logger.warn({ err: error }, 'demo: discovery failed');
      ctx.status = 502;
      page(ctx, { failure: `the demo could not read the discovery document at ${config.issuer} (${describeFailure(error)})` });
      return;
    }
    ctx.cookies.set(COOKIE, JSON.stringify(started.pending), { ...cookieOptions(ctx), maxAge: PENDING_MAX_AGE_MS });
    ctx.redirect(started.url);
  });

  router.get('/demo/callback', async (ctx) => {
    const pending = readPending(ctx.cookies.get(COOKIE, { signed: true }));
    ctx.cookies.set(COOKIE, null, cookieOptions(ctx));
    if (!pending) {
      ctx.status = 400;
      page(ctx, { failure: 'this sign-in was not started from /demo in this browser, or it was already used' });
      return;
    }
    try {
      const result = await rp.finish(ctx.href, pending);
      page(ctx, {
        signedIn: true,
        idTokenClaims: JSON.stringify(result.idTokenClaims, null, 2),
        userinfo: JSON.stringify(result.userinfo, null, 2),
        endSessionUrl: result.endSessionUrl,
      });
    } catch (error) {
      ctx.status = 400;
      page(ctx, { failure: describeFailure(error) });
    }
  });
  return router;
}

function readPending(value: string | undefined): PendingSignIn | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as Partial<PendingSignIn>;
    return typeof parsed.verifier === 'string' && typeof parsed.state === 'string' && typeof parsed.nonce === 'string'
      ? { verifier: parsed.verifier, state: parsed.state, nonce: parsed.nonce }
      : undefined;
  } catch {
    return undefined;
  }
}
