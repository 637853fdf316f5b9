import { expect } from 'chai';
import * as oauth from 'oauth4webapi';
import { Browser } from '../support/browser.js';
import { REDIRECT_URI, signInWithLink } from '../support/relying-party.js';
import { withServer } from '../support/test-server.js';

/**
 * oauth4webapi, the low-level client (no hidden defaults): a public client (no secret) with PKCE,
 * then PAR and DPoP. Responses are validated by the library: `iss` and `state` of the
 * authorization response, the token response, the ID token's claims and its signature (against
 * the published JWKS), the userinfo subject.
 */
describe('interop: oauth4webapi (sqlite)', function () {
  let as: oauth.AuthorizationServer;
  const http = { [oauth.allowInsecureRequests]: true };

  const server = withServer('sqlite');
  before(async () => {
    const issuer = new URL(server.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, http));
  });

  async function publicClient(name: string, options: { dpopBoundAccessTokens?: boolean } = {}): Promise<oauth.Client> {
    const { client } = await server.sesame.clients.add({ name, redirectUris: [REDIRECT_URI], isPublic: true, firstParty: true, ...options });
    return { client_id: client.clientId };
  }

  interface Started {
    url: URL;
    verifier: string;
    state: string;
    nonce: string;
  }

  async function authorizationUrl(client: oauth.Client, extra: Record<string, string> = {}): Promise<Started> {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid email offline_access',
      prompt: 'consent',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    }).toString();
    return { url, verifier, state, nonce };
  }

  async function redeem(client: oauth.Client, started: Started, callback: string, options: { DPoP?: oauth.DPoPHandle } = {}) {
    const params = oauth.validateAuthResponse(as, client, new URL(callback), started.state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT_URI, started.verifier, { ...http, ...options });
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: started.nonce, requireIdToken: true });
    await oauth.validateApplicationLevelSignature(as, response, http);
    return tokens;
  }

  it('public client with PKCE: sign-in, ID token signature, userinfo, refresh', async () => {
    const client = await publicClient('oauth4webapi App');
    const started = await authorizationUrl(client);
    const callback = await signInWithLink(new Browser(server.issuer), server.smtp, started, 'o4w-public@example.com');
    const tokens = await redeem(client, started, callback);
    const claims = oauth.getValidatedIdTokenClaims(tokens)!;
    expect(claims).to.include({ iss: server.issuer, aud: client.client_id });
    expect(tokens.token_type).to.equal('bearer');

    const userinfo = await oauth.processUserInfoResponse(as, client, claims.sub, await oauth.userInfoRequest(as, client, tokens.access_token, http));
    expect(userinfo).to.include({ email: 'o4w-public@example.com', email_verified: true });

    const refreshed = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, http));
    expect(oauth.getValidatedIdTokenClaims(refreshed)!.sub).to.equal(claims.sub);
    expect(refreshed.refresh_token).to.be.a('string').and.not.equal(tokens.refresh_token);
  });

  it('public client with PKCE: a code redeemed with another verifier is refused, and the iss parameter is checked', async () => {
    const client = await publicClient('oauth4webapi PKCE App');
    const started = await authorizationUrl(client);
    const callback = await signInWithLink(new Browser(server.issuer), server.smtp, started, 'o4w-pkce@example.com');
    const params = oauth.validateAuthResponse(as, client, new URL(callback), started.state);
    const wrong = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT_URI, oauth.generateRandomCodeVerifier(), http);
    await expectResponseError(oauth.processAuthorizationCodeResponse(as, client, wrong), 'invalid_grant');

    // the authorization response names its issuer (RFC 9207), and oauth4webapi insists on it
    const forged = new URL(callback);
    forged.searchParams.set('iss', 'https://evil.example');
    expect(() => oauth.validateAuthResponse(as, client, forged, started.state)).to.throw(/iss/);
  });

  it('PAR: the authorization request is pushed first, the browser carries only its request_uri, which works once', async () => {
    const client = await publicClient('oauth4webapi PAR App');
    expect(as.pushed_authorization_request_endpoint).to.equal(`${server.issuer}/request`);
    const started = await authorizationUrl(client);
    const pushed = await oauth.processPushedAuthorizationResponse(as, client,
      await oauth.pushedAuthorizationRequest(as, client, oauth.None(), started.url.searchParams, http));
    expect(pushed.request_uri).to.match(/^urn:ietf:params:oauth:request_uri:/);
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({ client_id: client.client_id, request_uri: pushed.request_uri }).toString();

    const browser = new Browser(server.issuer);
    const callback = await signInWithLink(browser, server.smtp, { url }, 'o4w-par@example.com');
    const tokens = await redeem(client, started, callback);
    expect(oauth.getValidatedIdTokenClaims(tokens)!.aud).to.equal(client.client_id);

    // a pushed request is single use: replaying its request_uri (even in the browser that signed in)
    // ends on Sesame's error page, with no code and no redirect to the app
    const replay = await browser.get(url.toString());
    expect(replay.status).to.equal(400);
    expect(replay.location).to.equal(undefined);
    expect(replay.body).to.include('invalid_request_uri');
  });

  it('DPoP: access and refresh tokens are bound to the app\'s key; without its proof, or with another key\'s, they are refused', async () => {
    const client = await publicClient('oauth4webapi DPoP App');
    const key = await oauth.generateKeyPair('ES256');
    const dpop = oauth.DPoP(client, key);
    const started = await authorizationUrl(client);
    const callback = await signInWithLink(new Browser(server.issuer), server.smtp, started, 'o4w-dpop@example.com');
    const tokens = await retryOnDPoPNonce(() => redeem(client, started, callback, { DPoP: dpop }));
    expect(tokens.token_type).to.equal('dpop');
    const { sub } = oauth.getValidatedIdTokenClaims(tokens)!;

    const userinfo = (options: oauth.UserInfoRequestOptions = {}) =>
      retryOnDPoPNonce(async () => oauth.processUserInfoResponse(as, client, sub, await oauth.userInfoRequest(as, client, tokens.access_token, { ...http, ...options })));
    expect((await userinfo({ DPoP: dpop })).email).to.equal('o4w-dpop@example.com');
    // presented as a plain bearer token (no proof), the bound token is refused
    await expectChallenge(userinfo(), 'invalid_token');
    // a proof made with another key does not match the token's binding
    const thief = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    await expectChallenge(userinfo({ DPoP: thief }), 'invalid_token');

    // a public client's refresh token is bound to the same key
    const refresh = (options: oauth.TokenEndpointRequestOptions = {}) =>
      retryOnDPoPNonce(async () => oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, { ...http, ...options })));
    await expectResponseError(refresh(), 'invalid_grant');
    await expectResponseError(refresh({ DPoP: thief }), 'invalid_grant');
    const refreshed = await refresh({ DPoP: dpop });
    expect(refreshed.token_type).to.equal('dpop');
    const fresh = await retryOnDPoPNonce(async () => oauth.processUserInfoResponse(as, client, sub, await oauth.userInfoRequest(as, client, refreshed.access_token, { ...http, DPoP: dpop })));
    expect(fresh.sub).to.equal(sub);
  });

  it('DPoP required by the registration (--dpop-bound): a code redeemed without a proof gets no token', async () => {
    const client = await publicClient('oauth4webapi DPoP-only App', { dpopBoundAccessTokens: true });
    const started = await authorizationUrl(client);
    const callback = await signInWithLink(new Browser(server.issuer), server.smtp, started, 'o4w-dpop-only@example.com');
    await expectResponseError(redeem(client, started, callback), 'invalid_grant');
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const tokens = await retryOnDPoPNonce(() => redeem(client, started, callback, { DPoP }));
    expect(tokens.token_type).to.equal('dpop');
  });
});

/** A server may ask for a DPoP nonce first (use_dpop_nonce); the handle remembers it, so one retry does. */
async function retryOnDPoPNonce<T>(attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt();
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error;
    return attempt();
  }
}

async function expectChallenge(promise: Promise<unknown>, error: string): Promise<void> {
  try {
    await promise;
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(oauth.WWWAuthenticateChallengeError);
    expect((e as oauth.WWWAuthenticateChallengeError).cause.map((challenge) => challenge.parameters.error)).to.include(error);
    return;
  }
  expect.fail(`expected a WWW-Authenticate challenge with ${error}`);
}

async function expectResponseError(promise: Promise<unknown>, error: string): Promise<void> {
  try {
    await promise;
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(oauth.ResponseBodyError);
    expect((e as oauth.ResponseBodyError).error, (e as oauth.ResponseBodyError).error_description).to.equal(error);
    return;
  }
  expect.fail(`expected ${error}`);
}
