import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware } from 'koa';
import { errors as oidcErrors, type InteractionResults } from 'oidc-provider';
import { ACR_PASSKEY } from '../oidc/acr.js';
import { isFirstParty } from '../oidc/grants.js';
import { PASSKEY_OFFER_COOKIE, PASSKEY_OFFER_PROMPT, PASSKEY_PROMPT } from '../oidc/passkey-policy.js';
import { PasskeyRefused } from '../passkeys/passkey-service.js';
import { AppError } from '../shared/errors.js';
import { deviceName, parseDevice } from '../shared/user-agent.js';
import { formBody } from './body.js';
import { audited, type HttpDeps } from './context.js';
import { preferLocales, renderPage, t } from './pages.js';

/** What the interaction pages let passkeys add: their own prompts, and the sign-in on the email page. */
export interface InteractionExtension {
  /** renders the page of a prompt this extension owns; false: not one of its prompts */
  render(ctx: Context, details: InteractionDetails, app: AppView): Promise<boolean>;
  /** view data the email page adds (the passkey button and autofill) */
  emailPage(uid: string): Record<string, unknown>;
}

type InteractionDetails = Awaited<ReturnType<HttpDeps['provider']['interactionDetails']>>;
/** The app as the pages show it. */
type AppView = { clientId: string; clientName: string; logoUri?: string };

/** How long the offer stays away once declined on a browser, or after a passkey was made there. */
const OFFER_SKIPPED_MS = 30 * 24 * 3600 * 1000;
const OFFER_TAKEN_MS = 400 * 24 * 3600 * 1000;

/** The answer of navigator.credentials: small JSON (an attestation of type none, or an assertion). */
const parseJson = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' });
export const jsonBody: Middleware = async (ctx, next) => {
  if (!ctx.is('application/json')) throw new AppError('unsupported_media_type', 415, 'the body must be JSON');
  await parseJson(ctx, async () => undefined);
  await next();
};

/**
 * Passkeys inside a sign-in (/interaction/:uid/passkey/…): the sign-in with a passkey from the
 * email page (autofill or button) and from the step-up page, and the offer to create one after a
 * sign-in by email. Each ceremony's challenge is bound to this interaction, whose cookie only this
 * browser holds. The pages answer JSON to the page script (views/assets/passkeys.js).
 */
export function passkeyRoutes({ provider, passkeys, passkeyFailures, templates, csrf, audit }: Pick<HttpDeps, 'provider' | 'passkeys' | 'passkeyFailures' | 'templates' | 'csrf' | 'audit'>): { router: Router; interaction: InteractionExtension } {
  const router = new Router({ prefix: '/interaction/:uid/passkey' });
  const binding = (uid: string) => `interaction:${uid}`;

  async function load(ctx: Context & { params: Record<string, string> }, prompts: readonly string[]) {
    if (!passkeys.enabled) throw new AppError('passkeys_off', 404, 'Passkeys are not available here.');
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params['uid']) throw new oidcErrors.SessionNotFound('interaction mismatch');
    preferLocales(ctx, templates.messages, details.params.ui_locales);
    ctx.set('Cache-Control', 'no-store');
    const body = ctx.request.body as Record<string, unknown> | undefined;
    csrf.verify(ctx, `interaction:${details.uid}`, body?.csrf);
    if (!prompts.includes(details.prompt.name)) throw new AppError('wrong_step', 400, 'This step of the sign-in is already done.');
    const client = await provider.Client.find(String(details.params.client_id));
    if (!client) throw new AppError('client_unavailable', 400, 'The app that sent you here is no longer available.');
    ctx.state.formTargets = [details.params.redirect_uri];
    return { details, client, uid: details.uid };
  }

  async function finish(ctx: Context, result: InteractionResults): Promise<string> {
    return provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  }

  const rememberOffer = (ctx: Context, answer: 'skipped' | 'registered') =>
    ctx.cookies.set(PASSKEY_OFFER_COOKIE, answer, {
      signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, overwrite: true, maxAge: answer === 'skipped' ? OFFER_SKIPPED_MS : OFFER_TAKEN_MS,
    });

  router.post('/authenticate/options', jsonBody, async (ctx) => {
    const { uid } = await load(ctx, ['login', PASSKEY_PROMPT]);
    ctx.body = await passkeys.authenticationOptions(binding(uid));
  });

  /** Step: an IP whose passkeys were refused too often waits (429), as for links that do not work. */
  const notThrottled: Middleware = async (ctx, next) => {
    const wait = await passkeyFailures.refusal(ctx.ip);
    if (wait !== undefined) {
      throw new AppError('rate_limited', 429, `Too many passkeys were refused from your network. Try again in ${wait} s.`, { retryAfterSeconds: wait, key: 'error.rate_limited.passkey' });
    }
    await next();
  };

  /** A refused passkey counts against the IP and is audited with why; the person sees one plain message. */
  async function recordRefusal(ctx: Context, error: PasskeyRefused, clientId: string, uid: string) {
    await passkeyFailures.failed(ctx.ip);
    await audit.record(audited(ctx, { type: 'passkey.refused', accountId: error.accountId, clientId, details: { reason: error.reason, interaction: uid, ...(error.passkeyId ? { passkey: error.passkeyId } : {}) } }));
  }

  router.post('/authenticate', jsonBody, notThrottled, async (ctx) => {
    const { client, uid } = await load(ctx, ['login', PASSKEY_PROMPT]);
    const signedIn = await passkeys.authenticate(binding(uid), (ctx.request.body as Record<string, unknown>).response).catch(async (error: unknown) => {
      if (error instanceof PasskeyRefused) await recordRefusal(ctx, error, client.clientId, uid);
      throw error;
    });
    const { account, passkey, amr } = signedIn;
    await audit.record(audited(ctx, { type: 'passkey.used', accountId: account.id, clientId: client.clientId, details: { passkey: passkey.id } }));
    await audit.record(audited(ctx, { type: 'login.completed', accountId: account.id, email: account.email, clientId: client.clientId, details: { method: 'passkey' } }));
    // as after an emailed link: a first-party app's consent is answered with the login
    const consent = isFirstParty(client) ? { consent: {} } : {};
    ctx.body = { location: await finish(ctx, { login: { accountId: account.id, amr, acr: ACR_PASSKEY, remember: true }, ...consent }) };
  });

  router.post('/register/options', jsonBody, async (ctx) => {
    const { details } = await load(ctx, [PASSKEY_OFFER_PROMPT]);
    ctx.body = await passkeys.registrationOptions(await signedInAccount(details), binding(details.uid));
  });

  router.post('/register', jsonBody, async (ctx) => {
    const { details, client } = await load(ctx, [PASSKEY_OFFER_PROMPT]);
    const account = await signedInAccount(details);
    const body = ctx.request.body as Record<string, unknown>;
    const passkey = await passkeys.register(account, binding(details.uid), body.response, typeof body.name === 'string' ? body.name : passkeyName(ctx, templates));
    await audit.record(audited(ctx, { type: 'passkey.registered', accountId: account.id, clientId: client.clientId, details: { passkey: passkey.id, via: 'offer' } }));
    rememberOffer(ctx, 'registered');
    ctx.body = { location: await finish(ctx, offerAnswered(details, 'registered')) };
  });

  // a plain form: declining works without JavaScript
  router.post('/skip', formBody, async (ctx) => {
    const { details } = await load(ctx, [PASSKEY_OFFER_PROMPT]);
    rememberOffer(ctx, 'skipped');
    ctx.status = 303;
    ctx.redirect(await finish(ctx, offerAnswered(details, 'skipped')));
  });

  /**
   * The offer's answer, with the consent answered together with the login (a first-party app's)
   * carried over; the login itself is not submitted again (that would move auth_time).
   */
  const offerAnswered = (details: InteractionDetails, answer: 'skipped' | 'registered'): InteractionResults => {
    const consent = details.lastSubmission?.consent;
    return { ...(consent ? { consent } : {}), passkeyOffer: { answer } };
  };

  async function signedInAccount(details: InteractionDetails) {
    const accountId = details.session?.accountId;
    const account = accountId ? await passkeys.accountOf(accountId) : undefined;
    if (!account) throw new AppError('login_unavailable', 403, 'This address cannot sign in here.');
    return account;
  }

  const signInUrls = (uid: string) => ({ optionsUrl: `/interaction/${uid}/passkey/authenticate/options`, verifyUrl: `/interaction/${uid}/passkey/authenticate` });

  const interaction: InteractionExtension = {
    emailPage: (uid) => (passkeys.enabled ? { passkeySignIn: signInUrls(uid) } : {}),
    async render(ctx, details, app) {
      const { uid } = details;
      const common = { clientName: app.clientName, logoUri: app.logoUri, csrf: csrf.token(ctx, `interaction:${uid}`), abortAction: `/interaction/${uid}/abort` };
      if (details.prompt.name === PASSKEY_PROMPT) {
        // an account known from this browser's session that has no passkey: say so, not a button that cannot work
        const accountId = details.session?.accountId;
        const none = accountId !== undefined && (await passkeys.count(accountId)) === 0;
        renderPage(ctx, templates, 'passkeys/step-up', {
          title: t(ctx, templates, 'passkey.stepup.title'),
          ...common,
          noPasskey: none,
          signedIn: accountId !== undefined,
          accountUrl: '/account/passkeys',
          passkeySignIn: none ? undefined : signInUrls(uid),
        });
        return true;
      }
      if (details.prompt.name === PASSKEY_OFFER_PROMPT) {
        renderPage(ctx, templates, 'passkeys/offer', {
          title: t(ctx, templates, 'passkey.offer.title'),
          ...common,
          optionsUrl: `/interaction/${uid}/passkey/register/options`,
          verifyUrl: `/interaction/${uid}/passkey/register`,
          skipAction: `/interaction/${uid}/passkey/skip`,
        });
        return true;
      }
      return false;
    },
  };
  return { router, interaction };
}

/** A passkey's first name: the browser and system it was made on ("Chrome on Linux"), in the page's language; the person may change it. */
export function passkeyName(ctx: Context, templates: HttpDeps['templates']): string | undefined {
  const { browser, system } = parseDevice(ctx.get('User-Agent'));
  if (!browser && !system) return undefined;
  return deviceName(ctx.get('User-Agent'), (key, params) => t(ctx, templates, key, params));
}
