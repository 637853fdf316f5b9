import { expect } from 'chai';
import { request as httpRequest } from 'node:http';
import type { BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { Messages } from '../../src/shared/i18n.js';
import { localesDir } from '../../src/shared/paths.js';
import { DESKTOP, holdStatusLooks, PHONE, shoot, withDevices } from '../support/chromium.js';
import { Browser as HttpBrowser } from '../support/browser.js';
import { client, discover, REDIRECT_URI, registerClient, startAuthorization } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { startTestServer, type TestServer, withServer } from '../support/test-server.js';

const APP_ORIGIN = new URL(REDIRECT_URI).origin;
const messages = new Messages(localesDir);

interface Variant {
  name: string;
  lang: 'en' | 'de';
  options: BrowserContextOptions;
}

/** Every page on a desktop and a phone, in English and German. */
const VARIANTS: Variant[] = [
  { name: 'desktop en', lang: 'en', options: DESKTOP },
  { name: 'phone de', lang: 'de', options: { ...PHONE, locale: 'de-DE' } },
  { name: 'desktop de', lang: 'de', options: { ...DESKTOP, locale: 'de-DE' } },
  { name: 'phone en', lang: 'en', options: PHONE },
];

/**
 * The pages people see, in Chromium: each state of the waiting page (the whole card replaced by the
 * outcome), each error page's next step, the consent page, the 404 page and oidc-provider's errors,
 * in every variant. Each step is saved as a screenshot (test-output/screenshots/pages-…).
 */
describe('the pages people see, in Chromium (sqlite)', function () {
  this.timeout(90_000);

  let config: client.Configuration;
  let thirdParty: client.Configuration;
  let counter = 0;
  const devices = withDevices(APP_ORIGIN);
  const server = withServer('sqlite');

  before(async () => {
    config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
    const photo = await server.sesame.clients.add({
      name: 'Photo App',
      // nothing answers there: the logo fails to load, and the page must not show a broken image
      logoUri: 'https://127.0.0.1:9/logo.png',
      redirectUris: [REDIRECT_URI],
      isPublic: true,
    });
    thirdParty = await discover(server.issuer, { clientId: photo.client.clientId });
  });

  const say = (v: Variant, key: string, params: Record<string, unknown> = {}) => messages.t(v.lang, key, params);
  const nextEmail = (label: string) => `${label}-${++counter}@example.com`;
  const shotName = (v: Variant, what: string) => `pages ${v.name} ${what}`;

  function device(options: BrowserContextOptions): Promise<BrowserContext> {
    return devices.open(options);
  }

  const heading = async (page: Page) => (await page.locator('h1').first().innerText()).trim();

  async function expectFits(page: Page, what: string) {
    const sizes = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
    expect(sizes.scrollWidth, `${what}: page is wider than the screen`).to.be.at.most(sizes.innerWidth);
  }

  /** The app sends the browser to /auth; the address is entered; the tab waits. */
  async function askForLink(page: Page, v: Variant, email: string, rp = config): Promise<{ matchNumber: string }> {
    await page.goto((await startAuthorization(rp)).url.toString());
    await page.locator('input#email').fill(email);
    await page.locator('form button[type=submit]').click();
    await page.locator('#wait[data-state="waiting"]').waitFor();
    expect(await heading(page)).to.equal(say(v, 'check.title'));
    await page.evaluate(() => { (window as { waitedHere?: boolean }).waitedHere = true; });
    return { matchNumber: ((await page.locator('#match-number').textContent()) ?? '').trim() };
  }

  /** The waiting tab swaps its whole card for the outcome: nothing of the waiting card stays. */
  async function expectOutcome(page: Page, v: Variant, state: string, params: Record<string, unknown> = {}) {
    await page.locator(`#wait[data-state="${state}"]`).waitFor({ timeout: 15_000 });
    expect(await heading(page)).to.equal(say(v, `check.${state}.title`));
    expect(await page.locator('#login-status').innerText()).to.equal(say(v, `check.${state}.body`, params));
    expect(await page.locator('input#code').count(), 'the code field is gone').to.equal(0);
    expect(await page.locator('#match-number').count(), 'the number is gone').to.equal(0);
    expect(await page.evaluate(() => (window as { waitedHere?: boolean }).waitedHere), 'the card was swapped in place, not loaded anew').to.equal(true);
    expect(await page.locator('#wait h1').evaluate((h1) => h1 === document.activeElement), 'the new heading has the focus').to.equal(true);
    await expectFits(page, state);
  }

  const requestOf = (email: string) => server.sesame.db('login_requests').where({ email }).orderBy('created_at', 'desc').first();

  for (const v of VARIANTS) {
    describe(v.name, () => {
      it('waiting: the code is the one action, the number is folded away, "continue" is not shown, a new email keeps the number', async () => {
        const name = shotName(v, 'waiting');
        const page = await (await device(v.options)).newPage();
        const email = nextEmail('waiting');
        const { matchNumber } = await askForLink(page, v, email);
        expect(matchNumber).to.match(/^\d{2}$/);
        expect(await page.locator('#match-number').isVisible(), 'folded').to.equal(false);
        expect(await page.getByText(say(v, 'check.continue')).count(), 'no "continue" while the page checks by itself').to.equal(0);
        expect(await page.locator('button:not(.link):not(.secondary)').count(), 'one primary button').to.equal(1);
        await expectFits(page, 'waiting');
        await shoot(page, name, 'waiting');

        await page.locator('summary').click();
        expect(await page.locator('#match-number').isVisible()).to.equal(true);
        await shoot(page, name, 'number for another device unfolded');

        await server.smtp.waitFor(email);
        await page.locator('#resend').click();
        await page.locator('#wait-notice').waitFor();
        expect(await page.locator('#wait-notice').innerText()).to.equal(say(v, 'check.notice.sent', { email, number: matchNumber }));
        expect(((await page.locator('#match-number').textContent()) ?? '').trim(), 'the number stays').to.equal(matchNumber);
        expect((await requestOf(email)).match_number).to.equal(Number(matchNumber));
        await page.waitForLoadState('load');
        await shoot(page, name, 'new email sent');
      });

      it('completed in another tab: the waiting card becomes "you are signed in" with the way back to the app', async () => {
        const name = shotName(v, 'completed');
        const context = await device(v.options);
        const page = await context.newPage();
        const email = nextEmail('completed');
        await askForLink(page, v, email);
        // the waiting tab looks again only once the link tab has finished the sign-in
        const linkTabDone = await holdStatusLooks(page);
        const { link } = loginDetails(await server.smtp.waitFor(email));
        const linkTab = await context.newPage();
        await linkTab.goto(link).catch(() => undefined);
        await linkTab.waitForURL(`${APP_ORIGIN}/**`);
        linkTabDone();
        await expectOutcome(page, v, 'completed', { app: 'Test App' });
        expect(await page.getByRole('link', { name: say(v, 'app.back', { app: 'Test App' }) }).getAttribute('href')).to.equal(`${APP_ORIGIN}/`);
        await shoot(page, name, 'completed');
      });

      for (const [state, change] of [
        ['expired', { expires_at: Date.now() - 1000 }],
        ['superseded', { status: 'superseded' }],
        ['locked', { status: 'locked' }],
        ['mismatch', { status: 'denied', match_attempts: 3 }],
      ] as const) {
        it(`${state}: the card says so and offers a new email to the same address`, async () => {
          const name = shotName(v, state);
          const page = await (await device(v.options)).newPage();
          const email = nextEmail(state);
          await askForLink(page, v, email);
          await server.smtp.waitFor(email);
          await server.sesame.db('login_requests').where({ email }).update(state === 'expired' ? { expires_at: Date.now() - 1000 } : change);
          await expectOutcome(page, v, state, { email });
          const resend = page.getByRole('button', { name: say(v, 'check.resend'), exact: true });
          expect(await resend.isVisible()).to.equal(true);
          expect(await page.locator('#wait').innerText(), 'says where the new email goes').to.include(say(v, 'check.resend.to', { email }));
          await shoot(page, name, state);

          // the server renders the same card when the page is loaded in this state
          await page.reload();
          expect(await page.locator('#wait').getAttribute('data-state')).to.equal(state);
          await resend.click();
          await page.locator('#wait[data-state="waiting"] #wait-notice').waitFor();
          expect(await page.locator('#wait-notice').innerText()).to.include(email);
          await shoot(page, name, 'after a new email');
        });
      }

      it('denied on the other device ("This wasn\'t me"): the card says so and offers a new email', async () => {
        const name = shotName(v, 'denied');
        const page = await (await device(v.options)).newPage();
        const email = nextEmail('denied');
        await askForLink(page, v, email);
        const { link } = loginDetails(await server.smtp.waitFor(email));
        const phone = await (await device(v.options)).newPage();
        await phone.goto(link);
        await phone.getByRole('button', { name: say(v, 'other.deny') }).click();
        await phone.locator('h1').filter({ hasText: say(v, 'denied.title') }).waitFor();
        await shoot(phone, name, 'other device stopped it');
        await expectOutcome(page, v, 'denied', { email });
        await shoot(page, name, 'denied');
        const stopped = (await requestOf(email)).id as string;
        await page.getByRole('button', { name: say(v, 'check.resend'), exact: true }).click();
        await page.locator('#wait[data-state="waiting"] #wait-notice').waitFor();
        expect((await requestOf(email)).id, 'a new request').to.not.equal(stopped);
        await shoot(page, name, 'after a new email');
      });

      it('undeliverable and gone: the card says what happened and what to do', async () => {
        const name = shotName(v, 'undeliverable and gone');
        const context = await device(v.options);
        const page = await context.newPage();
        const email = nextEmail('undeliverable');
        await askForLink(page, v, email);
        await server.smtp.waitFor(email);
        const request = await requestOf(email);
        await server.sesame.db('mail_outbox').where({ login_request_id: request.id }).update({ status: 'failed' });
        await expectOutcome(page, v, 'undeliverable', { email });
        expect(await page.getByRole('link', { name: say(v, 'check.change') }).isVisible()).to.equal(true);
        await shoot(page, name, 'undeliverable');

        const other = await context.newPage();
        await askForLink(other, v, nextEmail('gone'));
        // the browser that asked is no longer recognised (its binding cookie is gone): nothing to wait for
        await context.clearCookies({ name: 'sesame.device' });
        await expectOutcome(other, v, 'gone', { app: 'Test App' });
        await shoot(other, name, 'gone');
      });

      it('an expired link in the browser whose sign-in is open offers "Send a new link" there; on another device it says where to ask', async () => {
        const name = shotName(v, 'expired link');
        const context = await device(v.options);
        const page = await context.newPage();
        const email = nextEmail('expired-link');
        await askForLink(page, v, email);
        const { link } = loginDetails(await server.smtp.waitFor(email));
        await server.sesame.db('login_requests').where({ email }).update({ expires_at: Date.now() - 1000 });

        const elsewhere = await (await device(v.options)).newPage();
        expect((await elsewhere.goto(link))?.status()).to.equal(410);
        expect(await elsewhere.locator('main').innerText()).to.include(say(v, 'error.next.other_device'));
        expect(await elsewhere.getByRole('button', { name: say(v, 'error.next.resend') }).count()).to.equal(0);
        await shoot(elsewhere, name, 'on another device');

        const linkTab = await context.newPage();
        expect((await linkTab.goto(link))?.status()).to.equal(410);
        expect(await linkTab.locator('main').innerText()).to.include(say(v, 'error.link_expired'));
        expect(await linkTab.getByRole('link', { name: say(v, 'app.back', { app: 'Test App' }) }).isVisible()).to.equal(true);
        await expectFits(linkTab, 'expired link');
        await shoot(linkTab, name, 'send a new link');
        await linkTab.getByRole('button', { name: say(v, 'error.next.resend') }).click();
        await linkTab.locator('#wait[data-state="waiting"] #wait-notice').waitFor();
        expect(await linkTab.locator('#wait-notice').innerText()).to.include(email);
        await shoot(linkTab, name, 'new link sent');
        const second = await server.smtp.waitFor(email);
        expect(loginDetails(second).link).to.not.equal(link);
      });

      it('a link whose code was locked offers a new link; a link whose sign-in finished says "You are signed in to Test App"', async () => {
        const name = shotName(v, 'used and locked links');
        const context = await device(v.options);
        const page = await context.newPage();
        const email = nextEmail('locked-link');
        await askForLink(page, v, email);
        const { link } = loginDetails(await server.smtp.waitFor(email));
        await server.sesame.db('login_requests').where({ email }).update({ status: 'locked' });
        const lockedTab = await context.newPage();
        expect((await lockedTab.goto(link))?.status()).to.equal(410);
        expect(await lockedTab.locator('main').innerText()).to.include(say(v, 'error.link_locked'));
        expect(await lockedTab.getByRole('button', { name: say(v, 'error.next.resend') }).isVisible()).to.equal(true);
        await shoot(lockedTab, name, 'locked link');

        const done = await (await device(v.options)).newPage();
        const finished = nextEmail('finished');
        await askForLink(done, v, finished);
        const used = loginDetails(await server.smtp.waitFor(finished)).link;
        await done.goto(used).catch(() => undefined);
        await done.waitForURL((url) => url.href.startsWith(APP_ORIGIN), { timeout: 15_000 }).catch(() => undefined);
        const again = await done.context().newPage();
        expect((await again.goto(used))?.status()).to.equal(410);
        expect(await heading(again)).to.equal(say(v, 'error.signed_in.title', { app: 'Test App' }));
        expect(await again.locator('main').innerText()).to.not.include(say(v, 'error.restart'));
        expect(await again.getByRole('link', { name: say(v, 'app.back', { app: 'Test App' }) }).isVisible()).to.equal(true);
        await shoot(again, name, 'signed in already');
      });

      it('consent: the full heading, who is signed in, a true text, the logo falling back to the app\'s initial; granting is audited', async () => {
        const name = shotName(v, 'consent');
        const context = await device(v.options);
        const page = await context.newPage();
        const email = nextEmail('consent');
        await askForLink(page, v, email, thirdParty);
        const { link } = loginDetails(await server.smtp.waitFor(email));
        await page.goto(link);
        await page.locator('form[action$="/consent"]').waitFor();
        expect(await heading(page)).to.equal(say(v, 'consent.title', { app: 'Photo App' }));
        expect(await page.locator('.signed-in-as').innerText()).to.equal(say(v, 'consent.signed_in_as', { email }));
        const text = await page.locator('main').innerText();
        expect(text).to.include(say(v, 'consent.later', { app: 'Photo App' })).and.not.match(/sign(ing)? out|abmelden/i);
        // the logo failed to load: no broken image, the initial instead
        await page.waitForFunction(() => !document.querySelector('img.client-logo'));
        expect(await page.locator('.client-mark').isVisible()).to.equal(true);
        expect(await page.locator('.client-mark').innerText()).to.equal('P');
        await expectFits(page, 'consent');
        await shoot(page, name, 'consent');

        await page.getByRole('button', { name: say(v, 'consent.allow'), exact: true }).click();
        await page.waitForURL((url) => url.href.startsWith(APP_ORIGIN), { timeout: 15_000 }).catch(() => undefined);
        const account = await server.sesame.db('accounts').where({ email }).first();
        const events = await server.sesame.db('audit_events').where({ type: 'consent.granted', account_id: account.id });
        expect(events).to.have.length(1);
        expect(JSON.parse(events[0].details)).to.deep.include({ scopes: 'openid email offline_access' });
      });

      it('an unknown path is a 404 page in the same design, with a favicon; an app\'s broken request is explained in the page\'s language', async () => {
        const name = shotName(v, 'not found and protocol error');
        const page = await (await device(v.options)).newPage();
        const response = await page.goto(`${server.issuer}/nope`);
        expect(response?.status()).to.equal(404);
        expect(await heading(page)).to.equal(say(v, 'error.page_not_found.title'));
        const icon = await page.locator('link[rel=icon]').getAttribute('href');
        const favicon = await page.request.get(new URL(icon!, server.issuer).toString());
        expect(favicon.headers()['content-type']).to.include('image/svg+xml');
        await shoot(page, name, '404');

        const auth = new URL('/auth', server.issuer);
        auth.search = new URLSearchParams({ client_id: 'no-such-app', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI }).toString();
        await page.goto(auth.toString());
        expect(await heading(page)).to.equal(say(v, 'error.oidc.title'));
        expect(await page.locator('.error-message').innerText()).to.equal(say(v, 'error.oidc.invalid_client'));
        await expectFits(page, 'protocol error');
        await shoot(page, name, 'protocol error');
      });
    });
  }

  describe('without JavaScript', () => {
    for (const v of [VARIANTS[0], VARIANTS[1]]) {
      it(`${v.name}: "I approved it, continue" is the way on, and pressed early it says what is missing`, async () => {
        const name = shotName(v, 'no javascript');
        const page = await (await device({ ...v.options, javaScriptEnabled: false })).newPage();
        const email = nextEmail('nojs');
        await askForLink(page, v, email);
        const press = page.getByRole('link', { name: say(v, 'check.continue') });
        expect(await press.isVisible()).to.equal(true);
        await shoot(page, name, 'waiting');
        await press.click();
        await page.locator('#wait-notice').waitFor();
        expect(await page.locator('#wait-notice').innerText()).to.equal(say(v, 'check.notice.not_yet'));
        // the number it talks about is unfolded
        expect(await page.locator('#match-number').isVisible()).to.equal(true);
        await shoot(page, name, 'pressed too early');
        await server.smtp.waitFor(email);
      });
    }
  });
});

describe('development: another host name than the issuer\'s', function () {
  this.timeout(30_000);
  let server: TestServer;
  before(async () => {
    server = await startTestServer('sqlite', {}, { mode: 'development' });
  });
  after(() => server?.close());

  const get = (path: string, host: string) => new Promise<{ status: number; location?: string }>((resolve, reject) => {
    const { port } = new URL(server.issuer);
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host, accept: 'text/html' } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, location: res.headers.location });
    });
    req.on('error', reject);
    req.end();
  });

  it('redirects to the issuer\'s host first, keeping the path; probes are answered where they ask', async () => {
    const { port } = new URL(server.issuer);
    const other = await get('/interaction/abc?x=1', `localhost:${port}`);
    expect(other.status).to.equal(307);
    expect(other.location).to.equal(`${server.issuer}/interaction/abc?x=1`);
    expect((await get('/healthz', `localhost:${port}`)).status).to.equal(200);
    expect((await get('/nope', `127.0.0.1:${port}`)).status, 'the issuer\'s own host is served').to.equal(404);
    // never a host of the request's choosing
    expect((await get('//evil.example/x', 'evil.example')).location).to.equal(`${server.issuer}//evil.example/x`);
  });

  it('a finished sign-in says so to the browser that asked, and to no other', async () => {
    const rp = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
    const browser = new HttpBrowser(server.issuer);
    const form = await browser.get((await startAuthorization(rp)).url.toString());
    const waiting = await browser.submit(form, /\/email$/, { email: 'finished@example.com' });
    const { link } = loginDetails(await server.smtp.waitFor('finished@example.com'));
    const done = await browser.submit(await browser.get(link), '/login/verify');
    expect(done.location).to.match(/code=/);
    const again = await browser.get(waiting.url);
    expect(again.body).to.include('You are signed in to Test App').and.include('Back to Test App');
    const stranger = await new HttpBrowser(server.issuer).get(waiting.url);
    expect(stranger.body).to.include('interaction_expired').and.not.include('Test App').and.not.include('You are signed in');
  });
});
