import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as client from 'openid-client';
import { Browser } from '../support/browser.js';
import { expectOAuthError, POST_LOGOUT_URI, REDIRECT_URI, signInWithLink } from '../support/relying-party.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

/**
 * openid-client (Node), configured as docs/connecting-apps/openid-client.md says: discovery from the
 * issuer, a confidential client, PKCE (S256), state and nonce. Every token is checked by the
 * library itself (ID token signature, iss, aud, nonce, the `iss` authorization response parameter).
 */
describe('interop: openid-client (sqlite)', function () {
  let server: TestServer;

  before(async () => {
    server = await startTestServer('sqlite');
  });
  after(() => server?.close());

  async function signIn(config: client.Configuration, email: string, browser = new Browser(server.issuer)) {
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid email offline_access',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const callback = await signInWithLink(browser, server.smtp, { url }, email);
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
    return { tokens, browser };
  }

  it('client_secret_basic: sign-in, userinfo, refresh and RP-initiated logout', async () => {
    const { client: registered, clientSecret } = await server.sesame.clients.add({
      name: 'openid-client App', redirectUris: [REDIRECT_URI], postLogoutRedirectUris: [POST_LOGOUT_URI], firstParty: true,
    });
    const config = await client.discovery(new URL(server.issuer), registered.clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });

    const { tokens, browser } = await signIn(config, 'oc-basic@example.com');
    const claims = tokens.claims()!;
    expect(claims).to.include({ iss: server.issuer, aud: registered.clientId });
    expect(claims.amr).to.deep.equal(['email']);
    expect(tokens.token_type).to.match(/^bearer$/i);

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(userinfo).to.include({ sub: claims.sub, email: 'oc-basic@example.com', email_verified: true });
    // openid-client compares the userinfo subject with the one it was given
    await expectUserinfoSubjectMismatch(client.fetchUserInfo(config, tokens.access_token, 'someone-else'));

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.claims()!.sub).to.equal(claims.sub);
    expect(refreshed.access_token).not.to.equal(tokens.access_token);
    expect((await client.fetchUserInfo(config, refreshed.access_token, claims.sub)).email).to.equal('oc-basic@example.com');

    const state = client.randomState();
    const logout = client.buildEndSessionUrl(config, { id_token_hint: refreshed.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI, state });
    const confirm = await browser.get(logout.toString());
    expect(confirm.status).to.equal(200);
    const done = await browser.submit(confirm, /\/session\/end\/confirm$/, { logout: 'yes' });
    const back = new URL(done.location!);
    expect(back.origin + back.pathname).to.equal(POST_LOGOUT_URI);
    expect(back.searchParams.get('state')).to.equal(state);
    // the session at Sesame is gone: the next sign-in asks for an email again
    const again = await browser.get(client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    }).toString());
    expect(again.body).to.include('name="email"');
  });

  it('client_secret_basic: a wrong secret is refused and spends nothing', async () => {
    const { client: registered, clientSecret } = await server.sesame.clients.add({ name: 'Strict Auth App', redirectUris: [REDIRECT_URI], firstParty: true });
    const basic = await client.discovery(new URL(server.issuer), registered.clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
    const { tokens } = await signIn(basic, 'oc-strict@example.com');

    const wrong = await client.discovery(new URL(server.issuer), registered.clientId, undefined, client.ClientSecretBasic(`${clientSecret}x`), { execute: [client.allowInsecureRequests] });
    await expectOAuthError(client.refreshTokenGrant(wrong, tokens.refresh_token!), 'invalid_client');
    // the refused attempt did not spend the refresh token
    expect((await client.refreshTokenGrant(basic, tokens.refresh_token!)).access_token).to.be.a('string');
  });

  it('private_key_jwt: signs in, reads userinfo and refreshes with signed assertions; another key or a replayed assertion is refused', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const kid = 'app-key-1';
    const { client: registered, clientSecret } = await server.sesame.clients.add({
      name: 'Signed App', redirectUris: [REDIRECT_URI], firstParty: true,
      authMethod: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] },
    });
    expect(clientSecret).to.equal(undefined);
    const config = await client.discovery(new URL(server.issuer), registered.clientId, undefined, client.PrivateKeyJwt({ key: privateKey, kid }), { execute: [client.allowInsecureRequests] });

    const { tokens } = await signIn(config, 'oc-pkjwt@example.com');
    const { sub } = tokens.claims()!;
    expect((await client.fetchUserInfo(config, tokens.access_token, sub)).email).to.equal('oc-pkjwt@example.com');
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.claims()!.sub).to.equal(sub);

    // a key the client did not register, even with the registered kid
    const stranger = await client.discovery(new URL(server.issuer), registered.clientId, undefined,
      client.PrivateKeyJwt({ key: (await generateKeyPair('ES256')).privateKey, kid }), { execute: [client.allowInsecureRequests] });
    await expectOAuthError(client.refreshTokenGrant(stranger, refreshed.refresh_token!), 'invalid_client');

    // an assertion is good once: a captured one cannot be replayed
    const assertion = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(registered.clientId).setSubject(registered.clientId).setAudience(server.issuer)
      .setJti(randomUUID()).setIssuedAt().setExpirationTime('1m').sign(privateKey);
    const refreshWith = (refreshToken: string) => fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token', refresh_token: refreshToken,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
      }),
    });
    const first = await refreshWith(refreshed.refresh_token!);
    expect(first.status).to.equal(200);
    const { refresh_token: next } = (await first.json()) as { refresh_token: string };
    const replay = await refreshWith(next);
    expect(replay.status).to.equal(401);
    expect(((await replay.json()) as { error: string }).error).to.equal('invalid_client');
  });
});

async function expectUserinfoSubjectMismatch(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expect((error as { code?: string }).code).to.equal('OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED');
    return;
  }
  expect.fail('openid-client accepted a userinfo response for another subject');
}
