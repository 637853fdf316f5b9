import Router from '@koa/router';
import type { Context } from 'koa';
import { errors as oidcErrors, type InteractionResults } from 'oidc-provider';
import { ACR_EMAIL } from '../oidc/provider.js';
import { grantMissing, isFirstParty } from '../oidc/grants.js';
import { AppError } from '../shared/errors.js';
import { field, formBody, isMalformedField } from './body.js';
import type { HttpDeps } from './context.js';
import { ensureDeviceSecret } from './device-cookie.js';

const SCOPE_TEXT: Record<string, string> = {
  openid: 'Know that it is you when you come back',
  email: 'See your email address',
  offline_access: 'Keep you signed in while you are away',
};

/**
 * The hosted pages between oidc-provider's /auth and the app: enter email, check your email (code
 * entry and status polling), consent. Shaped like oidc-provider's example/routes/koa.js: load the
 * interaction from its cookie, switch on the prompt, finish with interactionResult.
 */
export function interactionRoutes({ provider, login, accounts, templates, csrf }: HttpDeps): Router {
  const router = new Router({ prefix: '/interaction/:uid' });

  async function load(ctx: Context & { params: Record<string, string> }) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    // the interaction cookie names the flow this browser is in; a URL for another flow is stale
    if (details.uid !== ctx.params['uid']) throw new oidcErrors.SessionNotFound('interaction mismatch');
    const client = await provider.Client.find(String(details.params.client_id));
    if (!client) throw new AppError('client_unavailable', 400, 'The app that sent you here is no longer available.');
    ctx.set('Cache-Control', 'no-store');
    return { details, client, uid: details.uid };
  }

  async function finish(ctx: Context, result: InteractionResults, merge: boolean) {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  function clientView(client: { clientName?: string; logoUri?: string; clientId: string }) {
    return { clientName: client.clientName ?? client.clientId, logoUri: client.logoUri };
  }

  async function finishLogin(ctx: Context, uid: string): Promise<boolean> {
    const done = await login.complete(uid);
    if (!done) return false;
    await finish(ctx, { login: { accountId: done.account.id, amr: ['email'], acr: ACR_EMAIL, remember: true } }, false);
    return true;
  }

  function renderEmailForm(ctx: Context, uid: string, client: Parameters<typeof clientView>[0], data: { email?: string; error?: string; notice?: string }) {
    ctx.type = 'html';
    ctx.body = templates.page('login/email', {
      title: `Sign in to ${clientView(client).clientName}`,
      ...clientView(client),
      action: `/interaction/${uid}/email`,
      csrf: csrf.token(ctx, `interaction:${uid}`),
      ...data,
    });
  }

  async function renderCheckEmail(ctx: Context, uid: string, client: Parameters<typeof clientView>[0], error?: string) {
    const request = await login.latest(uid);
    ctx.type = 'html';
    ctx.body = templates.page('login/check-email', {
      title: 'Check your email',
      ...clientView(client),
      email: request?.email,
      codeAction: `/interaction/${uid}/code`,
      statusUrl: `/interaction/${uid}/status`,
      continueUrl: `/interaction/${uid}`,
      changeUrl: `/interaction/${uid}?change=1`,
      abortAction: `/interaction/${uid}/abort`,
      csrf: csrf.token(ctx, `interaction:${uid}`),
      error,
    });
  }

  router.get('/', async (ctx) => {
    const { details, client, uid } = await load(ctx);
    if (details.prompt.name === 'login') {
      if (await finishLogin(ctx, uid)) return;
      const status = await login.status(uid);
      if (status === 'pending' && ctx.query.change === undefined) return renderCheckEmail(ctx, uid, client);
      if (status === 'completed') {
        ctx.type = 'html';
        ctx.body = templates.page('login/finished', { title: 'You are signed in', ...clientView(client) });
        return;
      }
      const notice = status === 'expired' || status === 'locked' || status === 'superseded'
        ? 'Your last sign-in email can no longer be used. Ask for a new one.'
        : undefined;
      const latest = await login.latest(uid);
      return renderEmailForm(ctx, uid, client, { email: latest?.email ?? stringParam(details.params.login_hint), notice });
    }
    if (details.prompt.name === 'consent') {
      if (isFirstParty(client)) {
        const { grantId } = await grantMissing(provider, details);
        return finish(ctx, { consent: { grantId } }, true);
      }
      const info = details.prompt.details as { missingOIDCScope?: string[] };
      ctx.type = 'html';
      ctx.body = templates.page('consent/consent', {
        title: `Allow ${clientView(client).clientName}?`,
        ...clientView(client),
        scopes: (info.missingOIDCScope ?? []).map((scope) => ({ scope, text: SCOPE_TEXT[scope] ?? scope })),
        action: `/interaction/${uid}/consent`,
        abortAction: `/interaction/${uid}/abort`,
        csrf: csrf.token(ctx, `interaction:${uid}`),
      });
      return;
    }
    throw new AppError('unknown_prompt', 500, `unhandled prompt ${details.prompt.name}`);
  });

  router.get('/status', async (ctx) => {
    const { uid } = await load(ctx);
    ctx.body = { status: await login.status(uid) };
  });

  router.post('/email', formBody, async (ctx) => {
    const { details, client, uid } = await load(ctx);
    csrf.verify(ctx, `interaction:${uid}`, field(ctx.request.body, 'csrf'));
    if (details.prompt.name !== 'login') throw new AppError('wrong_step', 400, 'This step of the sign-in is already done.');
    const body = ctx.request.body;
    if (isMalformedField(body, 'email')) {
      ctx.status = 400;
      return renderEmailForm(ctx, uid, client, { error: 'Enter one email address.' });
    }
    try {
      await login.request({
        interactionUid: uid,
        interactionExpiresAt: details.exp * 1000,
        clientId: client.clientId,
        clientName: clientView(client).clientName,
        email: field(body, 'email'),
        ip: ctx.ip,
        userAgent: ctx.get('User-Agent'),
        bindingSecret: ensureDeviceSecret(ctx),
      });
    } catch (error) {
      // a person gets the form back with the reason; an API caller gets JSON from the error handler
      if (error instanceof AppError && (error.code === 'invalid_email' || error.code === 'rate_limited') && ctx.accepts('html', 'json') === 'html') {
        ctx.status = error.status;
        if (error.retryAfterSeconds) ctx.set('Retry-After', String(error.retryAfterSeconds));
        return renderEmailForm(ctx, uid, client, { email: field(body, 'email')?.slice(0, 254), error: error.message });
      }
      throw error;
    }
    ctx.status = 303;
    ctx.redirect(`/interaction/${uid}`);
  });

  router.post('/code', formBody, async (ctx) => {
    const { client, uid } = await load(ctx);
    csrf.verify(ctx, `interaction:${uid}`, field(ctx.request.body, 'csrf'));
    try {
      await login.approveByCode(uid, field(ctx.request.body, 'code'));
    } catch (error) {
      if (error instanceof AppError && error.code === 'code_invalid') {
        ctx.status = 400;
        return renderCheckEmail(ctx, uid, client, error.message);
      }
      throw error;
    }
    if (!(await finishLogin(ctx, uid))) throw new AppError('login_unavailable', 403, 'This address cannot sign in here.');
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
