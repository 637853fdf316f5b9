import Router from '@koa/router';
import type { Context } from 'koa';
import type { InteractionResults } from 'oidc-provider';
import type { LoginRequest } from '../login/login-request.js';
import { ACR_EMAIL } from '../oidc/provider.js';
import { grantMissing, isFirstParty } from '../oidc/grants.js';
import { AppError } from '../shared/errors.js';
import { field, formBody, isMalformedField } from './body.js';
import { audited, type HttpDeps } from './context.js';
import { deviceSecret, ensureDeviceSecret } from './device-cookie.js';
import { localizedMessage, toView } from './errors.js';
import { checkCsrf, checkPrompt, explainEndedInteraction, interactionOf, interactionPurpose, loadInteraction } from './interaction-steps.js';
import { renderPage, t } from './pages.js';
import type { InteractionExtension } from './passkey-routes.js';
import { renderWaitingPage, waitStateOf, type WaitingPage } from './waiting-page.js';

/** Errors a person can fix on the same page: shown there, in their language, with the right status. */
const SHOWN_ON_PAGE = new Set(['invalid_email', 'rate_limited', 'code_invalid', 'code_budget']);

type Latest = { request: LoginRequest | undefined };

/**
 * The hosted pages between oidc-provider's /auth and the app: enter email, check your email (code
 * entry, status polling, resend), consent. Shaped like oidc-provider's example/routes/koa.js, and
 * each route a pipeline of steps as in its lib/actions: load the interaction from its cookie, check
 * the form's CSRF token, check the prompt, then the route's own step.
 */
export function interactionRoutes({ provider, login, accounts, templates, csrf, config, audit, deliverMail, waitingMail, waitingPagePoll, findClient }: HttpDeps, extension?: InteractionExtension): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  router.use(explainEndedInteraction(login, findClient));
  const { messages } = templates;
  const load = loadInteraction(provider, messages);
  const checked = checkCsrf(csrf);

  async function finish(ctx: Context, result: InteractionResults, merge: boolean) {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  /** `latest`: the interaction's latest login request, when the handler has just read it. */
  async function finishLogin(ctx: Context, latest?: Latest): Promise<boolean> {
    const { uid, client } = interactionOf(ctx);
    const done = await login.complete(uid, Date.now(), latest);
    if (!done) return false;
    await audit.record(audited(ctx, {
      type: 'login.completed', accountId: done.account.id, email: done.account.email, clientId: done.request.clientId, loginRequestId: done.request.id,
    }));
    // A first-party app's consent step approves itself (the consent prompt below). Answering it
    // together with the login spares the browser two redirects and the server two requests:
    // loadExistingGrant then grants the first-party app what it asked for, and anything that
    // grant does not cover (claims requested one by one) still brings up the consent step.
    const consent = isFirstParty(client) ? { consent: {} } : {};
    await finish(ctx, { login: { accountId: done.account.id, amr: ['email'], acr: ACR_EMAIL, remember: true }, ...consent }, false);
    return true;
  }

  /** Shows a person-fixable error on the page it belongs to; anything else goes to the error handler. */
  async function pageError(ctx: Context, error: unknown): Promise<string> {
    const { uid } = interactionOf(ctx);
    // wrong codes and lock-outs name the address and request they were typed for: `sesame audit --email` finds them
    if (error instanceof AppError && error.code === 'rate_limited') {
      await audit.record(audited(ctx, { type: 'login.throttled', ...error.about, details: { limit: String(error.params.limit ?? 'unknown'), interaction: uid } }));
    } else if (error instanceof AppError && error.code.startsWith('code_')) {
      await audit.record(audited(ctx, { type: 'login.failed', ...error.about, details: { reason: error.code, interaction: uid } }));
    }
    if (!(error instanceof AppError) || !SHOWN_ON_PAGE.has(error.code) || ctx.accepts('html', 'json') === 'json') throw error;
    const view = toView(error);
    ctx.status = view.status;
    ctx.state.failure = { error: view.code, description: view.english };
    if (view.retryAfter) ctx.set('Retry-After', String(view.retryAfter));
    return localizedMessage(ctx, templates, view);
  }

  function renderEmailForm(ctx: Context, data: { email?: string; error?: string }) {
    const { uid, app } = interactionOf(ctx);
    renderPage(ctx, templates, 'login/email', {
      title: t(ctx, templates, 'email.title', { app: app.clientName }),
      ...app,
      action: `/interaction/${uid}/email`,
      csrf: csrf.token(ctx, interactionPurpose(uid)),
      ...extension?.emailPage(uid),
      ...data,
    });
  }

  /** The waiting page in the state of the latest request (read again unless just read). */
  async function renderCheckEmail(ctx: Context, extra: Pick<WaitingPage, 'codeError' | 'resendError' | 'notice'> = {}, latest?: Latest) {
    const { uid, app } = interactionOf(ctx);
    const request = latest ? latest.request : await login.latest(uid);
    const status = login.statusOf(request);
    const mailFailed = status === 'pending' && request !== undefined && (await waitingMail(request.id)) === 'failed';
    const state = waitStateOf(login, request, status, mailFailed);
    renderWaitingPage(ctx, templates, {
      uid,
      app,
      request,
      // approved and not finished (the address may not sign in): nothing more will happen here
      state: state === 'none' || state === 'approved' ? 'expired' : state,
      csrf: csrf.token(ctx, interactionPurpose(uid)),
      resendWait: resendWait(request),
      ...extra,
    }, waitingPagePoll);
  }

  function resendWait(request: LoginRequest | undefined): number {
    const interval = config.rateLimits.perEmail ? config.rateLimits.emailIntervalSeconds : 0;
    return request ? Math.max(0, Math.ceil((request.createdAt + interval * 1000 - Date.now()) / 1000)) : 0;
  }

  async function askForEmail(ctx: Context, email: unknown, previous?: LoginRequest) {
    const { uid, details, app } = interactionOf(ctx);
    const asked = await login.request({
      interactionUid: uid,
      interactionExpiresAt: details.exp * 1000,
      clientId: app.clientId,
      clientName: app.clientName,
      email,
      ip: ctx.ip,
      userAgent: ctx.get('User-Agent'),
      bindingSecret: ensureDeviceSecret(ctx),
      locale: ctx.state.locale,
      matchNumber: login.numberToKeep(previous),
    });
    await audit.record(audited(ctx, {
      type: 'login.requested', email: asked.email, clientId: app.clientId, loginRequestId: asked.request.id, details: { suppressed: asked.suppressed },
    }));
    // to the worker once the answer is out: sending a mail costs CPU that withholding one does
    // not, and the answer's timing must not tell which addresses have an account
    const { outboxId } = asked;
    if (outboxId !== undefined) ctx.res.once('close', () => deliverMail(outboxId));
    ctx.status = 303;
    ctx.redirect(previous ? `/interaction/${uid}?sent=1` : `/interaction/${uid}`);
  }

  // ---- the login prompt ----

  async function showLogin(ctx: Context) {
    const { uid, details } = interactionOf(ctx);
    // one read of the latest login request serves the whole page; read again only after
    // finishing an approved one was tried and failed (that may have changed it)
    let latest = await login.latest(uid);
    if (latest?.status === 'approved') {
      if (await finishLogin(ctx, { request: latest })) return;
      latest = await login.latest(uid);
    }
    if (!latest || ctx.query.change !== undefined) {
      return renderEmailForm(ctx, { email: latest?.email ?? stringParam(details.params.login_hint) });
    }
    const pending = login.statusOf(latest) === 'pending';
    // "I approved it, continue" pressed (the way on without JavaScript) while nothing is approved yet
    const notice = pending && ctx.query.continue !== undefined ? 'not_yet' : pending && ctx.query.sent !== undefined ? 'sent' : undefined;
    return renderCheckEmail(ctx, { notice }, { request: latest });
  }

  async function showConsent(ctx: Context) {
    const { uid, details, client, app } = interactionOf(ctx);
    if (isFirstParty(client)) {
      const { grantId } = await grantMissing(provider, details);
      return finish(ctx, { consent: { grantId } }, true);
    }
    const info = details.prompt.details as { missingOIDCScope?: string[] };
    const account = details.session ? await accounts.findById(details.session.accountId) : undefined;
    renderPage(ctx, templates, 'consent/consent', {
      title: t(ctx, templates, 'consent.title', { app: app.clientName }),
      ...app,
      email: account?.email,
      scopes: (info.missingOIDCScope ?? []).map((scope) => (messages.has(`consent.scope.${scope}`) ? `consent.scope.${scope}` : scope)),
      action: `/interaction/${uid}/consent`,
      abortAction: `/interaction/${uid}/abort`,
      csrf: csrf.token(ctx, interactionPurpose(uid)),
    });
  }

  router.get('/', load, async (ctx) => {
    const { details, app } = interactionOf(ctx);
    // prompts added to oidc-provider's policy (passkeys: step-up, the offer) render their own pages
    if (await extension?.render(ctx, details, app)) return;
    if (details.prompt.name === 'login') return showLogin(ctx);
    if (details.prompt.name === 'consent') return showConsent(ctx);
    throw new AppError('unknown_prompt', 500, `unhandled prompt ${details.prompt.name}`);
  });

  // Answered by the binding cookie, not the interaction cookie: once the link tab has finished the
  // sign-in the interaction is gone, and the waiting tab must still learn that it is completed.
  router.get('/status', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const request = await login.latest(ctx.params['uid']);
    if (!request || !login.isSameBrowser(request, deviceSecret(ctx))) {
      throw new AppError('not_found', 404, 'No sign-in of this browser is waiting here.');
    }
    const status = login.statusOf(request);
    if (status === 'denied') {
      ctx.body = { status, reason: login.stoppedBy(request) };
      return;
    }
    // the email will not come (its address was refused), or is late (our relay is down): the page
    // says so instead of waiting on in silence
    const mail = status === 'pending' ? await waitingMail(request.id) : undefined;
    ctx.body = mail ? { status, mail } : { status };
  });

  router.post('/email', formBody, load, checked, checkPrompt('login'), async (ctx) => {
    const body = ctx.request.body;
    try {
      await askForEmail(ctx, isMalformedField(body, 'email') ? [] : field(body, 'email'));
    } catch (error) {
      renderEmailForm(ctx, { email: field(body, 'email')?.slice(0, 254), error: await pageError(ctx, error) });
    }
  });

  router.post('/resend', formBody, load, checked, checkPrompt('login'), async (ctx) => {
    const latest = await login.latest(interactionOf(ctx).uid);
    if (!latest) throw new AppError('wrong_step', 400, 'This step of the sign-in is already done.');
    try {
      await askForEmail(ctx, latest.email, latest);
    } catch (error) {
      await renderCheckEmail(ctx, { resendError: await pageError(ctx, error) });
    }
  });

  router.post('/code', formBody, load, checked, async (ctx) => {
    const { uid } = interactionOf(ctx);
    try {
      const approved = await login.approveByCode(uid, field(ctx.request.body, 'code'));
      await audit.record(audited(ctx, { type: 'login.approved', email: approved.email, clientId: approved.clientId, loginRequestId: approved.id, details: { method: 'code' } }));
    } catch (error) {
      // the request is over (expired, stopped, replaced, too many wrong codes): back to the page,
      // which says so and offers a new email
      if (error instanceof AppError && (error.code === 'code_expired' || error.code === 'code_locked') && ctx.accepts('html', 'json') === 'html') {
        if (error.code === 'code_locked') await audit.record(audited(ctx, { type: 'login.failed', ...error.about, details: { reason: error.code, interaction: uid } }));
        ctx.status = 303;
        return ctx.redirect(`/interaction/${uid}`);
      }
      return renderCheckEmail(ctx, { codeError: await pageError(ctx, error) });
    }
    if (!(await finishLogin(ctx))) throw new AppError('login_unavailable', 403, 'This address cannot sign in here.');
  });

  router.post('/consent', formBody, load, checked, checkPrompt('consent'), async (ctx) => {
    const { details, app } = interactionOf(ctx);
    const { grantId, scopes } = await grantMissing(provider, details);
    const accountId = details.session!.accountId;
    await accounts.rememberConsent(accountId, app.clientId, scopes);
    await audit.record(audited(ctx, { type: 'consent.granted', accountId, clientId: app.clientId, details: { scopes: scopes.join(' ') } }));
    await finish(ctx, { consent: { grantId } }, true);
  });

  router.post('/abort', formBody, load, checked, async (ctx) => {
    await finish(ctx, { error: 'access_denied', error_description: 'The person cancelled the sign-in.' }, false);
  });

  return router;
}

function stringParam(value: unknown): string | undefined {
  return typeof value === 'string' ? value.slice(0, 254) : undefined;
}
