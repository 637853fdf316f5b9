import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { closeChromium, DESKTOP, launchChromium, reportScreenshots, shoot, watchErrors } from '../support/chromium.js';
import { projectRoot } from '../../src/shared/paths.js';
import { loginDetails } from '../support/smtp-sink.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

/** oidc-client-ts's browser build (a script defining `oidc`), as an app without a bundler loads it */
const OIDC_CLIENT_TS = join(projectRoot, 'node_modules', 'oidc-client-ts', 'dist', 'browser', 'oidc-client-ts.min.js');

/**
 * The app itself: plain pages and one script, using oidc-client-ts's browser build as an app would
 * load it. Settings are what docs/connecting-apps/single-page-app.md gives.
 */
function appScript(settings: { issuer: string; clientId: string }): string {
  return `
const origin = window.location.origin;
window.mgr = new oidc.UserManager({
  authority: ${JSON.stringify(settings.issuer)},
  client_id: ${JSON.stringify(settings.clientId)},
  redirect_uri: origin + '/callback.html',
  post_logout_redirect_uri: origin + '/signed-out.html',
  response_type: 'code',
  scope: 'openid email offline_access',
  prompt: 'consent',
  loadUserInfo: true,
  automaticSilentRenew: false,
  revokeTokenTypes: ['refresh_token'],
  userStore: new oidc.WebStorageStateStore({ store: window.localStorage }),
});
const show = (text) => { document.getElementById('status').textContent = text; };
const fail = (error) => show('error: ' + (error && error.message || error));
const path = window.location.pathname;
if (path === '/callback.html') mgr.signinRedirectCallback().then(() => show('signed in'), fail);
else if (path === '/signed-out.html') mgr.signoutRedirectCallback().then(() => show('signed out'), fail);
else show('ready');
document.getElementById('login').onclick = () => mgr.signinRedirect().catch(fail);
document.getElementById('refresh').onclick = () => {
  show('refreshing');
  mgr.signinSilent().then(() => show('refreshed'), fail);
};
document.getElementById('logout').onclick = async () => {
  try {
    const user = await mgr.getUser();
    await mgr.revokeTokens();
    await mgr.signoutRedirect({ id_token_hint: user.id_token });
  } catch (error) { fail(error); }
};
`;
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>SPA</title>
<p id="status">loading</p>
<button id="login">Log in</button> <button id="refresh">Refresh tokens</button> <button id="logout">Log out</button>
<script src="/oidc-client-ts.min.js"></script><script src="/app.js"></script>`;

/** A static file server for the app, on its own origin (another site than Sesame's). */
async function serveApp(script: () => string): Promise<{ server: Server; port: number }> {
  const library = readFileSync(OIDC_CLIENT_TS, 'utf8');
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://app').pathname;
    if (path === '/oidc-client-ts.min.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(library);
    if (path === '/app.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(script());
    if (['/', '/callback.html', '/signed-out.html'].includes(path)) return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    res.writeHead(404).end();
  });
  // no host: both IPv4 and IPv6 loopback, so that `localhost` works whichever Chromium tries first
  await new Promise<void>((resolve) => server.listen(0, resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

interface StoredUser {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  profile: Record<string, unknown>;
}

/**
 * A single-page app with oidc-client-ts in headless Chromium: a public client with PKCE whose
 * token, userinfo and revocation requests cross origins. Sesame allows them (CORS) only from the
 * origins of the client's registered redirect URIs. SQLite only: the protocol does not depend on
 * the database.
 */
describe('interop: single-page app with oidc-client-ts (Chromium, sqlite)', function () {
  this.timeout(60_000);

  let chromium: Browser;
  let server: TestServer;
  let app: { server: Server; port: number };
  let appOrigin: string;
  /** the same app reached under another origin, which the client did not register */
  let strangerOrigin: string;
  let clientId = '';
  let context: BrowserContext;
  const pageErrors: string[] = [];

  before(async function () {
    this.timeout(60_000);
    chromium = await launchChromium();
    server = await startTestServer('sqlite');
    app = await serveApp(() => appScript({ issuer: server.issuer, clientId }));
    appOrigin = `http://localhost:${app.port}`;
    strangerOrigin = `http://127.0.0.1:${app.port}`;
    const { client } = await server.sesame.clients.add({
      name: 'Single Page App',
      redirectUris: [`${appOrigin}/callback.html`],
      postLogoutRedirectUris: [`${appOrigin}/signed-out.html`],
      isPublic: true,
      firstParty: true,
    });
    clientId = client.clientId;
    context = await chromium.newContext(DESKTOP);
    context.setDefaultTimeout(15_000);
    context.on('page', (page) => {
      const errors = watchErrors(page);
      page.on('close', () => pageErrors.push(...errors));
    });
  });

  after(async () => {
    await context?.close();
    await closeChromium(chromium);
    // not started when an earlier step of `before` failed (no Chromium): nothing to wait for
    if (app) await new Promise((resolve) => app.server.close(resolve));
    await server?.close();
    reportScreenshots();
  });

  const status = (page: Page) => page.locator('#status');
  const user = (page: Page) => page.evaluate(async () => {
    const u = await (window as unknown as { mgr: { getUser(): Promise<StoredUser | null> } }).mgr.getUser();
    return u && { access_token: u.access_token, refresh_token: u.refresh_token, id_token: u.id_token, profile: u.profile };
  });

  /** A token request from a page of `origin`, as its script would make it. */
  const tokenRequestFrom = (page: Page, body: Record<string, string>) => page.evaluate(async ({ url, form }) => {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
      return { status: res.status, body: await res.text() };
    } catch (error) {
      return { blocked: String(error) };
    }
  }, { url: `${server.issuer}/token`, form: body });

  it('signs in with PKCE through the magic link, loads userinfo, refreshes cross-origin and signs out', async () => {
    const name = 'spa oidc-client-ts';
    const page = await context.newPage();
    await page.goto(`${appOrigin}/`);
    await expect(await status(page).textContent()).to.equal('ready');
    await page.locator('#login').click();

    await page.locator('input#email').waitFor();
    expect(new URL(page.url()).origin).to.equal(server.issuer);
    await shoot(page, name, 'email form');
    await page.locator('input#email').fill('spa@example.com');
    await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
    await page.locator('#match-number').waitFor({ state: 'attached' });

    // the person opens the link from their mail in a new tab of the same browser
    const { link } = loginDetails(await server.smtp.waitFor('spa@example.com'));
    const linkTab = await context.newPage();
    await linkTab.goto(link);
    await linkTab.waitForURL((url) => url.origin === appOrigin && url.pathname === '/callback.html');
    await linkTab.locator('#status', { hasText: /signed in|error/ }).waitFor();
    expect(await status(linkTab).textContent()).to.equal('signed in');
    await shoot(linkTab, name, 'app signed in');

    const signedIn = (await user(linkTab))!;
    expect(signedIn.profile.iss).to.equal(server.issuer);
    expect(signedIn.profile.aud).to.equal(clientId);
    expect(signedIn.profile.sub).to.be.a('string').and.not.include('spa@');
    // email is not in the ID token of a code flow: it came from userinfo, fetched cross-origin
    expect(signedIn.profile.email).to.equal('spa@example.com');
    expect(signedIn.refresh_token).to.be.a('string');

    await linkTab.locator('#refresh').click();
    await linkTab.locator('#status', { hasText: /refreshed|error/ }).waitFor();
    expect(await status(linkTab).textContent()).to.equal('refreshed');
    const refreshed = (await user(linkTab))!;
    expect(refreshed.access_token).to.not.equal(signedIn.access_token);
    expect(refreshed.refresh_token).to.be.a('string').and.not.equal(signedIn.refresh_token);
    expect(refreshed.profile.sub).to.equal(signedIn.profile.sub);

    // another origin (not registered for this client) cannot use the token endpoint from a page,
    // even with a valid refresh token in hand: Chromium blocks the response, Sesame refuses the request
    const stranger = await context.newPage();
    await stranger.goto(`${strangerOrigin}/`);
    const fromStranger = await tokenRequestFrom(stranger, { grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshed.refresh_token! });
    expect(fromStranger).to.have.property('blocked').that.match(/Failed to fetch/);
    const direct = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { origin: strangerOrigin, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshed.refresh_token! }),
    });
    expect(direct.status).to.equal(400);
    expect(direct.headers.get('access-control-allow-origin')).to.equal(null);
    expect(((await direct.json()) as { error_description: string }).error_description).to.match(/origin .* not allowed/);
    await stranger.close();

    // the registered origin still can, and the refused attempts did not spend the refresh token
    await linkTab.locator('#refresh').click();
    await linkTab.locator('#status', { hasText: /refreshed|error/ }).waitFor();
    const latest = (await user(linkTab))!;
    expect(latest.access_token).to.not.equal(refreshed.access_token);

    // sign-out: the refresh token is revoked (cross-origin), then Sesame's end-session page
    await linkTab.locator('#logout').click();
    await linkTab.waitForURL((url) => url.origin === server.issuer).catch(async (error) => {
      throw new Error(`${(error as Error).message}\nstatus: ${await status(linkTab).textContent()}\n${pageErrors.join('\n')}`);
    });
    await linkTab.getByRole('button', { name: 'Sign out' }).waitFor();
    await shoot(linkTab, name, 'sesame asks to sign out');
    await linkTab.getByRole('button', { name: 'Sign out' }).click();
    await linkTab.waitForURL((url) => url.origin === appOrigin && url.pathname === '/signed-out.html');
    await linkTab.locator('#status', { hasText: /signed out|error/ }).waitFor();
    expect(await status(linkTab).textContent()).to.equal('signed out');
    expect(await user(linkTab)).to.equal(null);
    await shoot(linkTab, name, 'app signed out');
    const afterRevocation = await tokenRequestFrom(linkTab, { grant_type: 'refresh_token', client_id: clientId, refresh_token: latest.refresh_token! });
    expect(afterRevocation).to.include({ status: 400 });
    expect(JSON.parse((afterRevocation as { body: string }).body).error).to.equal('invalid_grant');

    // the session at Sesame is gone too: signing in again asks for an email
    await linkTab.locator('#login').click();
    await linkTab.locator('input#email').waitFor();

    expect(pageErrors.filter((e) => e.startsWith(server.issuer)), 'errors in Sesame\'s pages').to.deep.equal([]);
  });
});
