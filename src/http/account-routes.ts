import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { AppError } from '../shared/errors.js';
import { field, formBody } from './body.js';
import { accountCallback, accountSession, signedIn } from './account-session.js';
import { accountSections, type AccountSection, type SectionState } from './account-sections.js';
import type { Requester } from '../accounts/connections.js';
import type { HttpDeps } from './context.js';
import { localizedMessage, toView } from './errors.js';
import { renderPage, t } from './pages.js';

/** What a finished POST says on the page it redirects to (`?done=`): a fixed list, nothing from the request is echoed. */
const DONE: Readonly<Record<string, { section: string; key: string }>> = {
  disconnected: { section: 'apps', key: 'account.apps.disconnected' },
  session_ended: { section: 'sessions', key: 'account.sessions.ended' },
  deletion_sent: { section: 'delete', key: 'account.delete.sent' },
};

const DELETE_CSRF = 'account-delete';

/**
 * /account: the person's own page (Keycloak's account console, Kratos' settings flow): the address
 * and changing it, the apps connected to the account, the sessions signed in to it, and deleting
 * it. Every route but the callback, the signed-out page and the emailed deletion link is behind
 * `accountSession` (account-session.ts). Each POST changes one thing and redirects back (303), so
 * a reload never repeats it.
 */
export function accountRoutes(deps: HttpDeps): Router {
  const { templates, connections, deletion, accounts } = deps;
  const router = new Router({ prefix: '/account' });
  const sections = accountSections(deps);
  const gate = accountSession(deps);
  const privileged = accountSession(deps, { privileged: true });

  async function renderAccount(ctx: Context, state: SectionState = {}) {
    const who = signedIn(ctx);
    const loaded = await Promise.all(sections.map(async (section: AccountSection) => ({
      id: section.id,
      partial: `account/${section.id}`,
      titleKey: `account.${section.id}.title`,
      ...(await section.load(ctx, who, state)),
    })));
    renderPage(ctx, templates, 'account/index', { title: t(ctx, templates, 'account.title'), wide: true, email: who.account.email, sections: loaded });
  }

  const back = (ctx: Context, done: keyof typeof DONE) => {
    ctx.status = 303;
    ctx.redirect(`/account?done=${done}#${DONE[done].section}`);
  };

  router.get('/', gate, async (ctx) => {
    const done = typeof ctx.query.done === 'string' && Object.hasOwn(DONE, ctx.query.done) ? DONE[ctx.query.done] : undefined;
    await renderAccount(ctx, done ? { section: done.section, notice: t(ctx, templates, done.key, { email: signedIn(ctx).account.email }) } : {});
  });

  router.get('/callback', accountCallback(deps));

  router.get('/signed-out', async (ctx) => {
    const cancelled = ctx.query.cancelled !== undefined;
    const everywhere = ctx.query.everywhere !== undefined;
    const title = cancelled ? 'account.cancelled.title' : everywhere ? 'account.signed_out_everywhere.title' : 'account.signed_out.title';
    renderPage(ctx, templates, 'account/signed-out', { title: t(ctx, templates, title), cancelled, everywhere });
  });

  // a new address is confirmed from that address; the person must have signed in recently (privileged)
  router.post('/email', formBody, privileged, async (ctx) => {
    const { account } = signedIn(ctx);
    const email = field(ctx.request.body, 'email');
    try {
      const change = await accounts.requestEmailChange(account, email ?? '', {
        via: 'account_page', ip: ctx.ip, userAgent: ctx.get('User-Agent') || undefined, requestId: ctx.state.requestId, locale: ctx.state.locale,
      });
      await renderAccount(ctx, { section: 'address', notice: t(ctx, templates, 'account.address.sent', { email: change.newEmail }) });
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      const view = toView(error);
      await renderAccount(ctx, { section: 'address', error: localizedMessage(ctx, templates, view), value: email?.slice(0, 254) });
      ctx.status = view.status;
    }
  });

  router.post('/apps/disconnect', formBody, gate, async (ctx) => {
    const { account } = signedIn(ctx);
    const clientId = field(ctx.request.body, 'client') ?? '';
    await connections.disconnect(account.id, clientId, requester(ctx));
    back(ctx, 'disconnected');
  });

  router.post('/sessions/sign-out', formBody, gate, async (ctx) => {
    const { account, session } = signedIn(ctx);
    const uid = field(ctx.request.body, 'session') ?? '';
    await connections.signOut(account.id, uid, requester(ctx));
    if (uid !== session.uid) return back(ctx, 'session_ended');
    ctx.status = 303;
    ctx.redirect('/account/signed-out');
  });

  router.post('/sessions/sign-out-everywhere', formBody, gate, async (ctx) => {
    await connections.signOutEverywhere(signedIn(ctx).account.id, requester(ctx));
    ctx.status = 303;
    ctx.redirect('/account/signed-out?everywhere=1');
  });

  router.post('/delete', formBody, gate, async (ctx) => {
    await deletion.request(signedIn(ctx).account, { ...requester(ctx), locale: ctx.state.locale });
    back(ctx, 'deletion_sent');
  });

  // the emailed link: GET (and a scanner's HEAD) only shows; the page's button (POST) deletes
  const noLeak = async (ctx: Context, next: Next) => {
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-store');
    await next();
  };

  router.get('/delete/confirm', noLeak, linkRefusals(deps), async (ctx) => {
    const token = ctx.query.token;
    const account = await deletion.inspect(token);
    renderPage(ctx, templates, 'account/delete-confirm', {
      title: t(ctx, templates, 'account.delete.confirm.title'),
      email: account.email,
      action: '/account/delete/confirm',
      token,
      csrf: deps.csrf.token(ctx, DELETE_CSRF),
    });
  });

  router.post('/delete/confirm', noLeak, linkRefusals(deps), formBody, async (ctx) => {
    deps.csrf.verify(ctx, DELETE_CSRF, field(ctx.request.body, 'csrf'));
    const account = await deletion.confirm(field(ctx.request.body, 'token'), requester(ctx));
    renderPage(ctx, templates, 'account/deleted', { title: t(ctx, templates, 'account.deleted.title'), email: account.email });
  });

  return router;
}

/** A refused deletion link gets its own page with the way on (the account page), not "go back to the app". */
function linkRefusals({ templates }: Pick<HttpDeps, 'templates'>) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500 || error.code === 'csrf_failed') throw error;
      ctx.status = error.status;
      // the account is gone: there is no account page to go back to (opening it would sign up anew)
      if (error.code === 'account_deletion_used') {
        return renderPage(ctx, templates, 'account/deleted', { title: t(ctx, templates, 'account.deleted.title'), used: true });
      }
      const heading = t(ctx, templates, 'error.title');
      renderPage(ctx, templates, 'account/link-refused', {
        title: heading,
        heading,
        message: localizedMessage(ctx, templates, { key: error.key, params: { ...error.params }, english: error.message }),
        code: error.code,
      });
    }
  };
}

const requester = (ctx: Context): Requester => ({ ip: ctx.ip, userAgent: ctx.get('User-Agent') || undefined, requestId: ctx.state.requestId });
