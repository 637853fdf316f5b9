import { expect } from 'chai';
import type { BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { DESKTOP, PHONE, shoot, withDevices } from '../support/chromium.js';
import { DB_KINDS } from '../support/databases.js';
import { client, discover, exchangeCode, expectOAuthError, REDIRECT_URI, registerClient, startAuthorization } from '../support/relying-party.js';
import { loginDetails, type ReceivedMail } from '../support/smtp-sink.js';
import { withServer } from '../support/test-server.js';

const APP_ORIGIN = new URL(REDIRECT_URI).origin;

/** The texts the test presses and reads, per language. */
const TEXT = {
  en: {
    emailMe: 'Email me a sign-in link', account: 'Your account', allow: 'Allow', disconnect: 'Disconnect', disconnected: /app was disconnected/,
    signOut: 'Sign out', everywhere: 'Sign out everywhere', signedOutEverywhere: 'You are signed out everywhere', thisBrowser: 'This browser', ended: /browser was signed out/,
    changeAddress: 'Change your email address', sendLink: 'Send a confirmation link', sent: /We sent a link to/, confirmAddress: 'Confirm the new address', addressChanged: 'Email address changed',
    deleteAccount: 'Delete my account…', deletionSent: /within an hour/, confirmDelete: 'Delete my account', deleted: 'Your account was deleted', noApps: 'No apps are connected',
  },
  de: {
    emailMe: 'Anmeldelink per E-Mail senden', account: 'Ihr Konto', allow: 'Erlauben', disconnect: 'Trennen', disconnected: /App wurde getrennt/,
    signOut: 'Abmelden', everywhere: 'Überall abmelden', signedOutEverywhere: 'Sie sind überall abgemeldet', thisBrowser: 'Dieser Browser', ended: /Browser wurde abgemeldet/,
    changeAddress: 'E-Mail-Adresse ändern', sendLink: 'Bestätigungslink senden', sent: /Wir haben einen Link an/, confirmAddress: 'Neue Adresse bestätigen', addressChanged: 'E-Mail-Adresse geändert',
    deleteAccount: 'Mein Konto löschen …', deletionSent: /innerhalb einer Stunde/, confirmDelete: 'Mein Konto löschen', deleted: 'Ihr Konto wurde gelöscht', noApps: 'keine Apps verbunden',
  },
} as const;

const VIEWS = [
  { label: 'desktop, English', options: DESKTOP, lang: 'en' as const },
  { label: 'phone, German', options: { ...PHONE, locale: 'de-DE' }, lang: 'de' as const },
];

const linkIn = (mail: ReceivedMail, path: string) => {
  const found = new RegExp(`https?://\\S+${path.replace(/\//g, '\\/')}\\?token=[A-Za-z0-9_.%-]+`).exec(mail.parsed.text ?? '')?.[0];
  if (!found) throw new Error(`no ${path} link in:\n${mail.parsed.text}`);
  return found;
};

for (const kind of DB_KINDS) {
  describe(`the account page in a real browser (Chromium, ${kind})`, function () {
    this.timeout(90_000);

    let app: client.Configuration;
    let appClientId: string;
    let counter = 0;
    const devices = withDevices(APP_ORIGIN);
    const server = withServer(kind);

    before(async () => {
      const registered = await registerClient(server.sesame, { name: 'Photo Album' });
      appClientId = registered.clientId;
      app = await discover(server.issuer, registered);
    });

    const nextEmail = (label: string) => `${label}-${kind}-${++counter}@example.com`;

    async function device(options: BrowserContextOptions): Promise<Page> {
      return (await devices.open(options)).newPage();
    }

    const heading = (page: Page) => page.locator('h1').first().innerText();
    const db = () => server.sesame.db;

    async function expectNoHorizontalScroll(page: Page, what: string) {
      const sizes = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
      expect(sizes.scrollWidth, `${what}: page is wider than the screen`).to.be.at.most(sizes.innerWidth);
    }

    /** Opens /account; without a session it goes through the emailed sign-in (the link opened in this browser). */
    async function openAccount(page: Page, email: string, lang: 'en' | 'de', shots?: string): Promise<void> {
      await page.goto(`${server.issuer}/account`);
      if (await page.locator('input#email').count()) {
        if (shots) await shoot(page, shots, 'account sign-in asks for the address');
        await page.locator('input#email').fill(email);
        await page.getByRole('button', { name: TEXT[lang].emailMe }).click();
        await page.locator('#match-number').waitFor({ state: 'attached' });
        const { link } = loginDetails(await server.smtp.waitFor(email));
        await page.goto(link);
      }
      await page.waitForURL(`${server.issuer}/account`);
      expect(await heading(page)).to.equal(TEXT[lang].account);
    }

    /** The app asks for the account; the person signs in (or is signed in already) and allows it on the consent page. */
    async function connectApp(page: Page, email: string, lang: 'en' | 'de') {
      const start = await startAuthorization(app);
      await page.goto(start.url.toString());
      if (await page.locator('input#email').count()) {
        await page.locator('input#email').fill(email);
        await page.getByRole('button', { name: TEXT[lang].emailMe }).click();
        await page.locator('#match-number').waitFor({ state: 'attached' });
        const { link } = loginDetails(await server.smtp.waitFor(email));
        await page.goto(link);
      }
      await page.getByRole('button', { name: TEXT[lang].allow, exact: true }).click();
      await page.waitForURL((url) => url.href.startsWith(`${REDIRECT_URI}?`));
      return exchangeCode(app, start, page.url());
    }

    for (const { label, options, lang } of VIEWS) {
      const words = TEXT[lang];

      it(`${label}: disconnecting an app revokes its grant and tokens and forgets the consent (audited)`, async () => {
        const name = `account ${kind} ${label} disconnect`;
        const email = nextEmail('disconnect');
        const page = await device(options);
        const tokens = await connectApp(page, email, lang);
        expect(tokens.refresh_token).to.be.a('string');

        // the session the app's sign-in made opens the account page without a new email
        await openAccount(page, email, lang);
        const apps = page.locator('#apps');
        expect(await apps.innerText()).to.include('Photo Album');
        expect(await page.locator('#sessions').innerText()).to.include(words.thisBrowser);
        expect(await page.locator('#address').innerText()).to.include(email);
        await expectNoHorizontalScroll(page, 'the account page');
        await shoot(page, name, 'account page with an app');

        const before = await db()('oidc_payloads').where({ type: 'Grant' }).select('id', 'payload');
        const grantIds = before.filter((g) => JSON.parse(g.payload).clientId === appClientId && JSON.parse(g.payload).accountId === (tokens.claims()?.sub)).map((g) => g.id);
        expect(grantIds).to.have.length(1);
        expect(await db()('oidc_payloads').whereIn('grant_id', grantIds), 'the tokens the grant issued').to.have.length.greaterThan(0);
        await apps.getByRole('button', { name: words.disconnect }).click();
        await page.locator('#apps .notice').waitFor();
        expect(await page.locator('#apps .notice').innerText()).to.match(words.disconnected);
        expect(await apps.innerText()).to.include(words.noApps);
        await shoot(page, name, 'app disconnected');

        // the refresh token is dead, the consent forgotten: the app asks again
        await expectOAuthError(client.refreshTokenGrant(app, tokens.refresh_token!), 'invalid_grant');
        const account = await server.sesame.accounts.get(email);
        expect(await db()('consents').where({ account_id: account.id })).to.deep.equal([]);
        const grants = await db()('oidc_payloads').where({ account_id: account.id, type: 'Grant' }).select('payload');
        expect(grants.map((g) => JSON.parse(g.payload).clientId)).not.to.include(appClientId);
        expect(await db()('oidc_payloads').whereIn('grant_id', grantIds), 'the tokens the grant issued').to.deep.equal([]);
        await server.sesame.audit.flush();
        const events = await server.sesame.audit.query({ accountId: account.id, type: 'account.app_disconnected' });
        expect(events.map((e) => e.clientId)).to.deep.equal([appClientId]);

        const again = await startAuthorization(app);
        await page.goto(again.url.toString());
        await page.getByRole('button', { name: words.allow, exact: true }).waitFor();
        await shoot(page, name, 'the app asks for consent again');
      });

      it(`${label}: signs out another browser, then everywhere`, async () => {
        const name = `account ${kind} ${label} sessions`;
        const email = nextEmail('sessions');
        const laptop = await device(options);
        await openAccount(laptop, email, lang, name);
        // the other browser: a phone when this one is a desktop, and the other way round
        const other = await device(options === DESKTOP ? PHONE : DESKTOP);
        await openAccount(other, email, 'en');

        await laptop.reload();
        const sessions = laptop.locator('#sessions li');
        expect(await sessions.count()).to.equal(2);
        // each named by the browser it signed in from, in the page's language
        const on = lang === 'de' ? 'auf' : 'on';
        expect(await laptop.locator('#sessions').innerText()).to.include(`Safari ${on} iPhone`).and.include(`Chrome ${on} Linux`);
        await expectNoHorizontalScroll(laptop, 'the account page with two sessions');
        await shoot(laptop, name, 'two sessions');
        // the other browser's session: the one not marked as this one
        await sessions.filter({ hasNot: laptop.locator('.badge') }).locator('button').click();
        await laptop.locator('#sessions .notice').waitFor();
        expect(await laptop.locator('#sessions .notice').innerText()).to.match(words.ended);
        expect(await sessions.count()).to.equal(1);
        await shoot(laptop, name, 'other browser signed out');

        // the other browser is sent to sign in again
        await other.goto(`${server.issuer}/account`);
        await other.locator('input#email').waitFor();

        await laptop.getByRole('button', { name: words.everywhere }).click();
        await laptop.waitForURL(`${server.issuer}/account/signed-out?everywhere=1`);
        expect(await heading(laptop)).to.equal(words.signedOutEverywhere);
        await shoot(laptop, name, 'signed out everywhere');
        const account = await server.sesame.accounts.get(email);
        expect(await db()('oidc_payloads').where({ account_id: account.id, type: 'Session' })).to.deep.equal([]);
        await server.sesame.audit.flush();
        expect(await server.sesame.audit.query({ accountId: account.id, type: 'account.signed_out' })).to.have.length(2);
        await laptop.goto(`${server.issuer}/account`);
        await laptop.locator('input#email').waitFor();
      });

      it(`${label}: changes the address through the link sent to the new one`, async () => {
        const name = `account ${kind} ${label} address`;
        const email = nextEmail('address');
        const newEmail = nextEmail('renamed');
        const page = await device(options);
        await openAccount(page, email, lang);
        await page.getByText(words.changeAddress).click();
        await page.locator('#new-email').fill(newEmail);
        await shoot(page, name, 'new address typed');
        await page.getByRole('button', { name: words.sendLink }).click();
        await page.locator('#address .notice').waitFor();
        expect(await page.locator('#address .notice').innerText()).to.match(words.sent).and.include(newEmail);
        await shoot(page, name, 'link sent to the new address');

        const link = linkIn(await server.smtp.waitFor(newEmail), '/account/email/confirm');
        await page.goto(link);
        await page.getByRole('button', { name: words.confirmAddress }).click();
        expect(await heading(page)).to.equal(words.addressChanged);
        await shoot(page, name, 'address changed');
        expect((await server.sesame.accounts.get(newEmail)).email).to.equal(newEmail);
      });

      it(`${label}: deletes the account once the emailed link is confirmed`, async () => {
        const name = `account ${kind} ${label} delete`;
        const email = nextEmail('delete');
        const page = await device(options);
        const tokens = await connectApp(page, email, lang);
        await openAccount(page, email, lang);
        const account = await server.sesame.accounts.get(email);

        await page.getByRole('button', { name: words.deleteAccount }).click();
        await page.locator('#delete .notice').waitFor();
        expect(await page.locator('#delete .notice').innerText()).to.match(words.deletionSent).and.include(email);
        await shoot(page, name, 'deletion link sent');
        const mail = await server.smtp.waitFor(email);
        const link = linkIn(mail, '/account/delete/confirm');
        // the HTML part carries the same link
        expect(mail.parsed.html).to.include(link.replace(/&/g, '&amp;').split('?')[0]);

        // opening the link changes nothing; the button on its page deletes
        await page.goto(link);
        expect(await server.sesame.accounts.findById(account.id)).not.to.equal(undefined);
        await expectNoHorizontalScroll(page, 'the deletion page');
        await shoot(page, name, 'confirm deletion');
        await page.getByRole('button', { name: words.confirmDelete, exact: true }).click();
        expect(await heading(page)).to.equal(words.deleted);
        await shoot(page, name, 'account deleted');

        expect(await server.sesame.accounts.findById(account.id)).to.equal(undefined);
        expect(await db()('oidc_payloads').where({ account_id: account.id })).to.deep.equal([]);
        await expectOAuthError(client.refreshTokenGrant(app, tokens.refresh_token!), 'invalid_grant');
        await server.sesame.audit.flush();
        expect(await server.sesame.audit.query({ accountId: account.id, type: 'account.deleted' })).to.have.length(1);

        // the link is spent: the account it names is gone
        await page.goto(link);
        expect(await heading(page)).to.equal(words.deleted);
        expect(await page.locator('main').innerText()).to.match(lang === 'de' ? /bereits verwendet/ : /already used/);
        expect(await page.locator('main a').count(), 'no way back into an account that is gone').to.equal(0);
        await shoot(page, name, 'link used again');
      });
    }

    it('the sign-in email, as it arrived through the outbox: both parts carry the same link and code; its HTML in English on a desktop and German on a phone', async () => {
      for (const { label, options, lang } of VIEWS) {
        const name = `sign-in email ${kind} ${label}`;
        const email = nextEmail('mail');
        const page = await device(options);
        await page.goto(`${server.issuer}/account`);
        await page.locator('input#email').fill(email);
        await page.getByRole('button', { name: TEXT[lang].emailMe }).click();
        await page.locator('#match-number').waitFor({ state: 'attached' });
        const mail = await server.smtp.waitFor(email);
        const { link, code } = loginDetails(mail);
        const html = mail.parsed.html as string;
        const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map(([, href]) => href.replace(/&amp;/g, '&').replace(/&#x3D;/g, '='));
        expect(hrefs).to.deep.equal([link, link]);

        const mailView = await device(options);
        await mailView.setContent(html);
        const shown = await mailView.locator('body').innerText();
        expect(shown).to.include(link).and.include(code).and.include('Sesame');
        expect(shown.match(/\b\d{6}\b/g)).to.deep.equal([code]);
        expect(await mailView.getByRole('link', { name: lang === 'de' ? 'Anmelden' : 'Sign in', exact: true }).getAttribute('href')).to.equal(link);
        await expectNoHorizontalScroll(mailView, 'the sign-in email');
        await shoot(mailView, name, 'html part');
      }
    });

    // looks only, so once (SQLite): the storage is covered by the tests above on both databases
    if (kind === 'sqlite') it('the page in the other two combinations (desktop German, phone English), with an app and two browsers', async function () {
      for (const { label, options, lang } of [
        { label: 'desktop, German', options: { ...DESKTOP, locale: 'de-DE' }, lang: 'de' as const },
        { label: 'phone, English', options: PHONE, lang: 'en' as const },
      ]) {
        const email = nextEmail('looks');
        const page = await device(options);
        await connectApp(page, email, lang);
        await openAccount(await device(options === PHONE ? DESKTOP : PHONE), email, 'en');
        await openAccount(page, email, lang);
        expect(await page.locator('#sessions li').count()).to.equal(2);
        expect(await page.locator('#apps').innerText()).to.include('Photo Album');
        await expectNoHorizontalScroll(page, `the account page (${label})`);
        await shoot(page, `account ${kind} ${label} overview`, 'account page');
      }
    });
  });
}
