import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { AppError } from '../shared/errors.js';
import { field, formBody } from './body.js';
import type { HttpDeps } from './context.js';
import { deviceSecret } from './device-cookie.js';

/**
 * The link in the email. GET (and HEAD, which koa-router answers with the GET handler) only
 * looks: mail scanners and link previews fetch links, so nothing here changes state or signs in.
 * The POST consumes the link, once.
 */
export function verifyRoutes({ login, templates, csrf }: HttpDeps): Router {
  const router = new Router({ prefix: '/login/verify' });

  // the token is in the URL: never leak it through Referer or a cache
  const noLeak = async (ctx: Context, next: Next) => {
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-store');
    await next();
  };

  router.get('/', noLeak, async (ctx) => {
    const token = ctx.query.t;
    const request = await login.inspectLink(token, ctx.ip);
    const sameBrowser = login.isSameBrowser(request, deviceSecret(ctx));
    ctx.type = 'html';
    ctx.body = templates.page(sameBrowser ? 'login/verify' : 'login/other-device', {
      title: 'Finish signing in',
      action: '/login/verify',
      token,
      csrf: csrf.token(ctx, 'verify'),
      autosubmit: sameBrowser,
    });
  });

  router.post('/', noLeak, formBody, async (ctx) => {
    const body = ctx.request.body;
    csrf.verify(ctx, 'verify', field(body, 'csrf'));
    const token = field(body, 'token');
    const request = await login.inspectLink(token, ctx.ip);
    if (!login.isSameBrowser(request, deviceSecret(ctx))) {
      // approving from another device needs number matching (so an attacker who typed someone
      // else's address cannot get a blind approval); until then the link stays unused
      throw new AppError('other_device', 403, 'Open this link in the browser where you asked to sign in, or type the code from the email there.');
    }
    const { request: approved } = await login.approveByLink(token, deviceSecret(ctx), ctx.ip);
    // continue in the flow's own page, at a URL without the token
    ctx.status = 303;
    ctx.redirect(`/interaction/${approved.interactionUid}`);
  });

  return router;
}
