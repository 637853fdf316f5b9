import Provider, { errors, type Adapter, type Configuration, type JWK, type KoaContextWithOIDC, type SigningAlgorithm, type Client } from 'oidc-provider';
import type { AccountService } from '../accounts/account-service.js';
import { appHome } from '../clients/app-home.js';
import { SCOPES, type TokenLifetimes } from '../clients/client.js';
import { CLIENT_SECRET_PURPOSE } from '../clients/client-service.js';
import type { Config } from '../config/config.js';
import { CookieSigner, derivedKey, randomId, type KeyedHasher } from '../shared/crypto.js';
import type { Templates } from '../shared/templates.js';
import { accountClientMetadata } from './account-client.js';
import { checkDynamicMetadata, OPERATOR_ONLY_METADATA } from './client-metadata.js';
import { grantLoader } from './grants.js';
import { compareHashedClientSecrets } from './patches.js';

import { ACR_EMAIL, ACR_PASSKEY } from './acr.js';
import { passkeyPolicy } from './passkey-policy.js';

export { ACR_EMAIL, ACR_PASSKEY };

export interface ProviderDeps {
  config: Config;
  adapter: (name: string) => Adapter;
  jwks: { keys: JWK[] };
  accounts: AccountService;
  clientSecrets: KeyedHasher;
  templates: Templates;
}

const ASYMMETRIC: SigningAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

export function createProvider({ config, adapter, jwks, accounts, clientSecrets, templates }: ProviderDeps): Provider {
  const configuration: Configuration = {
    adapter: adapter as unknown as Configuration['adapter'],
    jwks,
    // the account page's own client (account-client.ts); every other client is in the database
    clients: [accountClientMetadata(config.issuer, config.brand.productName)],
    cookies: {
      // keygrip's interface, cheaper (see CookieSigner); also signs our own pages' cookies
      keys: new CookieSigner(config.secrets.cookieKeys),
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    findAccount: async (_ctx, id) => {
      const account = await accounts.findById(id);
      if (!account || account.status !== 'active') return undefined;
      return {
        accountId: account.id,
        claims: async () => ({ sub: account.id, email: account.email, email_verified: account.emailVerified, ...(account.name ? { name: account.name } : {}) }),
      };
    },
    claims: {
      // acr, amr and auth_time reach the ID token only when a scope lists them (a scope-less claim is
      // returned only when asked for by name); their values come from the login result
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      sid: null,
      iss: null,
    },
    scopes: [...SCOPES],
    acrValues: config.passkeys.enabled ? [ACR_EMAIL, ACR_PASSKEY] : [ACR_EMAIL],
    responseTypes: ['code'],
    // PKCE from every client, except a confidential one an operator relaxed (it cannot send PKCE):
    // that one must send a nonce instead (RFC 9700 §2.1.1); a public client always needs PKCE
    pkce: { required: pkceRequired },
    // the claims of the granted scopes go into the ID token as well as userinfo: most client
    // libraries (Auth.js among them) read only the ID token
    conformIdTokenClaims: false,
    allowOmittingSingleRegisteredRedirectUri: false,
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    // client secrets are stored as keyed hashes (see below), so nothing may use them as HMAC keys
    enabledJWA: {
      clientAuthSigningAlgValues: ASYMMETRIC,
      idTokenSigningAlgValues: ASYMMETRIC,
      requestObjectSigningAlgValues: ASYMMETRIC,
      userinfoSigningAlgValues: ASYMMETRIC,
      introspectionSigningAlgValues: ASYMMETRIC,
      authorizationSigningAlgValues: ASYMMETRIC,
    },
    extraClientMetadata: {
      properties: [...OPERATOR_ONLY_METADATA],
      validator(ctx, key, value, metadata) {
        if (isRegistrationRoute(ctx)) {
          // an app registering itself may not make itself first-party (no consent) or pick its token lifetimes
          if (value !== undefined) throw new errors.InvalidClientMetadata(`${key} is set by operators only`);
          // the same rules as for operators (CLI, admin API), checked once per request
          if (key === 'first_party') {
            const problems = checkDynamicMetadata(metadata as Record<string, unknown>);
            if (problems.length) throw new errors.InvalidClientMetadata(problems.join('; '));
          }
          return;
        }
        if (key === 'first_party' && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata('first_party must be a boolean');
        }
      },
    },
    loadExistingGrant: grantLoader(accounts),
    rotateRefreshToken: true,
    // with passkeys: the step-up prompt (acr_values, max_age) and the offer after an emailed sign-in
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: passkeyPolicy(config.passkeys.enabled) },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      revocation: { enabled: true, allowedPolicy: ownTokensOnly },
      // an app that authenticates may introspect its own tokens; a machine client an operator
      // registered (e.g. a resource server) also other apps' access tokens, never their refresh
      // tokens. A public client cannot authenticate (RFC 7662 §2.1 wants the caller authorized):
      // it always hears `active: false`, so whoever holds a stolen refresh token cannot check it
      // without redeeming it (which the reuse detection then sees)
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token): Promise<boolean> =>
          client.clientAuthMethod !== 'none' && (token.clientId === client.clientId
          || ((client as unknown as Record<string, unknown>).sesame_resource_server === true && (token as { kind?: string }).kind !== 'RefreshToken')),
      },
      clientCredentials: { enabled: true },
      backchannelLogout: { enabled: true },
      // on by default in oidc-provider 9; stated here because Sesame documents and tests them
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      // With DPOP_REQUIRE_NONCE, every proof must carry a nonce (RFC 9449 §8): stateless HMACs of
      // the time, keyed from the newest HMAC secret, so every instance issues and accepts the same
      // ones. Without it none are handed out at all: once handed out, a nonce a client keeps goes
      // stale within minutes and costs a use_dpop_nonce retry, which not every client makes.
      dPoP: config.dpop.requireNonce
        ? { enabled: true, nonceSecret: derivedKey(config.secrets.hmacSecrets[0], 'dpop nonce'), requireNonce: () => true }
        : { enabled: true },
      // Dynamic Client Registration: /reg is guarded by our own initial access tokens (oidc/registration.ts)
      registration: { enabled: config.registration.enabled, initialAccessToken: false, issueRegistrationAccessToken: true, idFactory: () => randomId() },
      registrationManagement: { enabled: config.registration.enabled, rotateRegistrationAccessToken: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = templates.page('logout/confirm', { locale: localeOf(ctx), title: templates.messages.t(localeOf(ctx), 'logout.title'), form, clientName: ctx.oidc.client?.clientName });
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = templates.page('logout/done', { locale: localeOf(ctx), title: templates.messages.t(localeOf(ctx), 'logout.done.title') });
        },
      },
    },
    ttl: {
      AccessToken: (_ctx, _token, client) => lifetimeOf(client, 'accessToken') ?? 60 * 60,
      AuthorizationCode: 60,
      ClientCredentials: (_ctx, _token, client) => lifetimeOf(client, 'accessToken') ?? 10 * 60,
      IdToken: (_ctx, _token, client) => lifetimeOf(client, 'idToken') ?? 60 * 60,
      RefreshToken: (ctx, token, client) => {
        // a browser app's rotated refresh token does not extend the chain: stolen from the page, it dies with the original
        const rotated = ctx?.oidc?.entities.RotatedRefreshToken;
        if (rotated && client.applicationType === 'web' && client.clientAuthMethod === 'none' && !token.isSenderConstrained()) return rotated.remainingTTL;
        return lifetimeOf(client, 'refreshToken') ?? 14 * 24 * 60 * 60;
      },
      Grant: 365 * 24 * 60 * 60,
      Session: config.sessionTtlSeconds,
      // the interaction must outlive the emailed link (people read mail slowly); the link never outlives it
      Interaction: Math.max(60 * 60, config.login.ttlSeconds + 5 * 60),
      DeviceCode: 10 * 60,
      BackchannelAuthenticationRequest: 10 * 60,
      PreAuthorizedCode: 10 * 60,
    },
    clientBasedCORS: (_ctx, origin, client) =>
      (client.redirectUris ?? []).some((uri) => {
        try {
          return new URL(uri).origin === origin;
        } catch {
          return false;
        }
      }),
    // oidc-provider refuses to call special-use addresses (loopback, private networks) when it
    // fetches an app's jwks_uri or posts a logout token; development apps live on localhost
    fetch: (url, options) => {
      if (config.outboundAllowPrivate) delete (options as { dispatcher?: unknown }).dispatcher;
      return fetch(url, options);
    },
    // oidc-provider's errors that cannot go back to the app (an unknown app, a redirect_uri it did
    // not register…): a page in the person's language (the app's ui_locales first), saying what
    // happened in words, with oidc-provider's technical description for the app's developers
    renderError: async (ctx, out) => {
      // for the request's log line (src/http/request-log.ts): the page itself is HTML
      ctx.state.failure ??= { error: out.error, description: out.error_description };
      const uiLocales = ctx.oidc?.params?.ui_locales;
      const locale = (typeof uiLocales === 'string' && templates.messages.pick(uiLocales.split(' ').filter(Boolean))) || localeOf(ctx);
      const t = (key: string, params?: Record<string, unknown>) => templates.messages.t(locale, key, params);
      const client = ctx.oidc?.client;
      const explained = `error.oidc.${out.error}`;
      ctx.type = 'html';
      ctx.body = templates.page('error', {
        locale,
        title: t('error.oidc.title'),
        heading: t('error.oidc.title'),
        message: templates.messages.has(explained) ? t(explained) : t('error.oidc', { code: out.error }),
        detail: out.error_description,
        code: out.error,
        clientName: client?.clientName ?? client?.clientId,
        appUrl: appHome(client?.redirectUris),
      });
    },
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;
  // behind one trusted proxy, the client is the address that proxy appended last; anything to its
  // left in X-Forwarded-For was written by the client and proves nothing
  provider.maxIpsCount = 1;

  // Client secrets are kept as keyed hashes (a database leak hands out no working secret), so the
  // comparison hashes what the client presented instead of comparing plain text.
  compareHashedClientSecrets(provider, (presented, stored) => clientSecrets.verify(CLIENT_SECRET_PURPOSE, presented, stored));

  return provider;
}

function lifetimeOf(client: Client, key: keyof TokenLifetimes): number | undefined {
  return (client as unknown as { sesame_token_lifetimes?: TokenLifetimes }).sesame_token_lifetimes?.[key];
}

function isRegistrationRoute(ctx: KoaContextWithOIDC | undefined): boolean {
  const route = ctx?.oidc?.route;
  return route === 'registration' || route === 'client_update';
}

/** The page language chosen by the HTTP layer for this request (see http/pages.ts). */
function localeOf(ctx: KoaContextWithOIDC): string {
  return (ctx.state as { locale?: string }).locale ?? 'en';
}

async function ownTokensOnly(_ctx: KoaContextWithOIDC, client: Client, token: { clientId?: string }): Promise<boolean> {
  if (token.clientId === client.clientId) return true;
  if (client.clientAuthMethod === 'none') return false;
  throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
}

/** oidc-provider's `pkce.required`: true unless the client may leave PKCE out and sent a nonce. */
function pkceRequired(ctx: KoaContextWithOIDC, client: Client): boolean {
  if ((client as unknown as Record<string, unknown>).sesame_pkce_optional !== true || client.clientAuthMethod === 'none') return true;
  const params = ctx.oidc.params ?? {};
  if (params.code_challenge) return true;
  if (!params.nonce) throw new errors.InvalidRequest('a nonce is required when the request carries no PKCE code_challenge');
  return false;
}
