import { expect } from 'chai';
import type { BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { DESKTOP, holdStatusLooks, PHONE, shoot, withDevices } from '../support/chromium.js';
import { client, discover, exchangeCode, REDIRECT_URI, registerClient, startAuthorization, type AuthorizationStart } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { startTestServer, withServer } from '../support/test-server.js';

const APP_ORIGIN = new URL(REDIRECT_URI).origin;
const isCallback = (url: URL) => url.href.startsWith(`${REDIRECT_URI}?`);

/**
 * The sign-in pages in a real browser (Chromium): the scripts that auto-submit the link and poll the
 * waiting tab, cookies as a browser keeps them (the binding cookie, SameSite, paths), CSP, layout on
 * a phone and keyboard use. SQLite only: the storage is covered on both databases elsewhere.
 */
describe('sign-in in a real browser (Chromium, sqlite)', function () {
  this.timeout(60_000);

  let config: client.Configuration;
  let counter = 0;
  const devices = withDevices(APP_ORIGIN);
  const server = withServer('sqlite');

  before(async () => {
    config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
  });

  const nextEmail = (label: string) => `${label}-${++counter}@example.com`;

  /** A separate device (browser context with its own cookies). */
  function device(options: BrowserContextOptions = DESKTOP): Promise<BrowserContext> {
    return devices.open(options);
  }

  async function tab(context: BrowserContext): Promise<Page> {
    return context.newPage();
  }

  /** Waits until the element's text matches; on timeout says what the text was. */
  async function waitForText(page: Page, selector: string, pattern: RegExp, timeout = 10_000): Promise<string> {
    try {
      await page.locator(selector).first().waitFor({ state: 'attached', timeout });
      await page.waitForFunction(
        ([sel, source, flags]) => new RegExp(source, flags).test(document.querySelector(sel)?.textContent ?? ''),
        [selector, pattern.source, pattern.flags] as const,
        { timeout },
      );
    } catch (error) {
      const text = await page.locator(selector).first().textContent({ timeout: 1000 }).catch(() => '<no such element>');
      throw new Error(`${selector} on ${page.url()} did not match ${pattern} within ${timeout} ms; it says ${JSON.stringify(text)} (${(error as Error).message.split('\n')[0]})`);
    }
    return (await page.locator(selector).first().textContent()) ?? '';
  }

  /**
   * Waits until the tab is at the app's redirect URI (answered by the route stub) and returns that URL.
   * Chromium's first attempt at a cross-origin redirect out of Sesame's pages (which send COOP
   * same-origin, so the tab changes browsing context group) sometimes escapes the route and fails
   * (net::ERR_CONNECTION_REFUSED, nothing listens on port 9), then is retried and intercepted:
   * that failure is the harness's, not the product's, so it is waited through.
   */
  async function waitForApp(page: Page, timeout = 20_000): Promise<string> {
    const deadline = Date.now() + timeout;
    for (;;) {
      try {
        await page.waitForURL(isCallback, { timeout: Math.max(1000, deadline - Date.now()) });
        await page.getByText('app callback').waitFor({ timeout: Math.max(1000, deadline - Date.now()) });
        return page.url();
      } catch (error) {
        if (Date.now() >= deadline || !/net::ERR_(CONNECTION_REFUSED|UNSAFE_PORT|ABORTED)/.test(String(error))) throw error;
      }
    }
  }

  const heading = (page: Page) => page.locator('h1').first().innerText();
  const activeElement = (page: Page) => page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    return { tag: el?.tagName.toLowerCase() ?? '', id: el?.id ?? '', name: el?.getAttribute('name') ?? '', type: el?.getAttribute('type') ?? '', text: (el?.textContent ?? '').trim() };
  });

  /** The app sends the browser to /auth; the person enters the address; the tab then waits. */
  async function askForLink(page: Page, testName: string, email: string): Promise<{ start: AuthorizationStart; matchNumber: string }> {
    const start = await startAuthorization(config);
    await page.goto(start.url.toString());
    await page.locator('input#email').waitFor();
    expect(await heading(page)).to.equal('Sign in to Test App');
    await shoot(page, testName, 'email form');
    await page.locator('input#email').fill(email);
    await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
    await page.locator('#match-number').waitFor({ state: 'attached' });
    expect(await heading(page)).to.equal('Check your email');
    expect(await page.locator('main').innerText()).to.include(email);
    const matchNumber = ((await page.locator('#match-number').textContent()) ?? '').trim();
    expect(matchNumber).to.match(/^\d{2}$/);
    await shoot(page, testName, 'check your email');
    return { start, matchNumber };
  }

  async function expectNoHorizontalScroll(page: Page, what: string) {
    const sizes = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
    expect(sizes.scrollWidth, `${what}: page is wider than the screen`).to.be.at.most(sizes.innerWidth);
  }

  /** The element is inside the first screen, not clipped, and nothing covers its centre. */
  async function expectFullyVisible(page: Page, selector: string, what: string) {
    const box = await page.locator(selector).first().evaluate((el) => {
      const r = el.getBoundingClientRect();
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height, innerWidth: window.innerWidth, innerHeight: window.innerHeight, onTop: hit === el || el.contains(hit) };
    });
    expect(box.width, `${what} has no width`).to.be.greaterThan(0);
    expect(box.left, `${what} starts off screen: ${JSON.stringify(box)}`).to.be.at.least(0);
    expect(box.top, `${what} starts off screen: ${JSON.stringify(box)}`).to.be.at.least(0);
    expect(box.right, `${what} is cut off on the right: ${JSON.stringify(box)}`).to.be.at.most(box.innerWidth);
    expect(box.bottom, `${what} is below the first screen: ${JSON.stringify(box)}`).to.be.at.most(box.innerHeight);
    expect(box.onTop, `${what} is covered by something`).to.equal(true);
  }

  it('same browser: the link opened in a new tab lands on the app with a real code, and the waiting tab says so', async () => {
    const name = 'same browser';
    const email = nextEmail('same');
    const context = await device();
    const waiting = await tab(context);
    const { start } = await askForLink(waiting, name, email);
    const { link } = loginDetails(await server.smtp.waitFor(email));

    // the mail is opened in the same browser: one click, no further question. The waiting tab looks
    // again only once the link tab is at the app (see holdStatusLooks)
    const linkTabDone = await holdStatusLooks(waiting);
    const linkTab = await tab(context);
    await linkTab.goto(link);
    const callback = await waitForApp(linkTab);
    linkTabDone();
    await shoot(linkTab, name, 'link tab at the app callback');
    expect(new URL(callback).searchParams.get('iss')).to.equal(server.issuer);
    const tokens = await exchangeCode(config, start, callback);
    expect(tokens.access_token).to.be.a('string');
    expect(tokens.claims()?.amr).to.deep.equal(['email']);

    const status = await waitForText(waiting, '#login-status', /in another tab/, 15_000);
    expect(status).to.equal('You signed in to Test App in another tab. You can close this one.');
    await shoot(waiting, name, 'waiting tab says signed in elsewhere');
  });

  it('signs in as another account in a browser that already has a session, the link in the same tab or in a new one', async () => {
    const name = 'another account';
    const context = await device();
    const page = await tab(context);
    const subs: string[] = [];
    for (const [i, email] of [nextEmail('first'), nextEmail('second'), nextEmail('third')].entries()) {
      const start = await startAuthorization(config, i === 0 ? {} : { prompt: 'login' });
      await page.goto(start.url.toString());
      await page.locator('input#email').fill(email);
      await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
      await page.locator('#match-number').waitFor({ state: 'attached' });
      const { link } = loginDetails(await server.smtp.waitFor(email));
      // the third opens the link in a new tab while the first tab waits
      const linkTabDone = i === 2 ? await holdStatusLooks(page) : () => {};
      const linkTab = i === 2 ? await tab(context) : page;
      await linkTab.goto(link);
      const callback = await waitForApp(linkTab);
      linkTabDone();
      subs.push((await exchangeCode(config, start, callback)).claims()!.sub);
      if (i === 2) await waitForText(page, '#login-status', /in another tab/, 15_000);
    }
    await shoot(page, name, 'waiting tab after the third account signed in elsewhere');
    expect(new Set(subs).size, 'three accounts').to.equal(3);
  });

  it('another device: the phone picks the number shown on the computer, and the computer continues to the app by itself', async () => {
    const name = 'cross device approve';
    const email = nextEmail('cross');
    const computer = await tab(await device());
    const { start, matchNumber } = await askForLink(computer, name, email);
    const { link } = loginDetails(await server.smtp.waitFor(email));

    const phoneContext = await device(PHONE);
    const phone = await tab(phoneContext);
    const shown = await phone.goto(link);
    expect(shown?.status()).to.equal(200);
    expect(await heading(phone)).to.equal('Is this you signing in?');
    const details = await phone.locator('dl.details').innerText();
    expect(details).to.include('Test App').and.include('Chrome on Linux').and.include('127.0.0.1').and.include('UTC');
    expect(await phone.locator('button.choice, [name=choice]').count(), 'the number is typed, never offered').to.equal(0);
    expect(await phone.locator('button.danger').innerText()).to.equal("This wasn't me");
    await expectNoHorizontalScroll(phone, 'the approval page on a phone');
    await shoot(phone, name, 'phone asks is this you');

    // a blind press of the button changes nothing
    await phone.locator('form.number-form button[type=submit]').tap();
    expect(await phone.locator('#number').evaluate((input: HTMLInputElement) => input.validity.valueMissing)).to.equal(true);
    await phone.locator('#number').fill(matchNumber);
    await shoot(phone, name, 'phone with the number typed');
    await phone.locator('form.number-form button[type=submit]').tap();
    await waitForText(phone, 'h1', /^Sign-in approved$/);
    await expectNoHorizontalScroll(phone, 'the approved page on a phone');
    await shoot(phone, name, 'phone says approved');

    // the computer polls and continues without a click
    const callback = await waitForApp(computer);
    await shoot(computer, name, 'computer at the app callback');
    const tokens = await exchangeCode(config, start, callback);
    expect(tokens.claims()?.sub).to.be.a('string');

    // the phone approved but is not signed in itself
    const phoneCookies = await phoneContext.cookies();
    expect(phoneCookies.map((c) => c.name).filter((n) => n.startsWith('_session'))).to.deep.equal([]);
  });

  it('the page that asks for the number, in German on a phone, with a wrong number typed', async () => {
    const name = 'cross device german';
    const email = nextEmail('german');
    const computer = await tab(await device());
    const { matchNumber } = await askForLink(computer, name, email);
    const { link } = loginDetails(await server.smtp.waitFor(email));
    const phone = await tab(await device({ ...PHONE, locale: 'de-DE' }));
    await phone.goto(link);
    expect(await heading(phone)).to.equal('Melden Sie sich gerade an?');
    await expectNoHorizontalScroll(phone, 'the German approval page on a phone');
    await shoot(phone, name, 'phone asks in german');
    await phone.locator('#number').fill(matchNumber === '99' ? '10' : String(Number(matchNumber) + 1));
    await phone.locator('form.number-form button[type=submit]').tap();
    await waitForText(phone, '#number-error', /Verbleibende Versuche: 2/);
    await shoot(phone, name, 'phone says wrong number in german');
  });

  it('another device: a wrong number stops the sign-in, the computer says it was refused and the link is dead', async () => {
    const name = 'cross device wrong number';
    const email = nextEmail('mismatch');
    const computer = await tab(await device());
    const { matchNumber } = await askForLink(computer, name, email);
    const { link, code } = loginDetails(await server.smtp.waitFor(email));
    // the code form, for a request built by hand once the page no longer shows it
    const codeForm = await computer.evaluate(() => {
      const form = document.querySelector('form.code-form') as HTMLFormElement;
      return { action: form.action, csrf: (form.elements.namedItem('csrf') as HTMLInputElement).value };
    });

    const phone = await tab(await device(PHONE));
    await phone.goto(link);
    await shoot(phone, name, 'phone asks is this you');
    const wrong = matchNumber === '99' ? '10' : String(Number(matchNumber) + 1);
    for (const left of [2, 1]) {
      await phone.locator('#number').fill(wrong);
      await phone.locator('form.number-form button[type=submit]').tap();
      await waitForText(phone, '#number-error', left === 1 ? /1 try left/ : new RegExp(`Tries left: ${left}`));
    }
    await shoot(phone, name, 'phone says wrong number');
    await phone.locator('#number').fill(wrong);
    await phone.locator('form.number-form button[type=submit]').tap();
    await waitForText(phone, 'h1', /^The numbers did not match$/);
    expect(await phone.locator('main').innerText()).to.include('this sign-in was stopped');
    await shoot(phone, name, 'phone says numbers did not match');

    const status = await waitForText(computer, '#login-status', /refused|stopped/i, 15_000);
    expect(status).to.not.include('Waiting');
    await shoot(computer, name, 'computer says refused');
    expect(computer.url()).to.not.match(/^http:\/\/127\.0\.0\.1:9/);

    // neither the link nor the code works any more
    const again = await phone.goto(link);
    expect(again?.status()).to.equal(410);
    expect(await phone.locator('main').innerText()).to.match(/no longer works/);
    await shoot(phone, name, 'phone opens the link again');
    // the waiting tab no longer offers the code or "continue"; a new email remains
    expect(await computer.locator('input#code').isVisible()).to.equal(false);
    expect(await computer.getByRole('link', { name: 'I approved it, continue' }).isVisible()).to.equal(false);
    expect(await computer.getByRole('button', { name: 'Send a new email' }).isVisible()).to.equal(true);
    // and the code is dead on the server too (a request built by hand)
    const codeAnswer = await computer.evaluate(async ({ form, value }) => {
      const body = new URLSearchParams({ csrf: form.csrf, code: value });
      const res = await fetch(form.action, { method: 'POST', body, redirect: 'follow' });
      return { url: res.url, text: await res.text() };
    }, { form: codeForm, value: code });
    expect(codeAnswer.url).to.not.match(/^http:\/\/127\.0\.0\.1:9/);
    expect(codeAnswer.text).to.match(/was stopped/);
    await shoot(computer, name, 'computer no longer offers the code');
  });

  it('another device: "This wasn\'t me" stops the sign-in and the computer says it was refused', async () => {
    const name = 'cross device deny';
    const email = nextEmail('deny');
    const computer = await tab(await device());
    await askForLink(computer, name, email);
    const { link } = loginDetails(await server.smtp.waitFor(email));

    const phone = await tab(await device(PHONE));
    await phone.goto(link);
    await shoot(phone, name, 'phone asks is this you');
    await phone.getByRole('button', { name: "This wasn't me" }).tap();
    await waitForText(phone, 'h1', /^Sign-in stopped$/);
    expect(await phone.locator('main').innerText()).to.include('Nobody was signed in');
    await shoot(phone, name, 'phone says stopped');

    const status = await waitForText(computer, '#login-status', /stopped/, 15_000);
    expect(status).to.include("This wasn't me").and.include('this sign-in was stopped');
    await shoot(computer, name, 'computer says stopped');
  });

  it('the code: a wrong one is marked on the field with the tries left, the right one goes to the app', async () => {
    const name = 'code entry';
    const email = nextEmail('code');
    const page = await tab(await device());
    const { start } = await askForLink(page, name, email);
    const { code } = loginDetails(await server.smtp.waitFor(email));
    const wrong = code === '000000' ? '111111' : '000000';

    await page.locator('input#code').fill(wrong);
    await page.getByRole('button', { name: 'Sign in with code' }).click();
    const error = await waitForText(page, '#code-error', /tries left/);
    expect(error).to.equal('That code is not right. 4 tries left.');
    expect(await page.locator('#code-error').getAttribute('role')).to.equal('alert');
    const field = page.locator('input#code');
    expect(await field.getAttribute('aria-invalid')).to.equal('true');
    expect(await field.getAttribute('aria-describedby')).to.equal('code-error');
    expect(await page.locator('#code-error').isVisible()).to.equal(true);
    // (the page announces the error with role="alert" but leaves the focus on <body>, not on the field)
    await shoot(page, name, 'wrong code');

    await field.fill(code);
    await page.getByRole('button', { name: 'Sign in with code' }).click();
    const callback = await waitForApp(page);
    await shoot(page, name, 'app callback');
    const tokens = await exchangeCode(config, start, callback);
    expect(tokens.access_token).to.be.a('string');
  });

  it('resend: the button waits out the cooldown with a countdown, then sends a new email that replaces the first', async () => {
    const name = 'resend cooldown';
    const limited = await startTestServer('sqlite', { RATE_LIMIT_EMAIL: '3/900', RATE_LIMIT_EMAIL_INTERVAL_SECONDS: '5' });
    try {
      const limitedConfig = await discover(limited.issuer, await registerClient(limited.sesame, { isPublic: true, firstParty: true }));
      const email = nextEmail('resend');
      const context = await device();
      const page = await tab(context);
      const start = await startAuthorization(limitedConfig);
      await page.goto(start.url.toString());
      await shoot(page, name, 'email form');
      await page.locator('input#email').fill(email);
      await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
      await page.locator('#match-number').waitFor({ state: 'attached' });
      const first = loginDetails(await limited.smtp.waitFor(email));

      const resend = page.locator('#resend');
      expect(await resend.isDisabled()).to.equal(true);
      const countdown = await waitForText(page, '#resend-wait', /^You can ask for a new email in \d s\.$/);
      const startedAt = Number(/(\d) s/.exec(countdown)![1]);
      expect(startedAt).to.be.within(1, 5);
      await shoot(page, name, 'resend disabled with countdown');
      if (startedAt > 1) {
        // it counts down
        await waitForText(page, '#resend-wait', new RegExp(`in [1-${startedAt - 1}] s`), 5_000);
        expect(await resend.isDisabled()).to.equal(true);
        await shoot(page, name, 'countdown running');
      }
      await page.waitForFunction(() => !(document.getElementById('resend') as HTMLButtonElement).disabled, null, { timeout: 10_000 });
      expect(await page.locator('#resend-wait').innerText()).to.equal('');
      await shoot(page, name, 'resend enabled');

      await resend.click();
      await page.locator('#resend-wait').filter({ hasText: /You can ask/ }).waitFor();
      expect(await heading(page)).to.equal('Check your email');
      expect(await page.locator('#code-error').count(), 'the resend was refused').to.equal(0);
      expect(await resend.isDisabled()).to.equal(true);
      await shoot(page, name, 'after resend');
      const second = loginDetails(await limited.smtp.waitFor(email));
      expect(second.link).to.not.equal(first.link);

      const oldLink = await tab(context);
      const response = await oldLink.goto(first.link);
      expect(response?.status()).to.equal(410);
      expect(await oldLink.locator('main').innerText()).to.include('no longer works');
      await shoot(oldLink, name, 'first link no longer works');

      const newLink = await tab(context);
      await newLink.goto(second.link);
      const callback = await waitForApp(newLink);
      await shoot(newLink, name, 'second link at the app callback');
      await exchangeCode(limitedConfig, start, callback);
    } finally {
      await devices.closeAll();
      await limited.close();
    }
  });

  it('an expired link says so and how to go on; the waiting tab offers a new email', async () => {
    const name = 'expired link';
    const email = nextEmail('expired');
    const context = await device();
    const waiting = await tab(context);
    await askForLink(waiting, name, email);
    const { link } = loginDetails(await server.smtp.waitFor(email));
    await server.sesame.db('login_requests').where({ email }).update({ expires_at: Date.now() - 1000 });

    const linkTab = await tab(context);
    const response = await linkTab.goto(link);
    expect(response?.status()).to.equal(410);
    const text = await linkTab.locator('main').innerText();
    // this browser's sign-in is still open: a new link from here, not "start again"
    expect(text).to.include('This sign-in link has expired.').and.include('Send a new link').and.not.include('start again');
    await shoot(linkTab, name, 'link says expired');

    await waiting.locator('#wait[data-state="expired"]').waitFor({ timeout: 15_000 });
    expect(await heading(waiting)).to.equal('This sign-in email has expired');
    await shoot(waiting, name, 'waiting tab says expired');
    // the way forward from the waiting tab, also after a reload: a new email, or another address (kept in the form)
    expect(await waiting.getByRole('link', { name: 'I approved it, continue' }).isVisible()).to.equal(false);
    await waiting.reload();
    expect(await waiting.getByRole('button', { name: 'Send a new email', exact: true }).isVisible()).to.equal(true);
    await waiting.getByRole('link', { name: 'Use a different email address' }).click();
    await waiting.locator('input#email').waitFor();
    expect(await waiting.locator('input#email').inputValue()).to.equal(email);
    await shoot(waiting, name, 'email form for another address');
  });

  it('on a phone (390×844) the email form and the check-email page fit the screen with the main button in view', async () => {
    const name = 'phone layout';
    const email = nextEmail('phone');
    const page = await tab(await device(PHONE));
    const start = await startAuthorization(config);
    await page.goto(start.url.toString());
    await page.locator('input#email').waitFor();
    await expectNoHorizontalScroll(page, 'the email form');
    await expectFullyVisible(page, 'form button[type=submit]', 'the "Email me a sign-in link" button');
    await shoot(page, name, 'email form');

    await page.locator('input#email').fill(email);
    await page.locator('form button[type=submit]').tap();
    await page.locator('#match-number').waitFor({ state: 'attached' });
    await expectNoHorizontalScroll(page, 'the check-email page');
    await expectFullyVisible(page, 'form.code-form button[type=submit]', 'the "Sign in with code" button');
    // the number for another device is folded away until asked for
    await page.locator('summary').tap();
    await expectFullyVisible(page, '#match-number', 'the match number');
    await shoot(page, name, 'check your email');
    await server.smtp.waitFor(email);
  });

  it('keyboard only: address, submit, code and Enter reach the app, in a sensible focus order', async () => {
    const name = 'keyboard only';
    const email = nextEmail('keyboard');
    const page = await tab(await device());
    const start = await startAuthorization(config);
    await page.goto(start.url.toString());
    await page.locator('input#email').waitFor();
    await shoot(page, name, 'email form');

    // the address field has the focus from the start
    expect(await activeElement(page)).to.include({ tag: 'input', id: 'email' });
    await page.keyboard.type(email);
    await page.keyboard.press('Tab');
    expect(await activeElement(page)).to.include({ tag: 'button', type: 'submit', text: 'Email me a sign-in link' });
    await shoot(page, name, 'submit button focused');
    await page.keyboard.press('Enter');
    await page.locator('#match-number').waitFor({ state: 'attached' });
    await shoot(page, name, 'check your email');

    // the code field comes first: autofocused, and the first stop from the top of the page
    expect(await activeElement(page)).to.include({ tag: 'input', id: 'code', name: 'code' });
    await page.keyboard.press('Shift+Tab');
    expect(await activeElement(page), 'nothing focusable comes before the code field').to.include({ tag: 'body' });
    await page.keyboard.press('Tab');
    expect(await activeElement(page), 'first Tab stop of the page').to.include({ id: 'code' });

    // the whole tab order of the page
    const order: string[] = [];
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      const el = await activeElement(page);
      order.push(el.id || el.name || el.text);
    }
    expect(order).to.deep.equal(['Sign in with code', 'Opening the email on another device?', 'resend', 'Use a different email address', 'Cancel and go back to Test App']);

    // back to the code field, type the code and press Enter
    for (let i = 0; i < 5; i++) await page.keyboard.press('Shift+Tab');
    expect(await activeElement(page)).to.include({ id: 'code' });
    const { code } = loginDetails(await server.smtp.waitFor(email));
    await page.keyboard.type(code);
    await shoot(page, name, 'code typed');
    await page.keyboard.press('Enter');
    const callback = await waitForApp(page);
    await shoot(page, name, 'app callback');
    await exchangeCode(config, start, callback);
  });
});
