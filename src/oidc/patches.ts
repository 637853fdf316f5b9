import Provider from 'oidc-provider';

/**
 * Every place where Sesame relies on oidc-provider beyond its documented configuration, in one
 * module. Each has a contract test (test/unit/oidc-patches.test.ts) that fails when a new version
 * of the library changes what the patch relies on, so that patch-level updates of oidc-provider
 * can be taken (package.json allows ~9.13) and anything they break shows up as a failing test, not
 * as a silent change of behaviour.
 *
 * 1. `Client.prototype.compareClientSecret` (client authentication calls it): client secrets are
 *    stored as keyed hashes, so the comparison hashes what the client presented.
 * 2. koa's `request.protocol` and `request.host` on the provider (every URL it builds reads them):
 *    pinned to the issuer, whatever Host or X-Forwarded-* say.
 * 3. `Provider.ctx` (the request's koa context, from oidc-provider's AsyncLocalStorage): lets the
 *    storage adapter mark a request whose database was busy, so it answers 503, not 500.
 * 4. The error description oidc-provider gives a grant type the client is not registered for
 *    (`GRANT_NOT_ALLOWED`): that one answer is renamed `unauthorized_client` (RFC 6749 §5.2).
 * 5. A body parsed before oidc-provider's own parser (the registration guard reads RFC 7592
 *    updates first): oidc-provider then uses `ctx.request.body` instead of reading the stream.
 * 6. The browser's session at Sesame, outside oidc-provider's own routes: the account page is
 *    entered with it. Read as oidc-provider reads it, from its `_session` cookie
 *    (`provider.cookieName('session')`, signed like its long cookies) and `Session.find`.
 */

/** 1. */
export function compareHashedClientSecrets(provider: Provider, verify: (presented: string, stored: string) => boolean): void {
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return Boolean(this.clientSecret) && verify(actual, this.clientSecret!);
  };
}

/**
 * 2. The issuer is Sesame's only public address, so every request is taken to have arrived at it:
 * `Host`, `X-Forwarded-Host`, `X-Forwarded-Proto` and `Forwarded` cannot move a URL that oidc-provider
 * or we build (discovery, redirects, links) to another origin. And with an https issuer every
 * request arrived over https, even when a TLS terminator forwarded it as http: cookies, ours and
 * oidc-provider's, are then always Secure.
 */
export function pinOriginToIssuer(provider: Provider, issuer: string): void {
  const { protocol, host } = new URL(issuer);
  Object.defineProperty(provider.request, 'protocol', { configurable: true, get: () => protocol.slice(0, -1) });
  Object.defineProperty(provider.request, 'host', { configurable: true, get: () => host });
}

/** 3. The state of the request being served (koa's `ctx.state`), if oidc-provider is serving one. */
export function currentRequestState(): Record<string, unknown> | undefined {
  return (Provider as unknown as { ctx?: { state: Record<string, unknown> } }).ctx?.state;
}

/** 6. The signed-in session this request's browser holds at Sesame, if any (expired or signed-out ones are not found). */
export async function browserSession(provider: Provider, ctx: { cookies: { get(name: string, options: { signed: boolean }): string | undefined } }): Promise<BrowserSession | undefined> {
  const id = ctx.cookies.get(provider.cookieName('session'), { signed: true });
  if (!id) return undefined;
  const session = await provider.Session.find(id);
  if (!session?.accountId || typeof session.loginTs !== 'number') return undefined;
  return { uid: session.uid, accountId: session.accountId, loginTs: session.loginTs };
}

export interface BrowserSession {
  /** stable for the session's life (its id changes at every sign-in, this does not) */
  readonly uid: string;
  readonly accountId: string;
  /** when the person last proved the address, in seconds since the epoch */
  readonly loginTs: number;
}

/** 4. */
export const GRANT_NOT_ALLOWED = 'requested grant type is not allowed for this client';
