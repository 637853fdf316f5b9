import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { LoginRequest } from '../login/login-request.js';
import { formatTime } from '../mail/login-mail.js';
import { AppError } from '../shared/errors.js';
import { deviceName } from '../shared/user-agent.js';
import { field, formBody } from './body.js';
import type { AuditType } from '../audit/audit.js';
import { audited, type HttpDeps } from './context.js';
import { deviceSecret } from './device-cookie.js';
import { renderPage, t } from './pages.js';
import { appHome } from '../clients/app-home.js';
import { DEAD_LINKS, type ErrorNext } from './errors.js';
import { interactionPurpose } from './interaction-steps.js';


/**
 * The link in the email. GET (and HEAD, which koa-router answers with the GET handler) only
 * looks: mail scanners and link previews fetch links, so nothing here changes state or signs in.
 * A POST consumes the link, once: at once in the browser that asked (binding cookie), or on any
 * other device only with the number the original tab shows, typed. The approving device never gets a
 * session: the original tab, which holds the interaction, finishes the sign-in.
 */
export function verifyRoutes({ provider, login, findClient, templates, csrf, audit }: HttpDeps): Router {
  const router = new Router({ prefix: '/login/verify' });

  // the token is in the URL: never leak it through Referer or a cache
  const noLeak = async (ctx: Context, next: Next) => {
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-store');
    await next();
  };

  const record = (ctx: Context, type: AuditType, request: LoginRequest, details: Record<string, string>) =>
    audit.record(audited(ctx, { type, email: request.email, clientId: request.clientId, loginRequestId: request.id, details }));

  /** Failed look-ups are audited too (guessing, used or expired links), then answered by the error handler. */
  const auditFailures = async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      if (error instanceof AppError && (error.code.startsWith('link_') || error.code === 'rate_limited')) {
        await audit.record(audited(ctx, { type: error.code === 'rate_limited' ? 'login.throttled' : 'login.failed', details: { reason: error.code, ...(error.code === 'rate_limited' ? { limit: 'verify-ip' } : {}) } }));
      }
      throw error;
    }
  };

  /**
   * A link that no longer works says what to do instead (the error handler renders it): in the
   * browser whose sign-in is still open, send a new link from there; on another device, ask for
   * one where the sign-in started; after the sign-in finished, nothing is wrong. And where the app
   * is known, the way back to it.
   */
  const wayForward = async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      if (error instanceof AppError && DEAD_LINKS.has(error.code)) await explainDeadLink(ctx).catch(() => undefined);
      throw error;
    }
  };

  async function explainDeadLink(ctx: Context) {
    const token = ctx.method === 'POST' ? field(ctx.request.body, 'token') : ctx.query.t;
    const request = await login.requestOfLink(token, ctx.ip);
    const client = await findClient(request.clientId);
    ctx.state.app = { clientName: client?.name ?? request.clientId, logoUri: client?.logoUri, appUrl: appHome(client?.redirectUris) };
    if (request.status === 'completed') {
      ctx.state.errorNext = { signedIn: true } satisfies ErrorNext;
      return;
    }
    if (!login.isSameBrowser(request, deviceSecret(ctx))) {
      ctx.state.errorNext = { otherDevice: true } satisfies ErrorNext;
      return;
    }
    const uid = request.interactionUid;
    const interaction = await provider.Interaction.find(uid);
    if (interaction && !interaction.result && interaction.prompt?.name === 'login') {
      ctx.state.errorNext = { resend: { action: `/interaction/${uid}/resend`, csrf: csrf.token(ctx, interactionPurpose(uid)) } } satisfies ErrorNext;
    }
  }

  async function clientName(request: LoginRequest): Promise<string> {
    return (await findClient(request.clientId))?.name ?? request.clientId;
  }

  router.get('/', noLeak, auditFailures, wayForward, async (ctx) => {
    const token = ctx.query.t;
    const request = await login.inspectLink(token, ctx.ip);
    const app = await clientName(request);
    const sameBrowser = login.isSameBrowser(request, deviceSecret(ctx));
    // HEAD is answered by this handler too: a scanner's HEAD shows up as such
    await record(ctx, 'link.opened', request, { how: sameBrowser ? 'same_browser' : 'other_device', method: ctx.method });
    if (sameBrowser) {
      // its form's redirects go on through the sign-in to the app
      ctx.state.formTargets = (await findClient(request.clientId))?.redirectUris ?? [];
      return renderPage(ctx, templates, 'login/verify', {
        title: t(ctx, templates, 'verify.title'),
        clientName: app,
        action: '/login/verify',
        token,
        csrf: csrf.token(ctx, 'verify'),
      });
    }
    renderOtherDevice(ctx, request, app, String(token));
  });

  /** "Is this you?": where and when the sign-in was asked for, and a field for the number the asking tab shows. */
  function renderOtherDevice(ctx: Context, request: LoginRequest, app: string, token: string, error?: string) {
    renderPage(ctx, templates, 'login/other-device', {
      title: t(ctx, templates, 'other.title'),
      clientName: app,
      device: deviceName(request.requesterUa ?? undefined, (key, params) => t(ctx, templates, key, params)),
      place: request.requesterIp ?? t(ctx, templates, 'mail.unknown_place'),
      time: formatTime(request.createdAt, ctx.state.locale),
      action: '/login/verify',
      denyAction: '/login/verify/deny',
      token,
      csrf: csrf.token(ctx, 'verify'),
      error,
    });
  }

  router.post('/', noLeak, auditFailures, formBody, wayForward, async (ctx) => {
    const body = ctx.request.body;
    csrf.verify(ctx, 'verify', field(body, 'csrf'));
    const token = field(body, 'token');
    // one look-up decides: the browser that asked goes on at once, another device needs the number
    let approval;
    try {
      approval = await login.approveLink(token, { bindingSecret: deviceSecret(ctx), number: field(body, 'number') }, ctx.ip);
    } catch (error) {
      // nothing typed (a person in a hurry, or a scanner submitting the form): ask again, nothing changed
      if (!(error instanceof AppError) || error.code !== 'number_missing') throw error;
      const request = await login.inspectLink(token, ctx.ip);
      ctx.status = 400;
      return renderOtherDevice(ctx, request, await clientName(request), String(token), t(ctx, templates, 'error.number_missing'));
    }
    const { request, sameBrowser, matched, left } = approval;
    if (!matched && left) {
      await record(ctx, 'login.failed', request, { reason: 'number_wrong' });
      ctx.status = 403;
      return renderOtherDevice(ctx, request, await clientName(request), String(token), t(ctx, templates, 'error.number_wrong', { count: left }));
    }
    if (!matched) {
      await record(ctx, 'login.denied', request, { reason: 'number_mismatch' });
      ctx.status = 403;
      return renderPage(ctx, templates, 'login/mismatch', { title: t(ctx, templates, 'mismatch.title') });
    }
    await record(ctx, 'login.approved', request, { method: sameBrowser ? 'link' : 'other_device' });
    if (sameBrowser) {
      // continue in the flow's own page, at a URL without the token
      ctx.status = 303;
      ctx.redirect(`/interaction/${request.interactionUid}`);
      return;
    }
    renderPage(ctx, templates, 'login/approved', { title: t(ctx, templates, 'approved.title') });
  });

  router.post('/deny', noLeak, auditFailures, formBody, wayForward, async (ctx) => {
    const body = ctx.request.body;
    csrf.verify(ctx, 'verify', field(body, 'csrf'));
    const request = await login.deny(field(body, 'token'), ctx.ip);
    await record(ctx, 'login.denied', request, { reason: 'not_me' });
    renderPage(ctx, templates, 'login/denied', { title: t(ctx, templates, 'denied.title') });
  });

  return router;
}
