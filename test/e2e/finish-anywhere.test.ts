import { expect } from 'chai';
import { Messages } from '../../src/shared/i18n.js';
import { localesDir } from '../../src/shared/paths.js';
import { Browser, findForm, type Page } from '../support/browser.js';
import { DB_KINDS } from '../support/databases.js';
import { client, discover, exchangeCode, REDIRECT_URI, registerClient, startAuthorization, type AuthorizationStart } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const messages = new Messages(localesDir);

for (const kind of DB_KINDS) {
  describe(`finishing the sign-in anywhere (${kind})`, function () {
    this.timeout(30_000);
    let server: TestServer;
    let config: client.Configuration;
    let n = 0;

    before(async () => {
      server = await startTestServer(kind, { RATE_LIMIT_EMAIL: '5/900', RATE_LIMIT_EMAIL_INTERVAL_SECONDS: '60' });
      config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
    });
    after(() => server?.close());

    interface Asked { browser: Browser; start: AuthorizationStart; checkEmail: Page; email: string; link: string; code: string; matchNumber: number; uidUrl: string }

    async function ask(extra: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Asked> {
      const email = `anywhere${++n}@example.com`;
      const browser = new Browser(server.issuer);
      Object.assign(browser.headers, headers);
      const start = await startAuthorization(config, extra);
      const form = await browser.get(start.url.toString());
      const checkEmail = await browser.submit(form, /\/email$/, { email });
      const matchNumber = Number(/id="match-number">(\d+)</.exec(checkEmail.body)?.[1]);
      expect(matchNumber).to.be.within(10, 99);
      return { browser, start, checkEmail, email, matchNumber, uidUrl: checkEmail.url, ...loginDetails(await server.smtp.waitFor(email)) };
    }

    const statusOf = async (asked: Asked) => JSON.parse((await asked.browser.get(`${asked.uidUrl}/status`, { accept: 'application/json' })).body).status as string;
    const typeNumber = (phone: Browser, page: Page, number: string | undefined) =>
      phone.request('/login/verify', { form: { ...findForm(page.body, '/login/verify').fields, ...(number === undefined ? {} : { number }) } });

    it('approves from another device with the number shown on the original tab, typed; the original tab then finishes, the phone gets no session', async () => {
      const asked = await ask();
      const phone = new Browser(server.issuer, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1');
      const page = await phone.get(asked.link);
      expect(page.body).to.include('Is this you signing in?').and.include('Test App').and.include('Chrome on Linux').and.include('127.0.0.1');
      // nothing to pick: no button carries a number, and the page never shows it
      expect(page.body).to.include('name="number"').and.not.include('name="choice"');
      expect(page.body).to.not.match(new RegExp(`>\\s*${asked.matchNumber}\\s*<`));

      const approved = await typeNumber(phone, page, ` ${asked.matchNumber} `);
      expect(approved.status).to.equal(200);
      expect(approved.body).to.include('Sign-in approved');
      const phoneCookies = await phone.jar.getCookies(server.issuer);
      expect(phoneCookies.map((c) => c.key)).not.to.include('_session');
      expect(await statusOf(asked)).to.equal('approved');

      // what the polling tab does next
      const done = await asked.browser.get(asked.uidUrl);
      expect(done.location).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
      const tokens = await exchangeCode(config, asked.start, done.location!);
      expect(tokens.claims()!.amr).to.deep.equal(['email']);
      expect((await phone.get(asked.link)).status).to.equal(410);
    });

    it('a scanner submitting the form empty changes nothing: the person\'s own sign-in still works', async () => {
      const asked = await ask();
      const scanner = new Browser(server.issuer, 'Mozilla/5.0 (compatible; MailScanner)');
      const page = await scanner.get(asked.link);
      for (const number of [undefined, '', '  ', 'abc']) {
        const submitted = await typeNumber(scanner, page, number);
        expect(submitted.status, JSON.stringify(number)).to.equal(400);
        expect(submitted.body).to.include('Type the number shown').and.include('name="number"');
      }
      expect(await statusOf(asked)).to.equal('pending');
      const row = await server.sesame.db('login_requests').where({ interaction_uid: asked.uidUrl.split('/').pop() }).first();
      expect(Number(row.match_attempts), 'nothing counted').to.equal(0);
      const done = await asked.browser.submit(await asked.browser.get(asked.link), '/login/verify');
      expect(done.location).to.match(/code=/);
    });

    it('wrong numbers count against a small budget; then the request stops, the original tab is told, and further emails to the address slow down', async () => {
      const asked = await ask();
      const phone = new Browser(server.issuer);
      const page = await phone.get(asked.link);
      const wrong = String(asked.matchNumber === 99 ? 10 : asked.matchNumber + 1);
      const first = await typeNumber(phone, page, wrong);
      expect(first.status).to.equal(403);
      expect(first.body).to.include('That is not the number').and.include('Tries left: 2').and.include('name="number"');
      expect(await statusOf(asked)).to.equal('pending');
      expect((await typeNumber(phone, page, wrong)).body).to.include('1 try left');
      const refused = await typeNumber(phone, page, wrong);
      expect(refused.status).to.equal(403);
      expect(refused.body).to.include('The numbers did not match');
      expect(await statusOf(asked)).to.equal('denied');
      const back = await asked.browser.get(asked.uidUrl);
      expect(back.body).to.include('The numbers did not match').and.include('was stopped').and.include('Send a new email');
      expect((await phone.get(asked.link)).status).to.equal(410);
      expect((await typeNumber(phone, page, String(asked.matchNumber))).status, 'the right number is too late now').to.equal(410);
      // and the code died with it
      const code = await asked.browser.submit(asked.checkEmail, /\/code$/, { code: asked.code });
      expect(code.body).to.include('was stopped').and.not.include('name="code"');
      expect(code.location).to.equal(undefined);

      // one more email to the address in this window, from any browser; a second one waits
      const again = async () => {
        const browser = new Browser(server.issuer);
        const form = await browser.get((await startAuthorization(config)).url.toString());
        return browser.submit(form, /\/email$/, { email: asked.email });
      };
      expect((await again()).body).to.include('Check your email');
      const slowed = await again();
      expect(slowed.status).to.equal(429);
      expect(slowed.body).to.include('Try again in');
    });

    it('a new request for the address from another browser leaves the pending one alone', async () => {
      const asked = await ask();
      const stranger = new Browser(server.issuer);
      const form = await stranger.get((await startAuthorization(config)).url.toString());
      expect((await stranger.submit(form, /\/email$/, { email: asked.email })).body).to.include('Check your email');
      expect(await statusOf(asked)).to.equal('pending');
      const done = await asked.browser.submit(await asked.browser.get(asked.link), '/login/verify');
      expect(done.location).to.match(/code=/);
    });

    it('"This wasn\'t me" stops the request; the code and the link no longer work', async () => {
      const asked = await ask();
      const phone = new Browser(server.issuer);
      const page = await phone.get(asked.link);
      const denied = await phone.submit(page, '/login/verify/deny');
      expect(denied.status).to.equal(200);
      expect(denied.body).to.include('Sign-in stopped');
      expect(await statusOf(asked)).to.equal('denied');
      expect((await phone.get(asked.link)).status).to.equal(410);
    });

    it('tells only the browser that asked how its sign-in is going', async () => {
      const asked = await ask();
      expect(await statusOf(asked)).to.equal('pending');
      const stranger = new Browser(server.issuer);
      const res = await stranger.get(`${asked.uidUrl}/status`, { accept: 'application/json' });
      expect(res.status).to.equal(404);
      expect(JSON.parse(res.body)).to.include({ error: 'not_found' });
    });

    it('resends after the cooldown, and the new email replaces the old one', async () => {
      const asked = await ask();
      expect(asked.checkEmail.body).to.match(/id="resend"[^>]*disabled/);
      const early = await asked.browser.submit(asked.checkEmail, /\/resend$/);
      expect(early.status).to.equal(429);
      expect(early.body).to.include('Check your email').and.include('Try again in');
      await server.sesame.db('rate_events').update({ at: Date.now() - 61_000 });
      await server.sesame.db('login_requests').update({ created_at: Date.now() - 61_000 });
      const page = await asked.browser.get(asked.uidUrl);
      expect(page.body).not.to.match(/id="resend"[^>]*disabled/);
      const resent = await asked.browser.submit(page, /\/resend$/);
      expect(resent.body).to.include('Check your email');
      const second = loginDetails(await server.smtp.waitFor(asked.email));
      expect(second.link).not.to.equal(asked.link);
      expect((await asked.browser.get(asked.link)).status).to.equal(410);
      const done = await asked.browser.submit(await asked.browser.get(second.link), '/login/verify');
      expect(done.location).to.match(/code=/);
    });

    it('pre-fills login_hint, and prompt=login or max_age=0 force a fresh email sign-in with honest auth_time, acr and amr', async () => {
      const hinted = new Browser(server.issuer);
      const form = await hinted.get((await startAuthorization(config, { login_hint: 'hint@example.com' })).url.toString());
      expect(form.body).to.include('value="hint@example.com"');

      const asked = await ask();
      const first = await asked.browser.submit(await asked.browser.get(asked.link), '/login/verify');
      const tokens = await exchangeCode(config, asked.start, first.location!);
      const claims = tokens.claims()!;
      expect(claims.acr).to.equal('urn:sesame:acr:email');
      expect(claims.amr).to.deep.equal(['email']);
      expect(claims.auth_time).to.be.closeTo(Date.now() / 1000, 10);

      // the session is reused silently...
      const silent = await startAuthorization(config, { prompt: '' , scope: 'openid' });
      const again = await asked.browser.get(silent.url.toString());
      expect(again.location).to.match(/code=/);
      expect((await exchangeCode(config, silent, again.location!)).claims()!.auth_time).to.equal(claims.auth_time);
      // ...unless the app asks for a fresh sign-in
      for (const extra of [{ prompt: 'login' }, { prompt: '', max_age: '0' }] as Record<string, string>[]) {
        const fresh = await asked.browser.get((await startAuthorization(config, { scope: 'openid', ...extra })).url.toString());
        expect(fresh.status, JSON.stringify(extra)).to.equal(200);
        expect(fresh.body).to.include('name="email"');
      }
    });

    it('speaks the language the app asks for (ui_locales) or the browser prefers, on the pages and in the email', async () => {
      const german = (key: string) => messages.t('de', key);
      expect(german('check.title')).not.to.equal(messages.t('en', 'check.title'));
      const byApp = await ask({ ui_locales: 'de-CH en' });
      expect(byApp.checkEmail.body).to.include('<html lang="de">').and.include(german('check.title'));
      const mail = await server.sesame.db('mail_outbox').orderBy('id', 'desc').first();
      expect(mail.subject).to.equal(messages.t('de', 'mail.subject', { app: 'Test App' }));
      const byBrowser = await ask({}, { 'accept-language': 'fr;q=0.9, de;q=0.8' });
      expect(byBrowser.checkEmail.body).to.include(german('check.title'));
      const english = await ask({}, { 'accept-language': 'xx' });
      expect(english.checkEmail.body).to.include('<html lang="en">');
      // the waiting tab learns that the link tab finished, after the interaction itself is gone
      const finished = await english.browser.submit(await english.browser.get(english.link), '/login/verify');
      expect(finished.location).to.match(/code=/);
      expect(await statusOf(english)).to.equal('completed');
    });
  });
}
