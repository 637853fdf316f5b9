import { createHash } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import type { Account } from '../accounts/account.js';
import { ACCOUNT_CLIENT_ID, accountCallbackUri } from '../oidc/account-client.js';
import { browserSession, type BrowserSession } from '../oidc/patches.js';
import { constantTimeEqual, randomToken } from '../shared/crypto.js';
import { AppError } from '../shared/errors.js';
import { field } from './body.js';
import type { HttpDeps } from './context.js';

/** Who is on the account page: the account, the Sesame session it was reached with, and the CSRF token of its forms. */
export interface SignedIn {
  readonly account: Account;
  readonly session: BrowserSession;
  /** the `csrf` field of every form on the page: bound to this browser and this session */
  readonly csrf: string;
}

/** The sign-in under way for the account page: state and PKCE verifier, in a signed cookie of this browser only. */
const FLOW_COOKIE = 'sesame.account';
const FLOW_MAX_AGE_MS = 60 * 60 * 1000;

/** Where a script puts the page's CSRF token (`SignedIn.csrf`) when it posts no form. */
export const CSRF_HEADER = 'X-CSRF-Token';

/**
 * How recent a sign-in must be for the changes that could hand the account to someone else (a new
 * address): Kratos' `privileged_session_max_age`, 15 minutes by default there too. Older sessions
 * are sent through the emailed sign-in again (`max_age`), as oidc-provider enforces for any app.
 */
export const PRIVILEGED_MAX_AGE_SECONDS = 15 * 60;

type Deps = Pick<HttpDeps, 'provider' | 'accounts' | 'csrf' | 'config'>;

/**
 * The gate of every /account route: the person's session at Sesame (oidc-provider's own session
 * cookie, the one that signs them in to apps without a new email) names the account. Without one,
 * or with a disabled account, the browser is sent through the same emailed sign-in as any app
 * (see `startSignIn`), and comes back to /account. On a POST the CSRF token must match this
 * browser and this session. `privileged`: the sign-in must be at most PRIVILEGED_MAX_AGE_SECONDS
 * old. Handlers read `ctx.state.signedIn` (`signedIn(ctx)`).
 *
 * A form's body must be parsed before (formBody), so that its CSRF field can be read; a script
 * may send the token in the X-CSRF-Token header instead.
 */
export function accountSession(deps: Deps, options: { privileged?: boolean } = {}): Middleware {
  const { provider, accounts, csrf } = deps;
  return async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    const session = await browserSession(provider, ctx);
    const account = session && (await accounts.findById(session.accountId));
    if (!session || !account || account.status !== 'active') return startSignIn(ctx, deps);
    const purpose = `account:${session.uid}`;
    // before anything else a POST does, even sending it to sign in again; a script's fetch() (the
    // passkey ceremonies) may send the token as a header instead of a form field
    if (ctx.method === 'POST') csrf.verify(ctx, purpose, field(ctx.request.body, 'csrf') ?? (ctx.get(CSRF_HEADER) || undefined));
    if (options.privileged && Date.now() / 1000 - session.loginTs > PRIVILEGED_MAX_AGE_SECONDS) {
      return startSignIn(ctx, deps, { maxAgeSeconds: PRIVILEGED_MAX_AGE_SECONDS });
    }
    ctx.state.signedIn = { account, session, csrf: csrf.token(ctx, purpose) } satisfies SignedIn;
    await next();
  };
}

export function signedIn(ctx: Context): SignedIn {
  const who = ctx.state.signedIn as SignedIn | undefined;
  if (!who) throw new Error('accountSession() must run before this handler');
  return who;
}

/**
 * Sends the browser to Sesame's own authorization endpoint as the account page's client
 * (oidc/account-client.ts): code flow with PKCE and a state, both kept in a signed, HttpOnly
 * cookie of this browser. The return address is always /account (nothing in the request chooses
 * it, so there is no open redirect).
 */
export function startSignIn(ctx: Context, { config }: Pick<Deps, 'config'>, options: { maxAgeSeconds?: number } = {}): void {
  const state = randomToken(16);
  const verifier = randomToken(32);
  ctx.cookies.set(FLOW_COOKIE, `${state}.${verifier}`, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/account', maxAge: FLOW_MAX_AGE_MS, overwrite: true });
  const params = new URLSearchParams({
    client_id: ACCOUNT_CLIENT_ID,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: accountCallbackUri(config.issuer),
    state,
    code_challenge: s256(verifier),
    code_challenge_method: 'S256',
  });
  if (typeof ctx.state.locale === 'string') params.set('ui_locales', ctx.state.locale);
  if (options.maxAgeSeconds !== undefined) params.set('max_age', String(options.maxAgeSeconds));
  ctx.set('Cache-Control', 'no-store');
  ctx.status = 303;
  ctx.redirect(`/auth?${params}`);
}

/**
 * GET /account/callback: the end of that sign-in. Only a flow this browser started lands (state
 * from its cookie, compared in constant time); the code is spent here, once, and must have been
 * issued to the account page's client for this verifier (PKCE), to the account this browser's
 * session now holds. The session itself was renewed by oidc-provider at the sign-in (a new id, so
 * a session id planted before it is worthless).
 */
export function accountCallback({ provider, config }: Pick<Deps, 'provider' | 'config'>): Middleware {
  return async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Referrer-Policy', 'no-referrer');
    const flow = ctx.cookies.get(FLOW_COOKIE, { signed: true });
    ctx.cookies.set(FLOW_COOKIE, null, { path: '/account', overwrite: true });
    const [state, verifier] = flow?.split('.') ?? [];
    const { query } = ctx;
    if (!state || !verifier || typeof query.state !== 'string' || !constantTimeEqual(state, query.state)) throw signInFailed();
    if (query.error === 'access_denied') {
      // the person pressed "Cancel" on the sign-in page
      ctx.status = 303;
      return ctx.redirect('/account/signed-out?cancelled=1');
    }
    const code = typeof query.code === 'string' ? await provider.AuthorizationCode.find(query.code) : undefined;
    if (!code || (code as { consumed?: unknown }).consumed || code.clientId !== ACCOUNT_CLIENT_ID || code.redirectUri !== accountCallbackUri(config.issuer)
      || typeof code.codeChallenge !== 'string' || !constantTimeEqual(code.codeChallenge, s256(verifier))) throw signInFailed();
    await code.consume();
    const session = await browserSession(provider, ctx);
    if (!session || session.accountId !== code.accountId) throw signInFailed();
    ctx.status = 303;
    ctx.redirect('/account');
  };
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

const signInFailed = () => new AppError('account_signin_failed', 400, 'This sign-in to your account page did not start in this browser, or it is over. Open your account page again.');
