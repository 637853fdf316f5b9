import type { Context, Middleware, Next } from 'koa';
import { errors as oidcErrors, type Provider } from 'oidc-provider';
import { AppError } from '../shared/errors.js';
import type { Messages } from '../shared/i18n.js';
import type { ClientRecord } from '../clients/client.js';
import type { LoginService } from '../login/login-service.js';
import { deviceSecret } from './device-cookie.js';
import type { ErrorNext } from './errors.js';
import { appHome } from '../clients/app-home.js';
import { field } from './body.js';
import type { Csrf } from './csrf.js';
import { preferLocales } from './pages.js';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** The app as the pages show it. */
export interface ClientView {
  clientId: string;
  clientName: string;
  logoUri?: string;
  /** where "back to the app" leads: the origin of its first web redirect URI */
  appUrl?: string;
}

/** What `loadInteraction` leaves for the steps after it (in `ctx.state.interaction`). */
export interface LoadedInteraction {
  uid: string;
  details: Details;
  /** oidc-provider's client, for the checks that read its metadata (first party) */
  client: { [key: string]: unknown };
  app: ClientView;
}

/** The interaction a step before this one loaded. */
export function interactionOf(ctx: Context): LoadedInteraction {
  const loaded = ctx.state.interaction as LoadedInteraction | undefined;
  if (!loaded) throw new Error('loadInteraction must run before this step');
  return loaded;
}

export function clientView(client: { clientId: string; clientName?: string; logoUri?: string; redirectUris?: readonly string[] }): ClientView {
  return { clientId: client.clientId, clientName: client.clientName ?? client.clientId, logoUri: client.logoUri, appUrl: appHome(client.redirectUris) };
}

/**
 * Loads the interaction this browser is in (oidc-provider reads it from the interaction cookie)
 * and its app, as oidc-provider's own example starts every interaction route. A URL naming
 * another interaction than the cookie's is stale: SessionNotFound, which the error handler
 * answers with "this sign-in has expired".
 */
export function loadInteraction(provider: Provider, messages: Messages): Middleware {
  return async (ctx: Context & { params?: Record<string, string> }, next: Next) => {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params?.uid) throw new oidcErrors.SessionNotFound('interaction mismatch');
    preferLocales(ctx, messages, details.params.ui_locales);
    const client = await provider.Client.find(String(details.params.client_id));
    if (!client) throw new AppError('client_unavailable', 400, 'The app that sent you here is no longer available.');
    ctx.set('Cache-Control', 'no-store');
    // every form of these pages ends, after its redirects, at the app's redirect URI
    ctx.state.formTargets = [details.params.redirect_uri];
    const app = clientView(client);
    // an error from here on can offer the way back to the app
    ctx.state.app = app;
    ctx.state.interaction = { uid: details.uid, details, client: client as unknown as { [key: string]: unknown }, app } satisfies LoadedInteraction;
    await next();
  };
}

/** The form's CSRF token, bound to this browser and this interaction. */
export function checkCsrf(csrf: Csrf): Middleware {
  return async (ctx, next) => {
    csrf.verify(ctx, interactionPurpose(interactionOf(ctx).uid), field(ctx.request.body, 'csrf'));
    await next();
  };
}

/** A form of one step (login, consent) posted when the interaction is at another. */
export function checkPrompt(name: 'login' | 'consent'): Middleware {
  return async (ctx, next) => {
    if (interactionOf(ctx).details.prompt.name !== name) throw new AppError('wrong_step', 400, 'This step of the sign-in is already done.');
    await next();
  };
}

export const interactionPurpose = (uid: string) => `interaction:${uid}`;

/**
 * An interaction that is over (finished, expired, or another one started in this browser) is
 * SessionNotFound, answered by the error handler. When this browser asked for the sign-in, its
 * login request still names the app: the error page then links back to it, and a sign-in that
 * finished says so instead of "start again".
 */
export function explainEndedInteraction(login: LoginService, findClient: (clientId: string) => Promise<ClientRecord | undefined>): Middleware {
  return async (ctx: Context & { params?: Record<string, string> }, next: Next) => {
    try {
      await next();
    } catch (error) {
      const uid = ctx.params?.uid;
      if (error instanceof oidcErrors.SessionNotFound && uid) {
        const request = await login.latest(uid).catch(() => undefined);
        if (request && login.isSameBrowser(request, deviceSecret(ctx))) {
          const client = await findClient(request.clientId).catch(() => undefined);
          ctx.state.app = { clientId: request.clientId, clientName: client?.name ?? request.clientId, logoUri: client?.logoUri, appUrl: appHome(client?.redirectUris) } satisfies ClientView;
          if (request.status === 'completed') ctx.state.errorNext = { signedIn: true } satisfies ErrorNext;
        }
      }
      throw error;
    }
  };
}
