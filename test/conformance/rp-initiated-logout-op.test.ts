import { expect } from 'chai';
import type { Browser, Page } from '../support/browser.js';
import { POST_LOGOUT_URI } from '../support/relying-party.js';
import { withServer } from '../support/test-server.js';
import { checkEndpointsAtIssuer, checkEndSessionEndpoint } from './discovery-checks.js';
import { confirmLogout, ConformanceRp, randomState, registerStaticClient, type FlowResult, type Params } from './op-client.js';

const emailFor = (module: string) => `${module}@example.com`;
const b64 = (text: string) => Buffer.from(text).toString('base64url');

/**
 * The OpenID Foundation's RP-Initiated Logout OP plan (oidcc-rp-initiated-logout-certification-test-plan):
 * each module signs in, then sends the browser to the end_session_endpoint with some parameters
 * changed, and looks at where it ends up. Sesame asks the person to confirm every logout (RP-Initiated
 * Logout §2: the OP SHOULD ask); the test presses "Sign out" where a person would.
 */
describe('conformance: RP-Initiated Logout OP plan (client_secret_basic; sqlite)', function () {
  let rp: ConformanceRp;

  const server = withServer('sqlite');
  before(async () => {
    rp = await ConformanceRp.start(server, await registerStaticClient(server));
  });

  /** AbstractOIDCCRpInitiatedLogout's first authorization (with the long state it uses throughout). */
  const signIn = (module: string): Promise<FlowResult> => rp.codeFlow({ email: emailFor(module), params: { state: randomState(128) } });

  /** CreateEndSessionEndpointRequest (id_token_hint, post_logout_redirect_uri and a state), changed by `change`. */
  function endSession(run: FlowResult, change: Params = {}): { url: string; state?: string } {
    const params: Params = { id_token_hint: run.idToken.raw, post_logout_redirect_uri: POST_LOGOUT_URI, state: randomState(), ...change };
    return { url: rp.endSessionUrl(params), state: params.state };
  }

  /**
   * The modules where the OP "must not redirect back and must either show an error screen or
   * confirm with the user": an error page, or a confirmation after which the browser stays here.
   */
  async function expectNoRedirectBack(browser: Browser, page: Page): Promise<void> {
    expect(page.location, 'redirected to').to.equal(undefined);
    if (page.status === 400) return;
    const after = await confirmLogout(browser, page);
    expect(after.location, 'redirected to, after the confirmation').to.equal(undefined);
  }

  /** The modules that end at the OP's "you are signed out" page: shown, and the session is over. */
  async function expectSignedOutPage(browser: Browser, page: Page): Promise<void> {
    const after = await confirmLogout(browser, page);
    expect(after.location, 'redirected to').to.equal(undefined);
    expect(after.status).to.equal(200);
    await rp.expectSignedOut(browser);
  }

  it('oidcc-rp-initiated-logout-discovery-endpoint-verification', () => {
    // the https half of CheckDiscEndpointAllEndpointsAreHttps is checked against an https issuer in
    // the Config OP plan; this server's issuer is plain http, and every endpoint follows it
    checkEndpointsAtIssuer(rp.metadata);
    checkEndSessionEndpoint(rp.metadata);
  });

  it('oidcc-rp-initiated-logout', async () => {
    const run = await signIn('oidcc-rp-initiated-logout');
    const logout = endSession(run);
    const after = await confirmLogout(run.browser, await run.browser.get(logout.url));
    rp.checkPostLogoutRedirect(after.location, logout.state);
    await rp.expectSignedOut(run.browser);
  });

  it('oidcc-rp-initiated-logout-bad-post-logout-redirect-uri', async () => {
    const run = await signIn('oidcc-rp-initiated-logout-bad-post-logout-redirect-uri');
    const page = await run.browser.get(endSession(run, { post_logout_redirect_uri: `${POST_LOGOUT_URI}/not-registered` }).url);
    await expectNoRedirectBack(run.browser, page);
  });

  it('oidcc-rp-initiated-logout-modified-id-token-hint', async () => {
    const run = await signIn('oidcc-rp-initiated-logout-modified-id-token-hint');
    // ChangeIdTokenToAlgNone: the same claims, alg none, no signature
    const [, payload] = run.idToken.raw.split('.');
    const unsigned = `${b64(JSON.stringify({ alg: 'none' }))}.${payload}.`;
    const page = await run.browser.get(endSession(run, { id_token_hint: unsigned }).url);
    await expectNoRedirectBack(run.browser, page);
  });

  it('oidcc-rp-initiated-logout-no-id-token-hint', async () => {
    const run = await signIn('oidcc-rp-initiated-logout-no-id-token-hint');
    const page = await run.browser.get(endSession(run, { id_token_hint: undefined }).url);
    await expectNoRedirectBack(run.browser, page);
  });

  it('oidcc-rp-initiated-logout-no-params', async () => {
    const run = await signIn('oidcc-rp-initiated-logout-no-params');
    await expectSignedOutPage(run.browser, await run.browser.get(rp.endSessionUrl({})));
  });

  it('oidcc-rp-initiated-logout-no-post-logout-redirect-uri', async () => {
    const run = await signIn('oidcc-rp-initiated-logout-no-post-logout-redirect-uri');
    await expectSignedOutPage(run.browser, await run.browser.get(endSession(run, { post_logout_redirect_uri: undefined }).url));
  });

  it('oidcc-rp-initiated-logout-no-state', async () => {
    const run = await signIn('oidcc-rp-initiated-logout-no-state');
    const logout = endSession(run, { state: undefined });
    const after = await confirmLogout(run.browser, await run.browser.get(logout.url));
    rp.checkPostLogoutRedirect(after.location, undefined);
    await rp.expectSignedOut(run.browser);
  });

  it('oidcc-rp-initiated-logout-only-state', async () => {
    const run = await signIn('oidcc-rp-initiated-logout-only-state');
    await expectSignedOutPage(run.browser, await run.browser.get(endSession(run, { id_token_hint: undefined, post_logout_redirect_uri: undefined }).url));
  });
});
