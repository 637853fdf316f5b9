import Router from '@koa/router';
import type { Context } from 'koa';
import { errors as oidcErrors, type InteractionResults } from 'oidc-provider';
import type { LoginRequest } from '../login/login-request.js';
import { ACR_EMAIL } from '../oidc/provider.js';
import { grantMissing, isFirstParty } from '../oidc/grants.js';
import { AppError } from '../shared/errors.js';
import { field, formBody, isMalformedField } from './body.js';
import { audited, type HttpDeps } from './context.js';
import { deviceSecret, ensureDeviceSecret } from './device-cookie.js';
import { localizedMessage, toView } from './errors.js';
import { preferLocales, renderPage, t } from './pages.js';

type ClientView = { clientName?: string; logoUri?: string; clientId: string };

/** Errors a person can fix on the same page: shown there, in their language, with the right status. */
const SHOWN_ON_PAGE = new Set(['invalid_email', 'rate_limited', 'code_invalid', 'code_budget']);

/**
 * The hosted pages between oidc-provider's /auth and the app: enter email, check your email (code
 * entry, status polling, resend), consent. Shaped like oidc-provider's example/routes/koa.js: load
 * the interaction from its cookie, switch on the prompt, finish with interactionResult.
 */
export function interactionRoutes({ provider, login, accounts, templates, csrf, config, audit, deliverMail, mailGivenUp }: HttpDeps): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  const { messages } = templates;

  async function load(ctx: Context & { params: Record<string, string> }) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    // the interaction cookie names the flow this browser is in; a URL for another flow is stale
    if (details.uid !== ctx.params['uid']) throw new oidcErrors.SessionNotFound('interaction mismatch');
    preferLocales(ctx, messages, details.params.ui_locales);
    const client = await provider.Client.find(String(details.params.client_id));
    if (!client) throw new AppError('client_unavailable', 400, 'The app that sent you here is no longer available.');
    ctx.set('Cache-Control', 'no-store');
    // every form of these pages ends, after its redirects, at the app's redirect URI
    ctx.state.formTargets = [details.params.redirect_uri];
    return { details, client, uid: details.uid };
  }

  async function finish(ctx: Context, result: InteractionResults, merge: boolean) {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  const clientView = (client: ClientView) => ({ clientName: client.clientName ?? client.clientId, logoUri: client.logoUri });

  /** `latest`: the interaction's latest login request, when the handler has just read it. */
  async function finishLogin(ctx: Context, uid: string, client: { [key: string]: unknown }, latest?: { request: LoginRequest | undefined }): Promise<boolean> {
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
  async function pageError(ctx: Context, error: unknown, uid: string): Promise<string> {
    // wrong codes and lock-outs name the address and request they were typed for: `sesame audit --email` finds them
    if (error instanceof AppError && error.code === 'rate_limited') {
      await audit.record(audited(ctx, { type: 'login.throttled', ...error.about, details: { limit: String(error.params.limit ?? 'unknown'), interaction: uid } }));
    } else if (error instanceof AppError && error.code.startsWith('code_')) {
      await audit.record(audited(ctx, { type: 'login.failed', ...error.about, details: { reason: error.code, interaction: uid } }));
    }
    if (!(error instanceof AppError) || !SHOWN_ON_PAGE.has(error.code) || ctx.accepts('html', 'json') === 'json') throw error;
    const view = toView(error);
    ctx.status = view.status;
    if (view.retryAfter) ctx.set('Retry-After', String(view.retryAfter));
    return localizedMessage(ctx, templates, view);
  }

  function renderEmailForm(ctx: Context, uid: string, client: ClientView, data: { email?: string; error?: string; notice?: string }) {
    renderPage(ctx, templates, 'login/email', {
      title: t(ctx, templates, 'email.title', { app: clientView(client).clientName }),
      ...clientView(client),
      action: `/interaction/${uid}/email`,
      csrf: csrf.token(ctx, `interaction:${uid}`),
      ...data,
    });
  }

  async function renderCheckEmail(ctx: Context, uid: string, client: ClientView, error?: string, latest?: { request: LoginRequest | undefined }) {
    const request = latest ? latest.request : await login.latest(uid);
    const interval = config.rateLimits.perEmail ? config.rateLimits.emailIntervalSeconds : 0;
    const resendWait = request ? Math.max(0, Math.ceil((request.createdAt + interval * 1000 - Date.now()) / 1000)) : 0;
    renderPage(ctx, templates, 'login/check-email', {
      title: t(ctx, templates, 'check.title'),
      ...clientView(client),
      email: request?.email,
      matchNumber: request?.matchNumber,
      codeAction: `/interaction/${uid}/code`,
      resendAction: `/interaction/${uid}/resend`,
      resendWait,
      statusUrl: `/interaction/${uid}/status`,
      continueUrl: `/interaction/${uid}`,
      changeUrl: `/interaction/${uid}?change=1`,
      abortAction: `/interaction/${uid}/abort`,
      csrf: csrf.token(ctx, `interaction:${uid}`),
      error,
    });
  }

  async function askForEmail(ctx: Context, uid: string, details: { exp: number }, client: ClientView, email: unknown) {
    const asked = await login.request({
      interactionUid: uid,
      interactionExpiresAt: details.exp * 1000,
      clientId: client.clientId,
      clientName: clientView(client).clientName,
      email,
      ip: ctx.ip,
      userAgent: ctx.get('User-Agent'),
      bindingSecret: ensureDeviceSecret(ctx),
      locale: ctx.state.locale,
    });
    await audit.record(audited(ctx, {
      type: 'login.requested', email: asked.email, clientId: client.clientId, loginRequestId: asked.request.id, details: { suppressed: asked.suppressed },
    }));
    // to the worker once the answer is out: sending a mail costs CPU that withholding one does
    // not, and the answer's timing must not tell which addresses have an account
    const { outboxId } = asked;
    if (outboxId !== undefined) ctx.res.once('close', () => deliverMail(outboxId));
    ctx.status = 303;
    ctx.redirect(`/interaction/${uid}`);
  }

  router.get('/', async (ctx) => {
    const { details, client, uid } = await load(ctx);
    if (details.prompt.name === 'login') {
      // one read of the latest login request serves the whole page; read again only after
      // finishing an approved one was tried and failed (that may have changed it)
      let latest = await login.latest(uid);
      if (latest?.status === 'approved') {
        if (await finishLogin(ctx, uid, client, { request: latest })) return;
        latest = await login.latest(uid);
      }
      const status = login.statusOf(latest);
      if (status === 'pending' && ctx.query.change === undefined) return renderCheckEmail(ctx, uid, client, undefined, { request: latest });
      if (status === 'completed') {
        return renderPage(ctx, templates, 'login/finished', { title: t(ctx, templates, 'finished.title'), ...clientView(client) });
      }
      const notice = status === 'denied' ? 'email.notice.denied'
        : status === 'expired' || status === 'locked' || status === 'superseded' ? 'email.notice.stale'
          : undefined;
      return renderEmailForm(ctx, uid, client, { email: latest?.email ?? stringParam(details.params.login_hint), notice });
    }
    if (details.prompt.name === 'consent') {
      if (isFirstParty(client)) {
        const { grantId } = await grantMissing(provider, details);
        return finish(ctx, { consent: { grantId } }, true);
      }
      const info = details.prompt.details as { missingOIDCScope?: string[] };
      return renderPage(ctx, templates, 'consent/consent', {
        title: t(ctx, templates, 'consent.title', { app: clientView(client).clientName }),
        ...clientView(client),
        scopes: (info.missingOIDCScope ?? []).map((scope) => (messages.has(`consent.scope.${scope}`) ? `consent.scope.${scope}` : scope)),
        action: `/interaction/${uid}/consent`,
        abortAction: `/interaction/${uid}/abort`,
        csrf: csrf.token(ctx, `interaction:${uid}`),
      });
    }
    throw new AppError('unknown_prompt', 500, `unhandled prompt ${details.prompt.name}`);
  });

  // Answered by the binding cookie, not the interaction cookie: once the link tab has finished the
  // sign-in the interaction is gone, and the waiting tab must still learn that it is completed.
  router.get('/status', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const uid = ctx.params['uid'];
    const request = await login.latest(uid);
    if (!request || !login.isSameBrowser(request, deviceSecret(ctx))) {
      throw new AppError('not_found', 404, 'No sign-in of this browser is waiting here.');
    }
    const status = login.statusOf(request);
    // the email will not come (its address was refused): the page says so instead of waiting on
    ctx.body = status === 'pending' && (await mailGivenUp(request.id)) ? { status, mail: 'failed' } : { status };
  });

  router.post('/email', formBody, async (ctx) => {
    const { details, client, uid } = await load(ctx);
    csrf.verify(ctx, `interaction:${uid}`, field(ctx.request.body, 'csrf'));
    if (details.prompt.name !== 'login') throw new AppError('wrong_step', 400, 'This step of the sign-in is already done.');
    const body = ctx.request.body;
    try {
      await askForEmail(ctx, uid, details, client, isMalformedField(body, 'email') ? [] : field(body, 'email'));
    } catch (error) {
      renderEmailForm(ctx, uid, client, { email: field(body, 'email')?.slice(0, 254), error: await pageError(ctx, error, uid) });
    }
  });

  router.post('/resend', formBody, async (ctx) => {
    const { details, client, uid } = await load(ctx);
    csrf.verify(ctx, `interaction:${uid}`, field(ctx.request.body, 'csrf'));
    const latest = await login.latest(uid);
    if (details.prompt.name !== 'login' || !latest) throw new AppError('wrong_step', 400, 'This step of the sign-in is already done.');
    try {
      await askForEmail(ctx, uid, details, client, latest.email);
    } catch (error) {
      await renderCheckEmail(ctx, uid, client, await pageError(ctx, error, uid));
    }
  });

  router.post('/code', formBody, async (ctx) => {
    const { client, uid } = await load(ctx);
    csrf.verify(ctx, `interaction:${uid}`, field(ctx.request.body, 'csrf'));
    try {
      const approved = await login.approveByCode(uid, field(ctx.request.body, 'code'));
      await audit.record(audited(ctx, { type: 'login.approved', email: approved.email, clientId: approved.clientId, loginRequestId: approved.id, details: { method: 'code' } }));
    } catch (error) {
      // the request is over (expired, stopped, replaced): back to the page that says so and offers a new email
      if (error instanceof AppError && error.code === 'code_expired' && ctx.accepts('html', 'json') === 'html') {
        ctx.status = 303;
        return ctx.redirect(`/interaction/${uid}`);
      }
      return renderCheckEmail(ctx, uid, client, await pageError(ctx, error, uid));
    }
    if (!(await finishLogin(ctx, uid, client))) throw new AppError('login_unavailable', 403, 'This address cannot sign in here.');
  });

  router.post('/consent', formBody, async (ctx) => {
    const { details, uid } = await load(ctx);
    csrf.verify(ctx, `interaction:${uid}`, field(ctx.request.body, 'csrf'));
    if (details.prompt.name !== 'consent') throw new AppError('wrong_step', 400, 'This step of the sign-in is already done.');
    const { grantId, scopes } = await grantMissing(provider, details);
    await accounts.rememberConsent(details.session!.accountId, String(details.params.client_id), scopes);
    await finish(ctx, { consent: { grantId } }, true);
  });

  router.post('/abort', formBody, async (ctx) => {
    const { uid } = await load(ctx);
    csrf.verify(ctx, `interaction:${uid}`, field(ctx.request.body, 'csrf'));
    await finish(ctx, { error: 'access_denied', error_description: 'The person cancelled the sign-in.' }, false);
  });

  return router;
}

function stringParam(value: unknown): string | undefined {
  return typeof value === 'string' ? value.slice(0, 254) : undefined;
}
