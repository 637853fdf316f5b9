import { expect } from 'chai';
import * as client from 'openid-client';
import type { Sesame } from '../../src/main.js';
import { Browser, type Page } from './browser.js';
import { loginDetails, type SmtpSink } from './smtp-sink.js';

export const REDIRECT_URI = 'http://127.0.0.1:9/callback';
export const POST_LOGOUT_URI = 'http://127.0.0.1:9/signed-out';

export interface RegisteredClient {
  clientId: string;
  clientSecret?: string;
}

export async function registerClient(sesame: Sesame, options: { isPublic?: boolean; firstParty?: boolean; name?: string } = {}): Promise<RegisteredClient> {
  const { client: record, clientSecret } = await sesame.clients.add({
    name: options.name ?? 'Test App',
    redirectUris: [REDIRECT_URI],
    postLogoutRedirectUris: [POST_LOGOUT_URI],
    isPublic: options.isPublic,
    firstParty: options.firstParty,
  });
  return { clientId: record.clientId, clientSecret };
}

/** A confidential first-party web app on an origin of its own (the interop tests' express apps). */
export async function registerWebApp(sesame: Sesame, app: { name: string; redirectUris: string[]; postLogoutRedirectUris?: string[] }): Promise<{ clientId: string; clientSecret: string }> {
  const { client: record, clientSecret } = await sesame.clients.add({ ...app, firstParty: true });
  if (!clientSecret) throw new Error(`${app.name} was registered without a secret`);
  return { clientId: record.clientId, clientSecret };
}

/** A relying app using openid-client, as an app developer would. */
export async function discover(issuer: string, registered: RegisteredClient): Promise<client.Configuration> {
  return client.discovery(
    new URL(issuer),
    registered.clientId,
    undefined,
    registered.clientSecret ? client.ClientSecretBasic(registered.clientSecret) : client.None(),
    { execute: [client.allowInsecureRequests] },
  );
}

export interface AuthorizationStart {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

export async function startAuthorization(config: client.Configuration, extra: Record<string, string> = {}): Promise<AuthorizationStart> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const parameters: Record<string, string> = {
    redirect_uri: REDIRECT_URI,
    scope: 'openid email offline_access',
    prompt: 'consent',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  };
  // an empty value in `extra` removes the default parameter
  for (const [key, value] of Object.entries(parameters)) if (value === '') delete parameters[key];
  const url = client.buildAuthorizationUrl(config, parameters);
  return { url, verifier, state, nonce };
}

export function exchangeCode(config: client.Configuration, start: AuthorizationStart, callback: string) {
  return client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: start.verifier,
    expectedState: start.state,
    expectedNonce: start.nonce,
  });
}

/**
 * From the app's authorization request to the code at the redirect URI, through the magic link.
 * `redirectUri` is where the app expects the browser back (REDIRECT_URI unless said otherwise).
 */
export async function signInWithLink(browser: Browser, smtp: SmtpSink, start: Pick<AuthorizationStart, 'url'>, email: string, options: { consent?: boolean; redirectUri?: string } = {}): Promise<string> {
  const form = await browser.get(start.url.toString());
  if (form.status !== 200 || !form.body.includes('name="email"')) throw new Error(`expected the email form, got ${form.status}:\n${form.body}`);
  const checkEmail = await browser.submit(form, /\/email$/, { email });
  if (!checkEmail.body.includes('Check your email')) throw new Error(`expected "check your email", got ${checkEmail.status}:\n${checkEmail.body}`);
  const { link } = loginDetails(await smtp.waitFor(email));
  const verify = await browser.get(link);
  let after: Page = await browser.submit(verify, '/login/verify');
  if (options.consent) {
    if (!after.body.includes('Allow')) throw new Error(`expected the consent page, got ${after.status}:\n${after.body}`);
    after = await browser.submit(after, /\/consent$/);
  }
  if (!after.location?.startsWith(options.redirectUri ?? REDIRECT_URI)) throw new Error(`expected a redirect to the app, got ${after.status} ${after.url}:\n${after.body}`);
  return after.location;
}

/** Expects an OAuth error code from an openid-client call. */
export async function expectOAuthError(promise: Promise<unknown>, error: string): Promise<void> {
  try {
    await promise;
  } catch (e) {
    // openid-client reports a WWW-Authenticate challenge (401 from client authentication) as its cause
    const failure = e as { error?: string; cause?: { parameters?: { error?: string } }[] };
    expect(failure.error ?? failure.cause?.[0]?.parameters?.error, (e as Error).message).to.equal(error);
    return;
  }
  expect.fail(`expected ${error}`);
}

export { client };
