import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Browser } from '../support/browser.js';
import { REDIRECT_URI } from '../support/relying-party.js';
import { withServer } from '../support/test-server.js';
import {
  checkTokenError, ConformanceRp, randomState, randomValue, registerStaticClient, skipModule, USER_INTERFACE_ERRORS, waitUntilEpochSecond,
  type AuthorizationRequest, type IdToken, type StaticClient,
} from './op-client.js';

const emailFor = (module: string) => `${module}@example.com`;
const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');
const unsignedJwt = (claims: Record<string, unknown>) => `${b64(JSON.stringify({ alg: 'none' }))}.${b64(JSON.stringify(claims))}.`;
const b64 = (text: string) => Buffer.from(text).toString('base64url');

/**
 * The OpenID Foundation's Basic OP certification plan (oidcc-basic-certification-test-plan), module
 * by module, in the plan's order: response_type=code, a static confidential client authenticating
 * with client_secret_basic (client_secret_post for oidcc-server-client-secret-post), and, like the
 * official test client, no PKCE except in the module about PKCE. Sesame lets an operator relax PKCE
 * for such a client; it then requires a nonce, which the official client sends in every module but
 * one (see oidcc-ensure-request-without-nonce-succeeds-for-code-flow).
 */
describe('conformance: Basic OP plan (code, client_secret_basic, no PKCE; sqlite)', function () {
  let rp: ConformanceRp;
  let postClient: StaticClient;
  let secondClient: StaticClient;
  // where a request_uri points: an unsigned request object, served by the test
  let requestServer: Server;
  let requestUri: string;
  let served = '';
  let fetched = 0;

  const server = withServer('sqlite');
  before(async () => {
    rp = await ConformanceRp.start(server, await registerStaticClient(server));
    postClient = await registerStaticClient(server, { authMethod: 'client_secret_post' });
    secondClient = await registerStaticClient(server, { name: 'Conformance (second client)' });
    requestServer = createServer((_req, res) => {
      fetched++;
      res.writeHead(200, { 'content-type': 'application/oauth-authz-req+jwt' }).end(served);
    });
    await new Promise<void>((resolve) => requestServer.listen(0, '127.0.0.1', resolve));
    requestUri = `http://127.0.0.1:${(requestServer.address() as AddressInfo).port}/request.jwt`;
  });
  after(async () => {
    await new Promise<void>((resolve) => requestServer?.close(() => resolve()));
  });

  /** AbstractOIDCCSameAuthTwiceServerTest: the second ID token is of the same login as the first. */
  function expectSameAuthentication(first: IdToken, second: IdToken): void {
    expect(second.claims.sub, 'sub').to.equal(first.claims.sub);
    if (first.claims.auth_time !== undefined || second.claims.auth_time !== undefined) {
      expect(second.claims.auth_time, 'auth_time').to.equal(first.claims.auth_time);
    }
  }

  /** The authorization request as an unsigned request object (ConvertAuthorizationEndpointRequestToRequestObject, alg none). */
  function requestObject(request: AuthorizationRequest): string {
    return unsignedJwt({ ...request.params, iss: rp.client.clientId, aud: rp.metadata.issuer });
  }

  /** The parameters OIDC Core §6.1 wants outside the object as well, plus the state to check the answer with. */
  function outside(request: AuthorizationRequest, extra: Record<string, string>): string {
    const { client_id, response_type, scope, redirect_uri, state, nonce } = request.params;
    return `${rp.metadata.authorization_endpoint}?${new URLSearchParams({ client_id, response_type, scope, redirect_uri, state, nonce, ...extra })}`;
  }

  it('oidcc-server', async () => {
    const run = await rp.codeFlow({ email: emailFor('oidcc-server') });
    // EnsureIdTokenDoesNotContainName: the ID token holds the claims of the granted scopes, no more
    expect(run.idToken.claims).not.to.have.property('name');
  });

  it('oidcc-response-type-missing', async () => {
    const request = rp.authorizationRequest({ response_type: undefined });
    const page = await new Browser(server.issuer).get(request.url);
    // either an error page (the official module asks for a screenshot) or the error at the redirect URI
    if (page.location) {
      rp.errorCallback(page.location, request, ['invalid_request', 'unsupported_response_type']);
    } else {
      expect(page.status, page.body).to.equal(400);
      expect(page.body).to.include('response_type');
    }
  });

  it('oidcc-idtoken-signature', async () => {
    // the client registered no id_token_signed_response_alg: the default is RS256, with a kid (OIDC Core §10.1)
    const run = await rp.codeFlow({ email: emailFor('oidcc-idtoken-signature') });
    expect(run.idToken.header.alg).to.equal('RS256');
    expect(run.idToken.header.kid).to.be.a('string');
  });

  it('oidcc-idtoken-unsigned', function () {
    const algorithms = rp.metadata.id_token_signing_alg_values_supported as string[];
    expect(algorithms).to.include('RS256');
    if (!algorithms.includes('none')) {
      skipModule(this, 'id_token_signing_alg_values_supported does not list "none" (Sesame never issues unsigned ID tokens; the official module skips, and needs a dynamically registered client besides)');
    }
    expect.fail('Sesame now lists "none": write this module');
  });

  for (const [module, how] of [['oidcc-userinfo-get', 'get'], ['oidcc-userinfo-post-header', 'post-header'], ['oidcc-userinfo-post-body', 'post-body']] as const) {
    it(module, async () => {
      const run = await rp.codeFlow({ email: emailFor(module) });
      // the access token in the body is optional in the standards (the official module only warns); Sesame accepts it
      const claims = rp.checkUserinfo(await rp.userinfo(run.tokens.access_token, how), run.idToken);
      expect(claims).to.include({ email: emailFor(module), email_verified: true });
    });
  }

  // The official module sends neither a nonce nor PKCE. Sesame refuses that request (next test):
  // without PKCE, a nonce is what binds the code to the client's session (RFC 9700 §2.1.1). With
  // PKCE, the request without a nonce is what the module asks for, and it succeeds.
  it('oidcc-ensure-request-without-nonce-succeeds-for-code-flow (with PKCE: see the next test)', async () => {
    const verifier = randomValue(32);
    const run = await rp.codeFlow({
      email: emailFor('oidcc-ensure-request-without-nonce-succeeds-for-code-flow'),
      params: { nonce: undefined, code_challenge: s256(verifier), code_challenge_method: 'S256' },
      tokenExtra: { code_verifier: verifier },
    });
    expect(run.idToken.claims).not.to.have.property('nonce');
  });

  it('sesame: without PKCE, the same request without a nonce is refused (by design; the official module fails here)', async () => {
    for (const client of [rp.client, postClient]) {
      const other = rp.withClient(client);
      const request = other.authorizationRequest({ nonce: undefined });
      const location = await other.silent(new Browser(server.issuer), request);
      other.errorCallback(location, request, ['invalid_request']);
      expect(new URL(location).searchParams.get('error_description')).to.include('nonce is required');
    }
  });

  const scopeModules: [string, string[]][] = [
    ['oidcc-scope-profile', ['profile']],
    ['oidcc-scope-email', ['email']],
    ['oidcc-scope-address', ['address']],
    ['oidcc-scope-phone', ['phone']],
    ['oidcc-scope-all', ['address', 'email', 'phone', 'profile']],
  ];
  for (const [module, scopes] of scopeModules) {
    it(module, async function () {
      const supported = rp.metadata.scopes_supported as string[];
      const missing = scopes.filter((scope) => !supported.includes(scope));
      if (missing.length) {
        skipModule(this, `scopes_supported does not list ${missing.join(', ')} (Sesame knows a person by an email address only; the official module skips too)`);
      }
      // a name exists only once someone set it (an operator here): profile then has a claim to return
      if (scopes.includes('profile')) await server.sesame.accounts.setName((await server.sesame.accounts.createNew(emailFor(module))).id, 'Conformance Person');
      const run = await rp.codeFlow({ email: emailFor(module), params: { scope: ['openid', ...scopes].join(' ') } });
      const claims = rp.checkUserinfo(await rp.userinfo(run.tokens.access_token), run.idToken);
      // VerifyScopesReturnedInUserInfoClaims: a claim of every scope asked for
      if (scopes.includes('email')) expect(claims).to.include({ email: emailFor(module), email_verified: true });
      if (scopes.includes('profile')) expect(claims).to.include({ name: 'Conformance Person' });
    });
  }

  it('oidcc-ensure-other-scope-order-succeeds', async () => {
    const module = 'oidcc-ensure-other-scope-order-succeeds';
    const run = await rp.codeFlow({ email: emailFor(module), params: { scope: 'email openid' } });
    expect(rp.checkUserinfo(await rp.userinfo(run.tokens.access_token), run.idToken)).to.include({ email: emailFor(module) });
  });

  for (const display of ['page', 'popup']) {
    it(`oidcc-display-${display}`, async () => {
      await rp.codeFlow({ email: emailFor(`oidcc-display-${display}`), params: { display } });
    });
  }

  it('oidcc-prompt-login', async () => {
    const email = emailFor('oidcc-prompt-login');
    const first = await rp.codeFlow({ email });
    // auth_time counts whole seconds: a second login within the same second would carry the same
    // auth_time, which the module's check (auth_time differs) reads as no new login. A person takes
    // longer than a second; the test waits for the clock to pass it (at most one second).
    await waitUntilEpochSecond(Number(first.idToken.claims.auth_time) + 1);
    // codeFlow fails unless the login page is shown again, although the browser has a session
    const second = await rp.codeFlow({ email, browser: first.browser, params: { prompt: 'login' } });
    expect(second.idToken.claims.auth_time).to.be.above(Number(first.idToken.claims.auth_time));
  });

  it('oidcc-prompt-none-not-logged-in', async () => {
    // a long state, to check that the error response carries it back unchanged
    const request = rp.authorizationRequest({ prompt: 'none', state: randomState(128) });
    const location = await rp.silent(new Browser(server.issuer), request);
    rp.errorCallback(location, request, USER_INTERFACE_ERRORS);
  });

  it('oidcc-prompt-none-logged-in', async () => {
    const email = emailFor('oidcc-prompt-none-logged-in');
    const first = await rp.codeFlow({ email });
    const second = await rp.codeFlow({ email, browser: first.browser, silent: true, params: { prompt: 'none' } });
    expectSameAuthentication(first.idToken, second.idToken);
  });

  it('oidcc-max-age-1', async () => {
    const email = emailFor('oidcc-max-age-1');
    const first = await rp.codeFlow({ email });
    const authTime = Number(first.idToken.claims.auth_time);
    // max_age=1 asks for a login less than one second old. oidc-provider measures in whole seconds
    // and wants more than max_age of them elapsed since auth_time, so the clock must read at least
    // auth_time + 2 (a wait of 1 to 2 s; the official module waits 2 s).
    await waitUntilEpochSecond(authTime + 2);
    const second = await rp.codeFlow({ email, browser: first.browser, params: { max_age: '1' } });
    const secondAuthTime = second.idToken.claims.auth_time;
    expect(secondAuthTime, 'auth_time is required with max_age (OIDC Core §2)').to.be.a('number');
    expect(secondAuthTime).to.be.above(authTime);
    expect(Math.abs(Date.now() / 1000 - Number(secondAuthTime)), 'auth_time is recent').to.be.below(5 * 60);
  });

  it('oidcc-max-age-10000', async () => {
    const email = emailFor('oidcc-max-age-10000');
    const first = await rp.codeFlow({ email, params: { max_age: '15000' } });
    expect(first.idToken.claims.auth_time, 'auth_time with max_age').to.be.a('number');
    const second = await rp.codeFlow({ email, browser: first.browser, silent: true, params: { max_age: '10000' } });
    expect(second.idToken.claims.auth_time, 'auth_time with max_age').to.be.a('number');
    expectSameAuthentication(first.idToken, second.idToken);
  });

  it('oidcc-ensure-request-with-unknown-parameter-succeeds', async () => {
    await rp.codeFlow({ email: emailFor('oidcc-ensure-request-with-unknown-parameter-succeeds'), params: { extra: 'foobar' } });
  });

  it('oidcc-id-token-hint', async () => {
    const email = emailFor('oidcc-id-token-hint');
    const first = await rp.codeFlow({ email });
    const second = await rp.codeFlow({ email, browser: first.browser, silent: true, params: { prompt: 'none', id_token_hint: first.idToken.raw } });
    expectSameAuthentication(first.idToken, second.idToken);
  });

  it('oidcc-login-hint', async () => {
    // the official module's default is buffy@<the issuer's host>; the issuer here is an IP address
    const hint = 'buffy@example.com';
    const run = await rp.codeFlow({
      email: hint,
      params: { login_hint: hint },
      // Sesame goes further than "no error": the address field is filled in with the hint
      onLoginPage: (page) => expect(page.body).to.match(new RegExp(`name="email"[^>]*value="${hint.replace('.', '\\.')}"`)),
    });
    expect(rp.checkUserinfo(await rp.userinfo(run.tokens.access_token), run.idToken)).to.include({ email: hint });
  });

  it('oidcc-ui-locales', async () => {
    // 'se' (the module's default) is not a language Sesame has: it must not be an error
    await rp.codeFlow({
      email: emailFor('oidcc-ui-locales'),
      params: { ui_locales: 'se' },
      onLoginPage: (page) => expect(page.body).to.match(/<html lang="en">/),
    });
    // and a language it has is the one the login page speaks, ahead of the browser's own preference
    const page = await new Browser(server.issuer).get(rp.authorizationRequest({ ui_locales: 'se de' }).url, { 'accept-language': 'en' });
    expect(page.status).to.equal(200);
    expect(page.body).to.match(/<html lang="de">/);
  });

  it('oidcc-claims-locales', async () => {
    await rp.codeFlow({ email: emailFor('oidcc-claims-locales'), params: { claims_locales: 'se' } });
  });

  it('oidcc-ensure-request-with-acr-values-succeeds', async () => {
    const supported = rp.metadata.acr_values_supported as string[] | undefined;
    const requested = supported?.length ? supported : ['1', '2'];
    const run = await rp.codeFlow({ email: emailFor('oidcc-ensure-request-with-acr-values-succeeds'), params: { acr_values: requested.join(' ') } });
    // a SHOULD (the official module warns otherwise): the acr is one of those asked for
    expect(run.idToken.claims.acr).to.be.oneOf(requested);
  });

  it('oidcc-codereuse', async () => {
    const run = await rp.codeFlow({ email: emailFor('oidcc-codereuse') });
    checkTokenError(await rp.redeem(run.code), 'invalid_grant');
  });

  it('oidcc-codereuse-30seconds', async () => {
    const run = await rp.codeFlow({ email: emailFor('oidcc-codereuse-30seconds') });
    // The official module waits 30 s before the replay, to catch a server that forgets spent codes
    // soon after. The server runs in this process, so instead of sleeping the test moves the clock
    // 30 s ahead for the replay: the server sees a code spent 30 s ago and not yet expired (codes
    // live 60 s). Every expiry and consumed_at in Sesame's store is read against Date.now().
    const realNow = Date.now;
    const later = async (seconds: number, step: () => Promise<void>) => {
      Date.now = () => realNow() + seconds * 1000;
      try {
        await step();
      } finally {
        Date.now = realNow;
      }
    };
    // the guard: the server does read the moved clock (a fresh code, 61 s later, has expired)
    const fresh = rp.authorizationRequest();
    const freshCode = rp.successfulCallback(await rp.silent(run.browser, fresh), fresh);
    await later(61, async () => checkTokenError(await rp.redeem(freshCode), 'invalid_grant'));

    await later(30, async () => {
      checkTokenError(await rp.redeem(run.code), 'invalid_grant');
      // RFC 6749 §4.1.2: the tokens the code gave SHOULD be revoked (the official module warns otherwise)
      expect((await rp.userinfo(run.tokens.access_token)).status).to.equal(401);
    });
  });

  it('oidcc-ensure-registered-redirect-uri', async () => {
    const request = rp.authorizationRequest({ redirect_uri: `https://127.0.0.1:9/${randomValue(8)}` });
    const page = await new Browser(server.issuer).get(request.url);
    // an error page, never a redirect to the unregistered address
    expect(page.location, 'redirected to').to.equal(undefined);
    expect(page.status).to.equal(400);
    expect(page.headers.get('content-type')).to.include('text/html');
    expect(page.body).to.include('redirect_uri');
  });

  it('oidcc-ensure-post-request-succeeds', async () => {
    await rp.codeFlow({ email: emailFor('oidcc-ensure-post-request-succeeds'), post: true });
  });

  it('oidcc-server-client-secret-post', async () => {
    const run = await rp.codeFlow({ email: emailFor('oidcc-server-client-secret-post'), client: postClient });
    expect(run.idToken.claims.aud).to.equal(postClient.clientId);
  });

  it('oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported', async () => {
    const request = rp.authorizationRequest();
    served = requestObject(request);
    const location = await rp.silent(new Browser(server.issuer), outside(request, { request_uri: requestUri }));
    // rejected as unsupported is what the module allows (the official suite records it as skipped):
    // the discovery document says so, and the server did not fetch the URL
    rp.errorCallback(location, request, ['request_uri_not_supported']);
    expect(rp.metadata.request_uri_parameter_supported).to.equal(false);
    expect(fetched, 'requests to the request_uri').to.equal(0);
  });

  it('oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported', async () => {
    const request = rp.authorizationRequest();
    const location = await rp.silent(new Browser(server.issuer), outside(request, { request: requestObject(request) }));
    // OIDC Core §3.1.2.6: request_not_supported; the discovery document does not claim support either
    rp.errorCallback(location, request, ['request_not_supported']);
    expect(rp.metadata.request_parameter_supported ?? false).to.equal(false);
  });

  it('oidcc-claims-essential', async () => {
    const module = 'oidcc-claims-essential';
    const claims = JSON.stringify({ userinfo: { name: { essential: true } } });
    const run = await rp.codeFlow({ email: emailFor(module), params: { claims } });
    const userinfo = rp.checkUserinfo(await rp.userinfo(run.tokens.access_token), run.idToken);
    expect(run.idToken.claims).not.to.have.property('name');
    // claims_parameter_supported is false and Sesame holds no name: the request succeeds without
    // one (the official module passes with a warning)
    expect(rp.metadata.claims_parameter_supported).to.equal(false);
    expect(userinfo).not.to.have.property('name');
  });

  it('oidcc-ensure-request-object-with-redirect-uri', async () => {
    const request = rp.authorizationRequest();
    const url = outside(request, { request: requestObject(request), redirect_uri: `${REDIRECT_URI}/invalid` });
    const page = await new Browser(server.issuer).get(url);
    // Sesame does not process request objects, so the module's other way out applies: an error
    // page for the invalid redirect_uri, and no redirect at all (not even to the registered URI)
    expect(page.location, 'redirected to').to.equal(undefined);
    expect(page.status).to.equal(400);
    expect(page.body).to.include('redirect_uri');
  });

  it('oidcc-refresh-token', async () => {
    const email = emailFor('oidcc-refresh-token');
    const scope = 'openid email offline_access';
    expect(rp.metadata.grant_types_supported).to.include('refresh_token');
    // offline_access is granted only with prompt=consent (OIDC Core §11)
    const params = { scope, prompt: 'consent' };

    async function refresh(other: ConformanceRp, first: { tokens: { refresh_token?: string; access_token: string }; idToken: IdToken }) {
      expect(first.tokens.refresh_token, 'refresh_token').to.be.a('string');
      // OIDC Core §12.2: the new ID token's iat is the time it is issued; the clock must pass the
      // first one's second for that to show (the official suite waits one second here too)
      await waitUntilEpochSecond(Number(first.idToken.claims.iat) + 1);
      const tokens = other.checkTokenResponse(await other.token({ grant_type: 'refresh_token', refresh_token: first.tokens.refresh_token!, scope }));
      expect(tokens.access_token).not.to.equal(first.tokens.access_token);
      expect(tokens.id_token, 'an ID token from the refresh').to.be.a('string');
      // a refreshed ID token SHOULD NOT carry the nonce; if it does, it is the first one's
      const second = await other.validateIdToken(tokens.id_token!, { nonce: first.idToken.claims.nonce as string, nonceMayBeAbsent: true, accessToken: tokens.access_token });
      // CompareIdTokenClaims (OIDC Core §12.2)
      for (const claim of ['iss', 'sub', 'aud', 'auth_time', 'azp']) expect(second.claims[claim], claim).to.deep.equal(first.idToken.claims[claim]);
      expect(second.claims.iat).not.to.equal(first.idToken.claims.iat);
      expect((await other.userinfo(tokens.access_token)).status, 'userinfo with the refreshed access token').to.equal(200);
      return tokens;
    }

    const first = await rp.codeFlow({ email, params });
    await refresh(rp, first);

    // AbstractOIDCCMultipleClient: the second client, in the same browser, gets its own refresh token …
    const other = rp.withClient(secondClient);
    const second = await other.codeFlow({ email, params, browser: first.browser, silent: true });
    const secondTokens = await refresh(other, second);
    // … which the first client cannot use: refresh tokens are bound to their client
    checkTokenError(await rp.token({ grant_type: 'refresh_token', refresh_token: secondTokens.refresh_token!, scope }), 'invalid_grant');
  });

  it('oidcc-ensure-request-with-valid-pkce-succeeds', async () => {
    const verifier = randomValue(32);
    await rp.codeFlow({
      email: emailFor('oidcc-ensure-request-with-valid-pkce-succeeds'),
      params: { code_challenge: s256(verifier), code_challenge_method: 'S256' },
      tokenExtra: { code_verifier: verifier },
    });
  });

  // From the Dynamic OP plan: it needs no registration of its own, so it runs here too.
  it('oidcc-ensure-redirect-uri-in-authorization-request', async () => {
    const request = rp.authorizationRequest({ redirect_uri: undefined });
    const page = await new Browser(server.issuer).get(request.url);
    // OIDC Core §3.1.2.1 makes redirect_uri required: an error page (a redirect could only be with
    // invalid_request and the state)
    if (page.location) {
      rp.errorCallback(page.location, request, ['invalid_request', 'invalid_request_object']);
    } else {
      expect(page.status).to.equal(400);
      expect(page.body).to.include('redirect_uri');
    }
  });
});
