import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { expect } from 'chai';
import { decodeProtectedHeader } from 'jose';
import { Browser } from '../support/browser.js';
import { DB_KINDS } from '../support/databases.js';
import { client, discover, exchangeCode, expectOAuthError, POST_LOGOUT_URI, REDIRECT_URI, registerClient, type RegisteredClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { withServer } from '../support/test-server.js';

/** Headers a client (or a misconfigured proxy) may use to pretend the request was for another host. */
const SPOOFED_HOST = {
  host: 'evil.example',
  'x-forwarded-host': 'evil.example',
  'x-forwarded-proto': 'https',
  forwarded: 'host=evil.example;proto=https',
};

let emailCounter = 0;
const nextEmail = (label: string) => `${label}-${++emailCounter}@example.com`;

// Protocol rules that live in oidc-provider's configuration and do not depend on the database.
describe('protocol security enforced by the provider configuration (sqlite)', function () {
  let publicClient: RegisteredClient;
  let confidentialClient: RegisteredClient;
  let config: client.Configuration;

  const server = withServer('sqlite');
  before(async () => {
    publicClient = await registerClient(server.sesame, { isPublic: true, firstParty: true, name: 'Public App' });
    confidentialClient = await registerClient(server.sesame, { firstParty: true, name: 'Confidential App' });
    config = await discover(server.issuer, publicClient);
  });

  /** A hand-built /auth URL: `undefined` values leave the parameter out. */
  function authUrl(params: Record<string, string | undefined>): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, value);
    return `${server.issuer}/auth?${search}`;
  }

  async function validAuthParams(clientId: string): Promise<Record<string, string | undefined>> {
    return {
      client_id: clientId,
      response_type: 'code',
      scope: 'openid email',
      redirect_uri: REDIRECT_URI,
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'state-1',
    };
  }

  /**
   * An authorization request that must not succeed: either a 400 page, or a redirect to the
   * registered redirect URI carrying `error` (never a code or a token, never on to the login pages).
   */
  async function expectRefusedAuthorization(url: string, error: string | RegExp): Promise<void> {
    const res = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
    const body = await res.text();
    const location = res.headers.get('location');
    if (res.status === 400) {
      expect(location, url).to.equal(null);
      expect(body, url).to.match(typeof error === 'string' ? new RegExp(error) : error);
      return;
    }
    expect(res.status, `${url} → ${res.status} ${body}`).to.be.within(300, 399);
    expect(location, url).to.be.a('string');
    const target = new URL(location!, server.issuer);
    expect(target.toString().startsWith(REDIRECT_URI), `${url} redirected to ${target}`).to.equal(true);
    const params = new URLSearchParams(target.search || target.hash.slice(1));
    const hash = new URLSearchParams(target.hash.slice(1));
    expect(params.get('error') ?? hash.get('error'), `${url} → ${target}`).to.match(typeof error === 'string' ? new RegExp(`^${error}$`) : error);
    for (const forbidden of ['code', 'access_token', 'id_token']) {
      expect(params.has(forbidden) || hash.has(forbidden), `${forbidden} in ${target}`).to.equal(false);
    }
  }

  /** A fetch of our own server with the Host headers spoofed (fetch would replace Host). */
  function rawRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
    return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end(options.body);
    });
  }

  it('matches redirect URIs exactly: near-misses get a 400 page and are never redirected to', async () => {
    const valid = await validAuthParams(publicClient.clientId);
    // the control: the registered URI itself starts the sign-in
    const accepted = await fetch(authUrl(valid), { redirect: 'manual' });
    expect(accepted.status).to.be.within(300, 399);
    expect(accepted.headers.get('location')).to.match(/\/interaction\/[^/]+$/);

    const nearMisses: (string | undefined)[] = [
      'http://127.0.0.1:9/callback/',
      'http://127.0.0.1:9/Callback',
      'http://127.0.0.1:9/callback?x=1',
      'http://127.0.0.1:9@evil.example/callback',
      'http://evil.example@127.0.0.1:9/callback',
      'http://127.0.0.1:10/callback',
      'http://localhost:9/callback',
      undefined,
    ];
    for (const redirectUri of nearMisses) {
      const res = await fetch(authUrl({ ...valid, redirect_uri: redirectUri }), { redirect: 'manual', headers: { accept: 'text/html' } });
      const body = await res.text();
      const label = String(redirectUri);
      expect(res.status, label).to.equal(400);
      expect(res.headers.get('location'), label).to.equal(null);
      expect(res.headers.get('content-type'), label).to.include('text/html');
      expect(body, label).to.include('redirect_uri');
    }
  });

  it('requires PKCE with S256 from public and confidential clients', async () => {
    for (const registered of [publicClient, confidentialClient]) {
      const valid = await validAuthParams(registered.clientId);
      const accepted = await fetch(authUrl(valid), { redirect: 'manual' });
      expect(accepted.headers.get('location'), registered.clientId).to.match(/\/interaction\//);

      await expectRefusedAuthorization(authUrl({ ...valid, code_challenge: undefined, code_challenge_method: undefined }), 'invalid_request');
      await expectRefusedAuthorization(authUrl({ ...valid, code_challenge: undefined }), 'invalid_request');
      // plain sends the verifier itself as the challenge: anyone who sees the request can redeem the code
      const verifier = client.randomPKCECodeVerifier();
      await expectRefusedAuthorization(authUrl({ ...valid, code_challenge: verifier, code_challenge_method: 'plain' }), 'invalid_request');
    }
  });

  it('lets an operator relax PKCE for one confidential client, which must then send a nonce; never for a public client', async () => {
    const { client: legacy, clientSecret } = await server.sesame.clients.add({ name: 'Legacy App', redirectUris: [REDIRECT_URI], firstParty: true, pkceRequired: false });
    let refused: unknown;
    await server.sesame.clients.update(publicClient.clientId, { pkceRequired: false }).catch((e: unknown) => (refused = e));
    expect(String((refused as Error)?.message)).to.include('pkce_required: a public client always needs PKCE');

    const noPkce = { ...(await validAuthParams(legacy.clientId)), code_challenge: undefined, code_challenge_method: undefined };
    await expectRefusedAuthorization(authUrl(noPkce), 'invalid_request');
    const why = new URL((await fetch(authUrl(noPkce), { redirect: 'manual' })).headers.get('location')!).searchParams.get('error_description');
    expect(why).to.include('nonce is required');
    // the other confidential client still needs PKCE, nonce or not
    await expectRefusedAuthorization(authUrl({ ...(await validAuthParams(confidentialClient.clientId)), code_challenge: undefined, code_challenge_method: undefined, nonce: 'n' }), 'invalid_request');

    // a whole sign-in without PKCE, as an older confidential client makes it: the nonce comes back in the ID token
    const legacyConfig = await discover(server.issuer, { clientId: legacy.clientId, clientSecret });
    const nonce = client.randomNonce();
    const state = client.randomState();
    const start = { url: new URL(authUrl({ ...noPkce, nonce, state })), verifier: '', state, nonce };
    const callback = await signInWithLink(new Browser(server.issuer), server.smtp, start, nextEmail('no-pkce'));
    const tokens = await client.authorizationCodeGrant(legacyConfig, new URL(callback), { expectedState: state, expectedNonce: nonce });
    expect(tokens.claims()).to.include({ nonce });
  });

  it('accepts the authorization and logout requests as form POSTs (OpenID Connect Core 3.1.2.1), as a GET of the same parameters', async () => {
    const start = await startAuthorization(config);
    const params = Object.fromEntries(start.url.searchParams);
    const posted = await fetch(`${server.issuer}/auth`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params) });
    expect(posted.status).to.equal(303);
    const location = new URL(posted.headers.get('location')!, server.issuer);
    expect(location.pathname).to.equal('/auth');
    expect(Object.fromEntries(location.searchParams)).to.deep.equal(params);

    // a whole sign-in that starts with a POST, and its logout as a POST too
    const browser = new Browser(server.issuer);
    const email = nextEmail('post');
    const form = await browser.request('/auth', { form: params });
    expect(form.body).to.include('name="email"');
    await browser.submit(form, /\/email$/, { email });
    const { link } = loginDetails(await server.smtp.waitFor(email));
    const callback = await browser.submit(await browser.get(link), '/login/verify');
    const tokens = await exchangeCode(config, start, callback.location!);
    const logout = await browser.request('/session/end', { form: { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI } });
    expect(logout.body).to.include('Sign out');

    // a parameter sent twice is refused as it would be in a query
    const twice = await fetch(`${server.issuer}/auth`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `${new URLSearchParams(params)}&scope=openid` });
    await expectRefusedAuthorization(new URL(twice.headers.get('location')!, server.issuer).toString(), 'invalid_request');
  });

  it('refuses to exchange a code with the wrong code_verifier (invalid_grant)', async () => {
    const start = await startAuthorization(config);
    const callback = await signInWithLink(new Browser(server.issuer), server.smtp, start, nextEmail('verifier'));
    const code = new URL(callback).searchParams.get('code')!;
    const wrongVerifier = client.randomPKCECodeVerifier();
    expect(wrongVerifier).not.to.equal(start.verifier);
    const res = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: wrongVerifier, client_id: publicClient.clientId }),
    });
    const body = (await res.json()) as Record<string, string>;
    expect(res.status).to.equal(400);
    expect(body.error).to.equal('invalid_grant');
    expect(body).not.to.have.property('access_token');
  });

  it('offers no unsigned or HMAC algorithms, refuses an alg=none request object and signs ID tokens with RS256', async () => {
    const metadata = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    const algFields = [
      'id_token_signing_alg_values_supported',
      'userinfo_signing_alg_values_supported',
      'request_object_signing_alg_values_supported',
      'token_endpoint_auth_signing_alg_values_supported',
      'introspection_endpoint_auth_signing_alg_values_supported',
    ].filter((name) => name in metadata);
    expect(algFields).to.include('id_token_signing_alg_values_supported');
    for (const name of algFields) {
      const values = metadata[name] as string[];
      expect(values, name).to.be.an('array').that.is.not.empty;
      for (const alg of values) {
        expect(alg.toLowerCase(), name).not.to.equal('none');
        expect(alg, name).not.to.match(/^HS/i);
      }
    }

    const valid = await validAuthParams(publicClient.clientId);
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${b64({ alg: 'none', typ: 'oauth-authz-req+jwt' })}.${b64({
      ...valid,
      iss: publicClient.clientId,
      aud: server.issuer,
      exp: Math.floor(Date.now() / 1000) + 300,
    })}.`;
    await expectRefusedAuthorization(
      authUrl({ client_id: publicClient.clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, request: unsigned }),
      /invalid_request_object|request_not_supported|invalid_request/,
    );
    // the same object with every parameter also outside it
    await expectRefusedAuthorization(authUrl({ ...valid, request: unsigned }), /invalid_request_object|request_not_supported|invalid_request/);

    const start = await startAuthorization(config);
    const tokens = await exchangeCode(config, start, await signInWithLink(new Browser(server.issuer), server.smtp, start, nextEmail('alg')));
    expect(decodeProtectedHeader(tokens.id_token!).alg).to.equal('RS256');
  });

  it('publishes only the public members of its signing keys', async () => {
    const metadata = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
    const res = await fetch(metadata.jwks_uri);
    expect(res.status).to.equal(200);
    const { keys } = (await res.json()) as { keys: Record<string, unknown>[] };
    expect(keys).to.be.an('array').that.is.not.empty;
    for (const key of keys) {
      expect(key.kty, JSON.stringify(key)).to.equal('RSA');
      expect(key.n).to.be.a('string').and.not.empty;
      expect(key.e).to.be.a('string').and.not.empty;
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']) {
        expect(key, `${secret} in ${JSON.stringify(key)}`).not.to.have.property(secret);
      }
    }
  });

  // oidc-provider builds endpoint URLs from the request (ctx.href): Sesame pins it to the issuer
  it('takes the issuer and every endpoint URL from the configuration, never from Host or X-Forwarded-*', async () => {
    const res = await rawRequest(`${server.issuer}/.well-known/openid-configuration`, { headers: SPOOFED_HOST });
    expect(res.status).to.equal(200);
    const metadata = JSON.parse(res.body) as Record<string, unknown>;
    expect(metadata.issuer).to.equal(server.issuer);
    const urls = Object.entries(metadata).filter(([, value]) => typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(value));
    expect(urls.map(([name]) => name)).to.include.members(['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint']);
    for (const [name, value] of urls) {
      expect(`${value}/`.startsWith(`${server.issuer}/`), `${name}: ${value}`).to.equal(true);
    }
  });

  it('sends a link on the configured issuer and issues tokens with the configured iss when the email form is posted with a spoofed Host', async () => {
    const email = nextEmail('host');
    const browser = new Browser(server.issuer);
    const start = await startAuthorization(config);
    const form = await browser.get(start.url.toString(), { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', forwarded: 'host=evil.example;proto=https' });
    expect(form.status).to.equal(200);
    const action = /<form[^>]*action="([^"]*\/email)"/.exec(form.body)?.[1];
    const csrf = /name="csrf" value="([^"]*)"/.exec(form.body)?.[1];
    expect(action).to.be.a('string');
    const postUrl = new URL(action!, form.url).toString();
    const posted = await rawRequest(postUrl, {
      method: 'POST',
      headers: {
        ...SPOOFED_HOST,
        'content-type': 'application/x-www-form-urlencoded',
        cookie: await browser.jar.getCookieString(postUrl),
        'user-agent': browser.userAgent,
        accept: 'text/html',
      },
      body: new URLSearchParams({ csrf: csrf!, email }).toString(),
    });
    expect(posted.status, posted.body).to.equal(303);
    for (const setCookie of posted.headers['set-cookie'] ?? []) await browser.jar.setCookie(setCookie, postUrl);
    if (posted.headers.location) expect(posted.headers.location).not.to.include('evil.example');

    const mail = await server.smtp.waitFor(email);
    const { link } = loginDetails(mail);
    expect(link.startsWith(`${server.issuer}/`), link).to.equal(true);
    // neither the text nor the HTML part (nor any header) names the spoofed host
    expect(mail.raw).not.to.include('evil.example');

    const done = await browser.submit(await browser.get(link), '/login/verify');
    expect(done.location, `${done.status} ${done.url}`).to.match(new RegExp(`^${REDIRECT_URI}\\?`));
    expect(new URL(done.location!).searchParams.get('iss')).to.equal(server.issuer);
    const tokens = await exchangeCode(config, start, done.location!);
    expect(tokens.claims()!.iss).to.equal(server.issuer);
  });

  it('supports only the authorization code flow', async () => {
    const metadata = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata.response_types_supported).to.deep.equal(['code']);
    const valid = await validAuthParams(publicClient.clientId);
    for (const responseType of ['token', 'id_token', 'code id_token', 'id_token token', 'code token']) {
      await expectRefusedAuthorization(
        authUrl({ ...valid, response_type: responseType, nonce: 'nonce-1' }),
        /unsupported_response_type|unauthorized_client|invalid_request/,
      );
    }
  });
});

// Spent codes and refresh tokens must revoke what they produced: that is state in the database.
for (const kind of DB_KINDS) {
  describe(`replayed codes and refresh tokens revoke the grant (${kind})`, function () {
    let registered: RegisteredClient;
    let config: client.Configuration;

    const server = withServer(kind);
    before(async () => {
      // confidential: it authenticates, so introspection answers it about its own tokens
      registered = await registerClient(server.sesame, { firstParty: true });
      config = await discover(server.issuer, registered);
    });

    async function signIn(label: string) {
      const start = await startAuthorization(config);
      const callback = await signInWithLink(new Browser(server.issuer), server.smtp, start, nextEmail(`${label}-${kind}`));
      return { start, callback };
    }

    async function userinfoStatus(accessToken: string): Promise<number> {
      const res = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
      await res.arrayBuffer();
      return res.status;
    }

    async function isActive(token: string): Promise<boolean> {
      return (await client.tokenIntrospection(config, token)).active;
    }

    it('a replayed authorization code fails with invalid_grant and revokes the tokens it gave', async () => {
      const { start, callback } = await signIn('replay');
      const tokensA = await exchangeCode(config, start, callback);
      expect(tokensA.refresh_token).to.be.a('string');
      expect(await isActive(tokensA.access_token)).to.equal(true);
      expect(await userinfoStatus(tokensA.access_token)).to.equal(200);

      await expectOAuthError(exchangeCode(config, start, callback), 'invalid_grant');

      expect(await isActive(tokensA.access_token)).to.equal(false);
      expect(await userinfoStatus(tokensA.access_token)).to.equal(401);
      await expectOAuthError(client.refreshTokenGrant(config, tokensA.refresh_token!), 'invalid_grant');
    });

    it('reusing a spent refresh token fails with invalid_grant and revokes the whole grant', async () => {
      const { start, callback } = await signIn('refresh');
      const tokensA = await exchangeCode(config, start, callback);
      const tokensB = await client.refreshTokenGrant(config, tokensA.refresh_token!);
      expect(tokensB.refresh_token).to.be.a('string').and.not.equal(tokensA.refresh_token);
      expect(await isActive(tokensB.access_token)).to.equal(true);
      expect(await userinfoStatus(tokensB.access_token)).to.equal(200);

      await expectOAuthError(client.refreshTokenGrant(config, tokensA.refresh_token!), 'invalid_grant');

      await expectOAuthError(client.refreshTokenGrant(config, tokensB.refresh_token!), 'invalid_grant');
      expect(await isActive(tokensB.access_token)).to.equal(false);
      expect(await userinfoStatus(tokensB.access_token)).to.equal(401);
      expect(await isActive(tokensA.access_token)).to.equal(false);
    });
  });
}
