import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createRemoteJWKSet, decodeProtectedHeader, generateKeyPair, jwtVerify, SignJWT, type JWTHeaderParameters, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import { Browser } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { POST_LOGOUT_URI, REDIRECT_URI, signInWithLink } from '../support/relying-party.js';
import { withServer, testEnv } from '../support/test-server.js';

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

interface Received {
  logoutToken: string;
  contentType: string;
}

/**
 * A relying party's back-channel logout endpoint: takes `logout_token` from a form POST and
 * answers 200, as OpenID Connect Back-Channel Logout 1.0 §2.5 asks. What arrived is kept for the
 * test, which validates it as the RP must (§2.6).
 */
class LogoutReceiver {
  readonly received: Received[] = [];
  #waiters: ((received: Received) => void)[] = [];
  #server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk));
    req.on('end', () => {
      const logoutToken = new URLSearchParams(body).get('logout_token');
      if (req.method !== 'POST' || !logoutToken) return void res.writeHead(400).end();
      const received = { logoutToken, contentType: req.headers['content-type'] ?? '' };
      this.received.push(received);
      this.#waiters.splice(0).forEach((resolve) => resolve(received));
      res.writeHead(200, { 'cache-control': 'no-store' }).end();
    });
  });

  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/backchannel-logout`;
    return this;
  }

  /** The next logout token (or one that already came and was not taken). */
  next(timeoutMs = 10_000): Promise<Received> {
    const waiting = this.received.shift();
    if (waiting) return Promise.resolve(waiting);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no logout token within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push((received) => {
        clearTimeout(timer);
        this.received.splice(this.received.indexOf(received), 1);
        resolve(received);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

describe('back-channel logout (sqlite)', function () {
  let receiver: LogoutReceiver;
  let config: client.Configuration;
  let clientId: string;

  const server = withServer('sqlite');
  before(async () => {
    receiver = await new LogoutReceiver().start();
    const { client: registered, clientSecret } = await server.sesame.clients.add({
      name: 'Back-channel App', redirectUris: [REDIRECT_URI], postLogoutRedirectUris: [POST_LOGOUT_URI], firstParty: true, backchannelLogoutUri: receiver.url,
    });
    clientId = registered.clientId;
    config = await client.discovery(new URL(server.issuer), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
  });
  after(async () => {
    await receiver?.close();
  });

  async function signIn(email: string, scope = 'openid email', browser = new Browser(server.issuer)) {
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI, scope, prompt: 'consent', state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
    });
    const callback = await signInWithLink(browser, server.smtp, { url }, email);
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce });
    return { tokens, browser, claims: tokens.claims()! };
  }

  /** §2.6: what a relying party must check before it ends its own session. */
  async function validateLogoutToken(token: string): Promise<JWTPayload> {
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    const { payload } = await jwtVerify(token, jwks, { issuer: server.issuer, audience: clientId, typ: 'logout+jwt', maxTokenAge: '2 minutes', requiredClaims: ['iat', 'jti'] });
    expect(payload.events).to.deep.equal({ [BACKCHANNEL_EVENT]: {} });
    expect(payload).not.to.have.property('nonce');
    expect(Boolean(payload.sub) || Boolean(payload.sid), 'sub or sid').to.equal(true);
    return payload;
  }

  it('posts a signed logout token (iss, aud, events, sub and sid, no nonce) when the person signs out, and the grant ends', async () => {
    const { tokens, browser, claims } = await signIn('bcl@example.com');
    // the app needs the session id to match the logout token to its own session
    expect(claims.sid).to.be.a('string');

    const logout = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI });
    const confirm = await browser.get(logout.href);
    const done = await browser.submit(confirm, /\/session\/end\/confirm$/, { logout: 'yes' });
    expect(done.location).to.equal(POST_LOGOUT_URI);

    const { logoutToken, contentType } = await receiver.next();
    expect(contentType).to.match(/^application\/x-www-form-urlencoded/);
    const payload = await validateLogoutToken(logoutToken);
    expect(payload.sub).to.equal(claims.sub);
    expect(payload.sid).to.equal(claims.sid);

    // a forged token (the same header and claims, signed with another key) fails the same checks, at the signature
    const forged = await new SignJWT(payload).setProtectedHeader(decodeProtectedHeader(logoutToken) as JWTHeaderParameters).sign((await generateKeyPair('RS256')).privateKey);
    await expectRejected(validateLogoutToken(forged), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');

    // signing out ended the app's grant (it had no offline_access): its access token is dead
    expect((await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 'the access token is dead').to.equal(401);

    // and the delivery is in the audit trail, as an operator's revocation's is
    await server.sesame.audit.flush();
    const [sent] = await server.sesame.audit.query({ type: 'logout.backchannel_sent', accountId: claims.sub });
    expect(sent?.details).to.include({ sid: claims.sid, via: 'sign_out' });
  });

  it('notifies every app of the session, each with its own audience', async () => {
    const other = await server.sesame.clients.add({ name: 'Second App', redirectUris: [REDIRECT_URI], firstParty: true, backchannelLogoutUri: `${receiver.url}?app=second` });
    const browser = new Browser(server.issuer);
    const first = await signIn('bcl-two@example.com', 'openid', browser);
    // the second app signs in silently on the same Sesame session
    const second = await client.discovery(new URL(server.issuer), other.client.clientId, undefined, client.ClientSecretBasic(other.clientSecret!), { execute: [client.allowInsecureRequests] });
    const verifier = client.randomPKCECodeVerifier();
    const silent = await browser.get(client.buildAuthorizationUrl(second, {
      redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).href);
    const secondTokens = await client.authorizationCodeGrant(second, new URL(silent.location!), { pkceCodeVerifier: verifier });
    // one person, one Sesame session; each app has its own sid for it
    expect(secondTokens.claims()!.sub).to.equal(first.claims.sub);
    const sids: Record<string, unknown> = { [clientId]: first.claims.sid, [other.client.clientId]: secondTokens.claims()!.sid };

    const confirm = await browser.get(client.buildEndSessionUrl(config, { id_token_hint: first.tokens.id_token! }).href);
    await browser.submit(confirm, /\/session\/end\/confirm$/, { logout: 'yes' });
    const tokens = [(await receiver.next()).logoutToken, (await receiver.next()).logoutToken];
    const audiences = tokens.map((token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).aud as string);
    expect(audiences).to.have.members([clientId, other.client.clientId]);
    for (const token of tokens) {
      const aud = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).aud as string;
      const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!)), { issuer: server.issuer, audience: aud, typ: 'logout+jwt' });
      expect(payload).to.include({ sub: first.claims.sub, sid: sids[aud] });
    }
  });

  it('posts a logout token when an operator disables the account (CLI)', async () => {
    const { claims } = await signIn('bcl-disabled@example.com');
    const env = testEnv({ issuer: server.issuer, database: server.database, smtpUrl: server.smtp.url });
    const disabled = await runCli(['accounts', 'disable', 'bcl-disabled@example.com'], env);
    expect(disabled.code, disabled.stderr).to.equal(0);
    const { logoutToken } = await receiver.next();
    const payload = await validateLogoutToken(logoutToken);
    expect(payload.sub).to.equal(claims.sub);
  });
});

/** The promise fails, and with this error (a jose error code): any other failure is not the check under test. */
async function expectRejected(promise: Promise<unknown>, code: string): Promise<void> {
  const outcome = await promise.then(() => undefined, (error: unknown) => error as { code?: unknown });
  if (outcome === undefined) expect.fail('a forged logout token was accepted');
  expect(outcome.code, String(outcome)).to.equal(code);
}
