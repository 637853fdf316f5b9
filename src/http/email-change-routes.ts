import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { maskEmail } from '../mail/email-change-mail.js';
import { AppError } from '../shared/errors.js';
import { field, formBody } from './body.js';
import type { HttpDeps } from './context.js';
import { localizedMessage } from './errors.js';
import { renderPage, t } from './pages.js';

const CSRF_PURPOSE = 'email-change';

/**
 * The link that confirms a change of an account's address, mailed to the new address. Like the
 * sign-in link, a GET (or HEAD) only shows what would change: mail scanners and link previews fetch
 * links, so only the POST of the page's button (CSRF-protected) confirms. Tokens are 256-bit random
 * values and single use, so guessing one is pointless; malformed ones are refused without a look-up.
 */
export function emailChangeRoutes({ emailChanges, templates, csrf }: HttpDeps): Router {
  const router = new Router({ prefix: '/account/email/confirm' });

  // the token is in the URL: never leak it through Referer or a cache
  const noLeak = async (ctx: Context, next: Next) => {
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-store');
    await next();
  };

  // A refused link gets a page of its own: the shared error page would tell the person to go back
  // to an app and sign in again, which is not what happened here.
  const refusals = async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      ctx.status = error.status;
      const heading = t(ctx, templates, 'error.title');
      renderPage(ctx, templates, 'error', {
        title: heading,
        heading,
        message: localizedMessage(ctx, templates, { key: error.key, params: { ...error.params }, english: error.message }),
        code: error.code,
      });
    }
  };

  router.get('/', noLeak, refusals, async (ctx) => {
    const token = ctx.query.token;
    const change = await emailChanges.inspect(token);
    renderPage(ctx, templates, 'account/email-confirm', {
      title: t(ctx, templates, 'email_change.confirm.title'),
      oldEmail: maskEmail(change.oldEmail),
      newEmail: change.newEmail,
      action: '/account/email/confirm',
      token,
      csrf: csrf.token(ctx, CSRF_PURPOSE),
    });
  });

  router.post('/', noLeak, refusals, formBody, async (ctx) => {
    const body = ctx.request.body;
    csrf.verify(ctx, CSRF_PURPOSE, field(body, 'csrf'));
    const change = await emailChanges.confirm(field(body, 'token'), {
      via: 'link',
      ip: ctx.ip,
      userAgent: ctx.get('User-Agent') || undefined,
      requestId: ctx.state.requestId,
    });
    renderPage(ctx, templates, 'account/email-changed', { title: t(ctx, templates, 'email_change.done.title'), newEmail: change.newEmail });
  });

  return router;
}
