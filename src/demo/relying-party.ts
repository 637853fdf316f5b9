import * as oauth from 'oauth4webapi';
import { demoUrls } from './demo-client.js';

/** What the demo keeps between sending the browser to /auth and its return (in a signed cookie). */
export interface PendingSignIn {
  verifier: string;
  state: string;
  nonce: string;
}

export interface SignedIn {
  idToken: string;
  idTokenClaims: Record<string, unknown>;
  userinfo: Record<string, unknown>;
  endSessionUrl?: string;
}

/**
 * The demo relying app, talking to the provider only over HTTP like any other app: discovery,
 * authorization code with PKCE (S256), state and nonce, the token request, the ID token checked
 * (claims and signature against the published JWKS) and userinfo. oauth4webapi does every protocol
 * check, so none is hand-written here.
 */
export class DemoRelyingParty {
  readonly #issuer: URL;
  readonly #client: oauth.Client;
  readonly #callback: string;
  readonly #home: string;
  readonly #http: { [oauth.allowInsecureRequests]: boolean };
  #server?: Promise<oauth.AuthorizationServer>;

  constructor(issuer: string, clientId: string) {
    this.#issuer = new URL(issuer);
    this.#client = { client_id: clientId };
    ({ callback: this.#callback, home: this.#home } = demoUrls(issuer));
    // development issuers are usually plain http on localhost
    this.#http = { [oauth.allowInsecureRequests]: this.#issuer.protocol === 'http:' };
  }

  /** Discovery once per provider build; a failure is not remembered, so the next request retries. */
  #authorizationServer(): Promise<oauth.AuthorizationServer> {
    this.#server ??= oauth.discoveryRequest(this.#issuer, this.#http)
      .then((response) => oauth.processDiscoveryResponse(this.#issuer, response))
      .catch((error: unknown) => {
        this.#server = undefined;
        throw error;
      });
    return this.#server;
  }

  async start(): Promise<{ url: string; pending: PendingSignIn }> {
    const as = await this.#authorizationServer();
    const pending = { verifier: oauth.generateRandomCodeVerifier(), state: oauth.generateRandomState(), nonce: oauth.generateRandomNonce() };
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: this.#client.client_id,
      redirect_uri: this.#callback,
      response_type: 'code',
      scope: 'openid email',
      code_challenge: await oauth.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    }).toString();
    return { url: url.href, pending };
  }

  /** Throws oauth4webapi's errors (an error sent back to the app, a failed check) for the page to show. */
  async finish(callbackUrl: string, pending: PendingSignIn): Promise<SignedIn> {
    const as = await this.#authorizationServer();
    const params = oauth.validateAuthResponse(as, this.#client, new URL(callbackUrl), pending.state);
    const response = await oauth.authorizationCodeGrantRequest(as, this.#client, oauth.None(), params, this.#callback, pending.verifier, this.#http);
    const tokens = await oauth.processAuthorizationCodeResponse(as, this.#client, response, { expectedNonce: pending.nonce, requireIdToken: true });
    await oauth.validateApplicationLevelSignature(as, response, this.#http);
    const claims = oauth.getValidatedIdTokenClaims(tokens)!;
    const userinfo = await oauth.processUserInfoResponse(as, this.#client, claims.sub, await oauth.userInfoRequest(as, this.#client, tokens.access_token, this.#http));
    let endSessionUrl: string | undefined;
    if (as.end_session_endpoint) {
      const end = new URL(as.end_session_endpoint);
      end.search = new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: this.#home }).toString();
      endSessionUrl = end.href;
    }
    return { idToken: tokens.id_token!, idTokenClaims: { ...claims }, userinfo: { ...userinfo }, endSessionUrl };
  }
}

/** A short, person-readable reason for a failed demo sign-in (an OAuth error code when there is one). */
export function describeFailure(error: unknown): string {
  if (error instanceof oauth.AuthorizationResponseError || error instanceof oauth.ResponseBodyError) {
    return [error.error, error.error_description].filter(Boolean).join(': ');
  }
  return error instanceof Error ? error.message : String(error);
}
