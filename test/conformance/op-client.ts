import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { Browser, type Page } from '../support/browser.js';
import { POST_LOGOUT_URI, REDIRECT_URI } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import type { TestServer } from '../support/test-server.js';

/**
 * The relying party the conformance modules drive, shaped like the OpenID Foundation's test client:
 * it builds requests by hand (no client library to smooth over what the server answers), talks to
 * the real server over HTTP, signs in through the emailed link, and checks every answer the way the
 * official conditions do (state, iss, ID token claims and signature, token and error responses).
 */

export type Metadata = Record<string, unknown> & {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
  end_session_endpoint?: string;
};

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

export interface StaticClient {
  clientId: string;
  clientSecret: string;
  authMethod: ClientAuthMethod;
}

/** The errors that say a request with prompt=none needed the person (OIDC Core §3.1.2.6). */
export const USER_INTERFACE_ERRORS = ['interaction_required', 'login_required', 'account_selection_required', 'consent_required'];

/** A parameter set to `undefined` is left out of the request. */
export type Params = Record<string, string | undefined>;

export interface AuthorizationRequest {
  url: string;
  params: Record<string, string>;
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export interface IdToken {
  raw: string;
  header: ProtectedHeaderParameters;
  claims: JWTPayload & Record<string, unknown>;
}

export interface FlowOptions {
  email: string;
  params?: Params;
  browser?: Browser;
  /** the server must answer at once (a live session, prompt=none): no login page */
  silent?: boolean;
  /** the authorization request as a form POST (OIDC Core §3.1.2.1) */
  post?: boolean;
  /** looks at the login page before the person fills it in */
  onLoginPage?: (page: Page) => void;
  tokenExtra?: Record<string, string>;
  client?: StaticClient;
}

export interface FlowResult {
  browser: Browser;
  request: AuthorizationRequest;
  code: string;
  tokens: Record<string, unknown> & { access_token: string; id_token: string; refresh_token?: string };
  idToken: IdToken;
}

/**
 * The official suite's static client: registered by the operator, confidential, first-party (so no
 * consent page stands between the modules and their redirects) and, as that suite sends no PKCE in
 * its modules, relaxed to leave PKCE out; Sesame then requires a nonce instead.
 */
export async function registerStaticClient(server: TestServer, options: { authMethod?: ClientAuthMethod; name?: string; backchannelLogoutUri?: string } = {}): Promise<StaticClient> {
  const authMethod = options.authMethod ?? 'client_secret_basic';
  const { client, clientSecret } = await server.sesame.clients.add({
    name: options.name ?? `Conformance (${authMethod})`,
    redirectUris: [REDIRECT_URI],
    postLogoutRedirectUris: [POST_LOGOUT_URI],
    authMethod,
    firstParty: true,
    pkceRequired: false,
    backchannelLogoutUri: options.backchannelLogoutUri,
  });
  return { clientId: client.clientId, clientSecret: clientSecret!, authMethod };
}

export async function fetchDiscovery(issuer: string, fetchBase = issuer): Promise<{ status: number; contentType: string; metadata: Metadata }> {
  const res = await fetch(`${fetchBase}/.well-known/openid-configuration`);
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', metadata: (await res.json()) as Metadata };
}

/** What every module checks before it starts (CheckServerConfiguration, ValidateServerJWKs, CheckForKeyIdInServerJWKs). */
export function checkServerConfiguration(metadata: Metadata, issuer: string): void {
  expect(metadata.issuer, 'issuer').to.equal(issuer);
  for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
    expect(metadata[key], key).to.be.a('string').and.not.equal('');
  }
}

export function checkServerJwks(jwks: JSONWebKeySet): void {
  expect(jwks.keys, 'keys').to.be.an('array').that.is.not.empty;
  const kids = new Set<string>();
  for (const key of jwks.keys) {
    const label = JSON.stringify(key);
    expect(key.kty, label).to.be.a('string');
    expect(key.kid, `kid in ${label}`).to.be.a('string').and.not.equal('');
    expect(kids.has(key.kid!), `kid ${key.kid} used twice`).to.equal(false);
    kids.add(key.kid!);
    if (key.use !== undefined) expect(key.use, label).to.be.oneOf(['sig', 'enc']);
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']) expect(key, `${secret} in ${label}`).not.to.have.property(secret);
  }
}

export const randomValue = (bytes = 16): string => randomBytes(bytes).toString('base64url');

/** Base64url without padding, as the request values the official suite generates. */
export const randomState = (length = 32): string => randomBytes(length).toString('base64url').slice(0, length);

/** A module run's relying party: one client, the server's metadata and keys. */
export class ConformanceRp {
  private constructor(readonly server: TestServer, readonly metadata: Metadata, readonly jwks: JSONWebKeySet, readonly client: StaticClient) {}

  static async start(server: TestServer, client: StaticClient): Promise<ConformanceRp> {
    const { metadata } = await fetchDiscovery(server.issuer);
    checkServerConfiguration(metadata, server.issuer);
    const jwks = (await (await fetch(metadata.jwks_uri)).json()) as JSONWebKeySet;
    checkServerJwks(jwks);
    return new ConformanceRp(server, metadata, jwks, client);
  }

  /** The same relying party with another of the operator's clients. */
  withClient(client: StaticClient): ConformanceRp {
    return new ConformanceRp(this.server, this.metadata, this.jwks, client);
  }

  /** CreateAuthorizationEndpointRequestFromClientInformation, with a random state and nonce. */
  authorizationRequest(params: Params = {}): AuthorizationRequest {
    const all: Params = {
      client_id: this.client.clientId,
      redirect_uri: REDIRECT_URI,
      scope: 'openid email',
      state: randomState(),
      nonce: randomValue(),
      response_type: 'code',
      ...params,
    };
    const kept = Object.fromEntries(Object.entries(all).filter((entry): entry is [string, string] => entry[1] !== undefined));
    return { url: `${this.metadata.authorization_endpoint}?${new URLSearchParams(kept)}`, params: kept };
  }

  /**
   * The person signs in at the login page through the emailed link. The page must ask for the
   * address (whatever its language: only the form is looked for); the link is opened in the same
   * browser, so the sign-in finishes there. Returns where the browser was sent back to the app.
   */
  async completeLogin(browser: Browser, page: Page, email: string): Promise<string> {
    expect(page.location, `expected the login page, was redirected to ${page.location}`).to.equal(undefined);
    expect(page.status, page.body).to.equal(200);
    expect(page.body, 'the email form').to.match(/<form[^>]*action="[^"]*\/interaction\/[^"]*\/email"/);
    const waiting = await browser.submit(page, /\/email$/, { email });
    expect(waiting.status, waiting.body).to.equal(200);
    const { link } = loginDetails(await this.server.smtp.waitFor(email));
    const done = await browser.submit(await browser.get(link), '/login/verify');
    expect(done.location, `expected the way back to the app, got ${done.status} ${done.url}`).to.be.a('string');
    return done.location!;
  }

  /** A request the server must answer without showing anything (an existing session, or an error). */
  async silent(browser: Browser, request: AuthorizationRequest | string): Promise<string> {
    const page = await browser.get(typeof request === 'string' ? request : request.url);
    expect(page.location, `expected an immediate redirect to the app, got ${page.status} ${page.url}`).to.be.a('string');
    return page.location!;
  }

  /**
   * CheckMatchingCallbackParameters, CheckIfAuthorizationEndpointError, CheckMatchingStateParameter,
   * the RFC 9207 iss check and ExtractAuthorizationCodeFromAuthorizationResponse.
   */
  successfulCallback(location: string, request: AuthorizationRequest): string {
    const params = this.callbackParams(location);
    expect(params.get('error'), `error in ${location}`).to.equal(null);
    expect(params.get('state'), 'state').to.equal(request.params.state ?? null);
    const code = params.get('code');
    expect(code, `code in ${location}`).to.be.a('string');
    // RFC6749-10.10: at least 128 bits long, and (measured as the official suite does, with some slack) 96 bits of entropy
    expect(Buffer.byteLength(code!) * 8, 'authorization code length').to.be.at.least(128);
    expect(entropyBits(code!), 'authorization code entropy').to.be.at.least(96);
    return code!;
  }

  /** performGenericAuthorizationEndpointErrorResponseValidation, then the error must be one of `allowed`. */
  errorCallback(location: string, request: AuthorizationRequest, allowed: string[]): string {
    const params = this.callbackParams(location);
    for (const forbidden of ['code', 'access_token', 'id_token']) expect(params.has(forbidden), `${forbidden} in ${location}`).to.equal(false);
    // the state comes back unchanged, however long it is
    expect(params.get('state'), 'state').to.equal(request.params.state ?? null);
    const error = params.get('error');
    expect(error, `error in ${location}`).to.be.oneOf(allowed);
    checkErrorFields(Object.fromEntries(params));
    return error!;
  }

  private callbackParams(location: string): URLSearchParams {
    const url = new URL(location);
    expect(`${url.origin}${url.pathname}`, 'redirect_uri').to.equal(REDIRECT_URI);
    // the code flow answers in the query; nothing may travel in the fragment
    expect(url.hash, 'fragment').to.equal('');
    if (url.searchParams.has('iss') || this.metadata.authorization_response_iss_parameter_supported === true) {
      expect(url.searchParams.get('iss'), 'iss (RFC 9207)').to.equal(this.metadata.issuer);
    }
    return url.searchParams;
  }

  /** A token request with this client's authentication (client_secret_basic or client_secret_post). */
  async token(form: Record<string, string>, client: StaticClient = this.client): Promise<HttpAnswer> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const body = new URLSearchParams(form);
    if (client.authMethod === 'client_secret_basic') {
      // RFC 6749 §2.3.1: each part form-urlencoded before the base64
      const credentials = `${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`;
      headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    } else {
      body.set('client_id', client.clientId);
      body.set('client_secret', client.clientSecret);
    }
    const res = await fetch(this.metadata.token_endpoint, { method: 'POST', headers, body });
    return { status: res.status, headers: res.headers, body: await jsonOrText(res) };
  }

  redeem(code: string, extra: Record<string, string> = {}, client: StaticClient = this.client): Promise<HttpAnswer> {
    return this.token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, ...extra }, client);
  }

  /** CheckTokenEndpointHttpStatus200 … CheckForRefreshTokenValue: what a successful token response must hold. */
  checkTokenResponse(answer: HttpAnswer): Record<string, unknown> & { access_token: string; id_token?: string; refresh_token?: string } {
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.headers.get('content-type'), 'content-type').to.match(/^application\/json/);
    // CheckTokenEndpointCacheHeaders: no-store, and no-cache in a Pragma if there is one
    expect(answer.headers.get('cache-control'), 'Cache-Control (RFC 6749 §5.1)').to.include('no-store');
    if (answer.headers.has('pragma')) expect(answer.headers.get('pragma'), 'Pragma').to.include('no-cache');
    const body = answer.body;
    expect(String(body.token_type).toLowerCase(), 'token_type').to.equal('bearer');
    expect(body.access_token, 'access_token').to.be.a('string').that.matches(/^[\x20-\x7E]+$/);
    if (body.expires_in !== undefined) expect(body.expires_in, 'expires_in').to.be.a('number').above(0);
    if (body.refresh_token !== undefined) expect(body.refresh_token, 'refresh_token (RFC 6749 A.17)').to.be.a('string').that.matches(/^[\x20-\x7E]+$/);
    if (body.id_token !== undefined) expect(body.id_token, 'id_token').to.be.a('string');
    return body as { access_token: string; id_token?: string; refresh_token?: string };
  }

  /**
   * ValidateIdToken, ValidateIdTokenNonce, ValidateIdTokenSignature(UsingKid), CheckForSubjectInIdToken
   * and, when present, at_hash and c_hash.
   */
  async validateIdToken(raw: string, expected: { nonce?: string; nonceMayBeAbsent?: boolean; accessToken?: string; code?: string; client?: StaticClient } = {}): Promise<IdToken> {
    const header = decodeProtectedHeader(raw);
    expect(header.kid, 'kid in the ID token header').to.be.a('string');
    expect(this.jwks.keys.map((key) => key.kid), 'the ID token kid among the server keys').to.include(header.kid);
    const { payload } = await compactVerify(raw, createLocalJWKSet(this.jwks));
    const claims = JSON.parse(new TextDecoder().decode(payload)) as IdToken['claims'];
    const clientId = (expected.client ?? this.client).clientId;
    const now = Date.now() / 1000;
    const skew = 5 * 60;
    expect(claims.iss, 'iss').to.equal(this.metadata.issuer);
    if (Array.isArray(claims.aud)) {
      expect(claims.aud, 'aud').to.include(clientId);
      if (claims.aud.length > 1) expect(claims.azp, 'azp with several audiences').to.equal(clientId);
    } else {
      expect(claims.aud, 'aud').to.equal(clientId);
    }
    expect(claims.exp, 'exp').to.be.a('number');
    expect(claims.exp! + skew, 'exp in the future').to.be.above(now);
    expect(claims.iat, 'iat').to.be.a('number');
    expect(claims.iat! - skew, 'iat not in the future').to.be.below(now);
    expect(claims.sub, 'sub').to.be.a('string').and.not.equal('');
    if (expected.nonce === undefined) expect(claims, 'no nonce was sent').not.to.have.property('nonce');
    else if (!(expected.nonceMayBeAbsent && claims.nonce === undefined)) expect(claims.nonce, 'nonce').to.equal(expected.nonce);
    if (claims.at_hash !== undefined && expected.accessToken) expect(claims.at_hash, 'at_hash').to.equal(halfHash(expected.accessToken, header.alg!));
    if (claims.c_hash !== undefined && expected.code) expect(claims.c_hash, 'c_hash').to.equal(halfHash(expected.code, header.alg!));
    return { raw, header, claims };
  }

  /** CallUserInfoEndpointWithBearerToken (GET, POST with the header) or with the token in the body. */
  async userinfo(accessToken: string, how: 'get' | 'post-header' | 'post-body' = 'get'): Promise<HttpAnswer> {
    const endpoint = this.metadata.userinfo_endpoint!;
    const init: RequestInit = how === 'get'
      ? { headers: { authorization: `Bearer ${accessToken}` } }
      : how === 'post-header'
        ? { method: 'POST', headers: { authorization: `Bearer ${accessToken}` } }
        : { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ access_token: accessToken }) };
    const res = await fetch(endpoint, init);
    return { status: res.status, headers: res.headers, body: await jsonOrText(res) };
  }

  /** EnsureUserInfoContainsSub, ValidateUserInfoStandardClaims and the same sub as the ID token (OIDC Core §5.3.2). */
  checkUserinfo(answer: HttpAnswer, idToken: IdToken): Record<string, unknown> {
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.headers.get('content-type'), 'content-type').to.match(/^application\/json/);
    const claims = answer.body;
    expect(claims.sub, 'sub').to.equal(idToken.claims.sub);
    if ('email' in claims) expect(claims.email, 'email').to.be.a('string').that.includes('@');
    if ('email_verified' in claims) expect(claims.email_verified, 'email_verified').to.be.a('boolean');
    return claims;
  }

  /**
   * AbstractOIDCCServerTest's whole run: the authorization request (with `params`; sent as a form
   * POST when `post`), the sign-in (or an immediate answer when `silent`), the callback, the token
   * request, the ID token and a call of the protected resource (userinfo) with the access token.
   */
  async codeFlow(options: FlowOptions): Promise<FlowResult> {
    const rp = options.client && options.client !== this.client ? this.withClient(options.client) : this;
    const browser = options.browser ?? new Browser(this.server.issuer);
    const request = rp.authorizationRequest(options.params);
    const page = options.post
      ? await browser.request(this.metadata.authorization_endpoint, { form: request.params })
      : await browser.get(request.url);
    let location: string;
    if (options.silent) {
      expect(page.location, `expected an immediate redirect to the app, got ${page.status} ${page.url}`).to.be.a('string');
      location = page.location!;
    } else {
      options.onLoginPage?.(page);
      location = await rp.completeLogin(browser, page, options.email);
    }
    const code = rp.successfulCallback(location, request);
    const tokens = rp.checkTokenResponse(await rp.redeem(code, options.tokenExtra));
    expect(tokens.id_token, 'id_token (OIDC Core §3.1.3.3)').to.be.a('string');
    const idToken = await rp.validateIdToken(tokens.id_token!, { nonce: request.params.nonce, accessToken: tokens.access_token, code });
    const resource = await rp.userinfo(tokens.access_token);
    expect(resource.status, 'the protected resource (userinfo) with the access token').to.equal(200);
    return { browser, request, code, tokens: tokens as FlowResult['tokens'], idToken };
  }

  /**
   * CheckPostLogoutState / CheckNoPostLogoutState and CheckForUnexpectedParametersInPostLogoutRedirect:
   * the browser came back to the registered post_logout_redirect_uri with the state, and nothing else.
   */
  checkPostLogoutRedirect(location: string | undefined, state: string | undefined): void {
    expect(location, 'a redirect to the post_logout_redirect_uri').to.be.a('string');
    const url = new URL(location!);
    expect(`${url.origin}${url.pathname}`).to.equal(POST_LOGOUT_URI);
    expect(url.searchParams.get('state'), 'state').to.equal(state ?? null);
    expect([...url.searchParams.keys()].filter((key) => key !== 'state'), 'unexpected parameters').to.deep.equal([]);
    expect(url.hash).to.equal('');
  }

  /** The second authorization of the logout modules: prompt=none must now fail (the person is signed out). */
  async expectSignedOut(browser: Browser): Promise<void> {
    const request = this.authorizationRequest({ prompt: 'none', state: randomState(128) });
    this.errorCallback(await this.silent(browser, request), request, USER_INTERFACE_ERRORS);
  }

  endSessionUrl(params: Params): string {
    const kept = Object.fromEntries(Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined));
    const query = new URLSearchParams(kept).toString();
    return query ? `${this.metadata.end_session_endpoint}?${query}` : this.metadata.end_session_endpoint!;
  }
}

/** A JSON body, or (for an answer that is not JSON, kept to show in a failure) its text. */
async function jsonOrText(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  return res.headers.get('content-type')?.startsWith('application/json') ? (JSON.parse(text) as Record<string, unknown>) : { text };
}

/** The logout confirmation Sesame shows: the person presses "Sign out". */
export function confirmLogout(browser: Browser, page: Page): Promise<Page> {
  expect(page.status, page.body).to.equal(200);
  return browser.submit(page, /\/session\/end\/confirm$/, { logout: 'yes' });
}

/**
 * What a token endpoint error must look like (CheckTokenEndpointHttpStatus400, a JSON body,
 * ValidateErrorFromTokenEndpointResponseError and the RFC 6749 §5.2 character sets).
 */
export function checkTokenError(answer: HttpAnswer, error: string): void {
  expect(answer.status, JSON.stringify(answer.body)).to.equal(400);
  expect(answer.headers.get('content-type'), 'content-type').to.match(/^application\/json/);
  expect(answer.body.error, 'error').to.equal(error);
  checkErrorFields(answer.body);
  for (const leaked of ['access_token', 'id_token', 'refresh_token']) expect(answer.body, leaked).not.to.have.property(leaked);
}

function checkErrorFields(fields: Record<string, unknown>): void {
  expect(fields.error, 'error').to.be.a('string').that.matches(/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/);
  if (fields.error_description !== undefined) {
    expect(fields.error_description, 'error_description (RFC 6749 §5.2 characters, no CR, LF or TAB)').to.be.a('string').that.matches(/^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/);
  }
  if (fields.error_uri !== undefined) expect(fields.error_uri, 'error_uri').to.be.a('string').that.matches(/^[\x21\x23-\x5B\x5D-\x7E]*$/);
}

/** at_hash / c_hash (OIDC Core §3.1.3.6): the left half of the hash that goes with the signing algorithm. */
function halfHash(value: string, alg: string): string {
  const bits = /(\d{3})$/.exec(alg)?.[1] ?? '256';
  const digest = createHash(`sha${bits}`).update(value, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** Shannon entropy of the value's characters times its length: the estimate the official entropy checks make. */
function entropyBits(value: string): number {
  const counts = new Map<string, number>();
  for (const char of value) counts.set(char, (counts.get(char) ?? 0) + 1);
  let perChar = 0;
  for (const count of counts.values()) {
    const p = count / value.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * value.length;
}

/**
 * Waits until the clock reads at least `epochSeconds`. Only for modules whose check is about
 * time itself (auth_time after max_age, a later iat); each caller says why it needs the wait.
 */
export async function waitUntilEpochSecond(epochSeconds: number): Promise<void> {
  const wait = epochSeconds * 1000 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** Marks a module as not run, with its reason in the title (mocha prints it among the pending tests). */
export function skipModule(context: Mocha.Context, reason: string): never {
  context.test!.title += ` — skipped: ${reason}`;
  context.skip();
}
