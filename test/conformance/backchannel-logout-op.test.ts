import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { compactVerify, createLocalJWKSet, decodeProtectedHeader } from 'jose';
import { POST_LOGOUT_URI } from '../support/relying-party.js';
import { withServer } from '../support/test-server.js';
import { checkEndpointsAtIssuer, checkEndSessionEndpoint } from './discovery-checks.js';
import { confirmLogout, ConformanceRp, randomState, registerStaticClient } from './op-client.js';

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

interface LogoutRequest {
  method: string;
  contentType: string;
  params: URLSearchParams;
}

/**
 * The relying party's backchannel_logout_uri: keeps each request and answers 200 with
 * Cache-Control: no-store, as OpenID Connect Back-Channel Logout §2.8 asks and the official module does.
 */
class BackchannelReceiver {
  #requests: LogoutRequest[] = [];
  #waiting: ((request: LogoutRequest) => void)[] = [];
  #server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const request = { method: req.method ?? '', contentType: req.headers['content-type'] ?? '', params: new URLSearchParams(body) };
      const waiter = this.#waiting.shift();
      if (waiter) waiter(request);
      else this.#requests.push(request);
      res.writeHead(200, { 'cache-control': 'no-store' }).end();
    });
  });

  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/backchannel_logout`;
    return this;
  }

  next(timeoutMs = 10_000): Promise<LogoutRequest> {
    const request = this.#requests.shift();
    if (request) return Promise.resolve(request);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no back-channel logout request within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.push((received) => {
        clearTimeout(timer);
        resolve(received);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * The OpenID Foundation's Back-Channel Logout OP plan
 * (oidcc-backchannel-rp-initiated-logout-certification-test-plan), with a client registered as the
 * official module asks: a backchannel_logout_uri (session required) and a post_logout_redirect_uri.
 */
describe('conformance: Back-Channel Logout OP plan (client_secret_basic; sqlite)', function () {
  let receiver: BackchannelReceiver;
  let rp: ConformanceRp;

  const server = withServer('sqlite');
  before(async () => {
    receiver = await new BackchannelReceiver().start();
    rp = await ConformanceRp.start(server, await registerStaticClient(server, { backchannelLogoutUri: receiver.url }));
  });
  after(async () => {
    await receiver?.close();
  });

  it('oidcc-backchannel-logout-discovery-endpoint-verification', () => {
    // the https half of CheckDiscEndpointAllEndpointsAreHttps is checked against an https issuer in
    // the Config OP plan; this server's issuer is plain http, and every endpoint follows it
    checkEndpointsAtIssuer(rp.metadata);
    // CheckDiscEndpointBackchannelLogoutSupported, …SessionSupported (required for certification), CheckDiscEndSessionEndpoint
    expect(rp.metadata.backchannel_logout_supported).to.equal(true);
    expect(rp.metadata.backchannel_logout_session_supported).to.equal(true);
    checkEndSessionEndpoint(rp.metadata);
  });

  it('oidcc-backchannel-rp-initiated-logout', async () => {
    const run = await rp.codeFlow({ email: 'oidcc-backchannel-rp-initiated-logout@example.com', params: { state: randomState(128) } });
    // the session the logout token will name
    expect(run.idToken.claims.sid, 'sid in the ID token').to.be.a('string');

    const state = randomState();
    const logout = rp.endSessionUrl({ id_token_hint: run.idToken.raw, post_logout_redirect_uri: POST_LOGOUT_URI, state });
    const after = await confirmLogout(run.browser, await run.browser.get(logout));
    rp.checkPostLogoutRedirect(after.location, state);

    // ExtractLogoutTokenFromBackchannelLogoutRequest, CheckForUnexpectedParametersInBackchannelLogoutRequest (§2.5)
    const request = await receiver.next();
    expect(request.method).to.equal('POST');
    expect(request.contentType).to.match(/^application\/x-www-form-urlencoded/);
    expect([...request.params.keys()]).to.deep.equal(['logout_token']);
    const logoutToken = request.params.get('logout_token')!;

    // ValidateLogoutTokenSignature (§2.4: signed, never alg none)
    const header = decodeProtectedHeader(logoutToken);
    expect(header.alg).to.be.a('string').and.not.equal('none');
    const { payload } = await compactVerify(logoutToken, createLocalJWKSet(rp.jwks));
    const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;

    // ValidateLogoutTokenClaims
    expect(claims.iss, 'iss').to.equal(rp.metadata.issuer);
    if (Array.isArray(claims.aud)) expect(claims.aud, 'aud').to.include(rp.client.clientId);
    else expect(claims.aud, 'aud').to.equal(rp.client.clientId);
    expect(claims.iat, 'iat').to.be.a('number');
    expect(Number(claims.iat) - 5 * 60, 'iat not in the future').to.be.below(Date.now() / 1000);
    expect(claims.jti, 'jti').to.be.a('string').and.not.equal('');
    expect(claims.events, 'events').to.deep.equal({ [BACKCHANNEL_EVENT]: {} });
    // CheckIdTokenSubMatchesLogoutToken, CheckIdTokenSidMatchesLogoutToken, CheckLogoutTokenHasSubOrSid, CheckLogoutTokenNoNonce
    expect(claims.sub !== undefined || claims.sid !== undefined, 'sub or sid').to.equal(true);
    if (claims.sub !== undefined) expect(claims.sub, 'sub').to.equal(run.idToken.claims.sub);
    if (claims.sid !== undefined) expect(claims.sid, 'sid').to.equal(run.idToken.claims.sid);
    expect(claims).not.to.have.property('nonce');

    // the second authorization: the session is over
    await rp.expectSignedOut(run.browser);
  });
});
