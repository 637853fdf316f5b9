import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Account } from '../accounts/account.js';
import type { Passkey } from '../passkeys/passkey.js';
import { AppError } from '../shared/errors.js';
import { field, formBody } from './body.js';
import { audited, type HttpDeps } from './context.js';
import { renderPage, t } from './pages.js';
import { jsonBody, passkeyName } from './passkey-routes.js';

interface Signed {
  account: Account;
  /** the oidc-provider session's uid: stable across sign-ins of this browser, what its forms and ceremonies are bound to */
  sessionUid: string;
}

/**
 * /account/passkeys: a person's own passkeys (list, add, rename, remove). Its own minimal gate
 * until it joins the account page: the oidc-provider session of this origin, signed in to an
 * active account. Forms and ceremonies are bound to that session.
 */
export function passkeyAccountRoutes({ provider, passkeys, templates, csrf, audit }: Pick<HttpDeps, 'provider' | 'passkeys' | 'templates' | 'csrf' | 'audit'>): Router {
  const router = new Router({ prefix: '/account/passkeys' });
  const purpose = (signed: Signed) => `account:${signed.sessionUid}`;

  /** The gate: a session of an active account, or a page that says to sign in (401). */
  const gate = async (ctx: Context, next: Next) => {
    if (!passkeys.enabled) throw new AppError('passkeys_off', 404, 'Passkeys are not available here.');
    ctx.set('Cache-Control', 'no-store');
    const session = await provider.Session.get(ctx);
    const account = session.accountId ? await passkeys.accountOf(session.accountId) : undefined;
    if (!account) {
      ctx.status = 401;
      return renderPage(ctx, templates, 'passkeys/signed-out', { title: t(ctx, templates, 'passkey.account.signed_out.title') });
    }
    ctx.state.signed = { account, sessionUid: session.uid } satisfies Signed;
    return next();
  };
  const signed = (ctx: Context) => ctx.state.signed as Signed;
  const checkCsrf = (ctx: Context, submitted: unknown) => csrf.verify(ctx, purpose(signed(ctx)), submitted);
  const back = (ctx: Context, notice?: string) => {
    ctx.status = 303;
    ctx.redirect(notice ? `/account/passkeys?done=${notice}` : '/account/passkeys');
  };

  router.get('/', gate, async (ctx) => {
    const { account } = signed(ctx);
    const list = await passkeys.list(account.id);
    const date = new Intl.DateTimeFormat(ctx.state.locale ?? 'en', { dateStyle: 'medium' });
    const notice = typeof ctx.query.done === 'string' && ['added', 'renamed', 'removed'].includes(ctx.query.done) ? `passkey.account.done.${ctx.query.done}` : undefined;
    renderPage(ctx, templates, 'passkeys/account', {
      title: t(ctx, templates, 'passkey.account.title'),
      email: account.email,
      notice,
      csrf: csrf.token(ctx, purpose(signed(ctx))),
      optionsUrl: '/account/passkeys/register/options',
      verifyUrl: '/account/passkeys/register',
      passkeys: list.map((p: Passkey) => ({
        id: p.id,
        name: p.name,
        synced: p.deviceType === 'multiDevice' || p.backedUp,
        createdAt: date.format(p.createdAt),
        lastUsedAt: p.lastUsedAt === null ? undefined : date.format(p.lastUsedAt),
        renameAction: `/account/passkeys/${encodeURIComponent(p.id)}/rename`,
        removeAction: `/account/passkeys/${encodeURIComponent(p.id)}/remove`,
      })),
    });
  });

  router.post('/register/options', gate, jsonBody, async (ctx) => {
    checkCsrf(ctx, (ctx.request.body as Record<string, unknown> | undefined)?.csrf);
    ctx.body = await passkeys.registrationOptions(signed(ctx).account, purpose(signed(ctx)));
  });

  router.post('/register', gate, jsonBody, async (ctx) => {
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    checkCsrf(ctx, body.csrf);
    const { account } = signed(ctx);
    const passkey = await passkeys.register(account, purpose(signed(ctx)), body.response, typeof body.name === 'string' ? body.name : passkeyName(ctx, templates));
    await audit.record(audited(ctx, { type: 'passkey.registered', accountId: account.id, details: { passkey: passkey.id, via: 'account' } }));
    ctx.body = { location: '/account/passkeys?done=added' };
  });

  router.post('/:id/rename', gate, formBody, async (ctx) => {
    checkCsrf(ctx, field(ctx.request.body, 'csrf'));
    const { account } = signed(ctx);
    await passkeys.rename(account.id, ctx.params.id, field(ctx.request.body, 'name') ?? '');
    await audit.record(audited(ctx, { type: 'passkey.renamed', accountId: account.id, details: { passkey: ctx.params.id, via: 'account' } }));
    back(ctx, 'renamed');
  });

  // removing the last passkey leaves the emailed link, which always works
  router.post('/:id/remove', gate, formBody, async (ctx) => {
    checkCsrf(ctx, field(ctx.request.body, 'csrf'));
    const { account } = signed(ctx);
    await passkeys.remove(account.id, ctx.params.id);
    await audit.record(audited(ctx, { type: 'passkey.removed', accountId: account.id, details: { passkey: ctx.params.id, via: 'account' } }));
    back(ctx, 'removed');
  });

  return router;
}
