import { expect } from 'chai';
import { Browser, findForm } from '../support/browser.js';
import { DB_KINDS } from '../support/databases.js';
import { loginDetails } from '../support/smtp-sink.js';
import { client, discover, exchangeCode, REDIRECT_URI, registerClient, startAuthorization, type RegisteredClient } from '../support/relying-party.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

for (const kind of DB_KINDS) {
  describe(`the link and the code (${kind})`, function () {
    let server: TestServer;
    let registered: RegisteredClient;
    let config: client.Configuration;
    let counter = 0;

    before(async () => {
      server = await startTestServer(kind);
      registered = await registerClient(server.sesame, { isPublic: true, firstParty: true });
      config = await discover(server.issuer, registered);
    });
    after(() => server?.close());

    /** Starts a flow in a fresh browser and asks for a link; returns what the test needs next. */
    async function requestLink(email = `person${++counter}@example.com`, browser = new Browser(server.issuer)) {
      const start = await startAuthorization(config);
      const form = await browser.get(start.url.toString());
      const checkEmail = await browser.submit(form, /\/email$/, { email });
      expect(checkEmail.body).to.include('Check your email');
      const mail = await server.smtp.waitFor(email);
      return { browser, start, email, checkEmail, mail, ...loginDetails(mail) };
    }

    async function loginStatus(browser: Browser, checkEmailUrl: string) {
      const res = await browser.get(`${checkEmailUrl}/status`, { accept: 'application/json' });
      return (JSON.parse(res.body) as { status: string }).status;
    }

    it('tells the person which app is asking and sends one email with the link and the code', async () => {
      const { mail, link, code, checkEmail } = await requestLink();
      expect(checkEmail.body).to.include('Test App');
      expect(mail.parsed.subject).to.equal('Sign in to Test App');
      expect(mail.parsed.html).to.be.a('string').and.include(new URL(link).searchParams.get('t')!);
      expect(mail.parsed.text).to.include(code).and.include('If it was not you');
      expect(new URL(link).origin).to.equal(server.issuer);
    });

    it('stores neither the link token nor the code in plain text', async () => {
      const { link, code, email } = await requestLink();
      const token = new URL(link).searchParams.get('t')!;
      const row = await server.sesame.db('login_requests').where({ email }).first();
      expect(JSON.stringify(row)).not.to.include(token).and.not.include(code);
      expect(row.token_hash).to.have.length(43);
    });

    it('never consumes the link on GET or HEAD from a stranger (mail scanners), and refuses their POST', async () => {
      const { browser, start, link, checkEmail } = await requestLink();
      const scanner = new Browser(server.issuer, 'LinkScanner/1.0');
      const head = await fetch(link, { method: 'HEAD', redirect: 'manual' });
      expect(head.status).to.equal(200);
      expect(head.headers.get('set-cookie') ?? '').not.to.match(/_session/);
      const seen = await scanner.get(link);
      expect(seen.status).to.equal(200);
      expect(seen.body).to.include('Is this you signing in?');
      expect(seen.headers.get('referrer-policy')).to.equal('no-referrer');
      expect(seen.headers.get('cache-control')).to.equal('no-store');
      const refused = await scanner.request('/login/verify', { form: { token: new URL(link).searchParams.get('t')!, csrf: '' } });
      expect(refused.status).to.equal(403);
      expect(await loginStatus(browser, checkEmail.url)).to.equal('pending');

      // the person still signs in with the same link
      const verify = await browser.get(link);
      expect(verify.body).to.include('data-autosubmit');
      const done = await browser.submit(verify, '/login/verify');
      expect(done.location).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
      await exchangeCode(config, start, done.location!);
    });

    it('trusts a signed cookie only with its signature: the binding cookie copied without a valid one counts as another device', async () => {
      const { browser, link } = await requestLink();
      const cookies = await browser.jar.getCookies(server.issuer, { allPaths: true });
      const device = cookies.find((cookie) => cookie.key === 'sesame.device')!;
      const signature = cookies.find((cookie) => cookie.key === 'sesame.device.sig')!;
      // another browser that has the binding secret but not a signature made with the server's key
      const other = new Browser(server.issuer);
      const forged = `${signature.value.slice(0, -1)}${signature.value.endsWith('A') ? 'B' : 'A'}`;
      await other.jar.setCookie(`sesame.device=${device.value}; Path=/`, `${server.issuer}/`);
      await other.jar.setCookie(`sesame.device.sig=${forged}; Path=/`, `${server.issuer}/`);
      const page = await other.get(link);
      expect(page.status).to.equal(200);
      expect(page.body).not.to.include('data-autosubmit');
      expect(page.body, 'the other-device page').to.include('name="number"');
      // with the signature as issued, the same secret is the same browser
      expect((await browser.get(link)).body).to.include('data-autosubmit');
    });

    it('works once: the second use of a link is refused with a way forward', async () => {
      const { browser, link } = await requestLink();
      const first = await browser.submit(await browser.get(link), '/login/verify');
      expect(first.location).to.match(/code=/);
      const again = await browser.get(link);
      expect(again.status).to.equal(410);
      // the sign-in it started is finished: no "start again", but where that sign-in went
      expect(again.body).to.include('You are signed in to Test App').and.include('Back to Test App').and.not.include('start again');
    });

    it('of 30 parallel redemptions of one link, exactly one signs in and the rest get a clean 410', async () => {
      const { browser, link } = await requestLink();
      const form = findForm((await browser.get(link)).body, '/login/verify');
      const cookie = await browser.jar.getCookieString(`${server.issuer}/login/verify`);
      const responses = await Promise.all(Array.from({ length: 30 }, () => fetch(`${server.issuer}/login/verify`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form.fields),
      })));
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 303)).to.have.length(1);
      expect(statuses.filter((s) => s === 410)).to.have.length(29);
    });

    it('an expired link fails cleanly and says what to do', async () => {
      const { browser, link, email, checkEmail } = await requestLink();
      await server.sesame.db('login_requests').where({ email }).update({ expires_at: Date.now() - 1000 });
      const page = await browser.get(link);
      expect(page.status).to.equal(410);
      expect(page.body).to.include('expired');
      expect(await loginStatus(browser, checkEmail.url)).to.equal('expired');
    });

    it('a newer link asked for in the same browser supersedes the older one', async () => {
      const first = await requestLink('twice@example.com');
      const second = await requestLink('twice@example.com', first.browser);
      expect((await first.browser.get(first.link)).status).to.equal(410);
      const done = await second.browser.submit(await second.browser.get(second.link), '/login/verify');
      expect(done.location).to.match(/code=/);
    });

    it('a malformed or unknown link gets a clear 404 page', async () => {
      const browser = new Browser(server.issuer);
      for (const url of ['/login/verify', '/login/verify?t=nope', `/login/verify?t=${'A'.repeat(43)}`, '/login/verify?t=a&t=b']) {
        const page = await browser.get(url);
        expect(page.status, url).to.equal(404);
        expect(page.body).to.include('not valid');
      }
    });

    it('signs in with the code typed into the original tab; wrong codes are counted and capped', async () => {
      const { browser, start, checkEmail, code } = await requestLink();
      const wrong = code === '000000' ? '111111' : '000000';
      const miss = await browser.submit(checkEmail, /\/code$/, { code: wrong });
      expect(miss.status).to.equal(400);
      expect(miss.body).to.include('4 tries left');
      const done = await browser.submit(miss, /\/code$/, { code });
      expect(done.location).to.match(/code=/);
      await exchangeCode(config, start, done.location!);

      const locked = await requestLink();
      let page = locked.checkEmail;
      for (let i = 0; i < 5; i++) page = await locked.browser.submit(page.status === 200 || page.status === 400 ? page : locked.checkEmail, /\/code$/, { code: locked.code === '000000' ? '111111' : '000000' });
      // the request is dead: the waiting page says so and offers a new email instead of the code
      expect(page.body).to.include('Too many wrong codes').and.include('Send a new email').and.not.include('name="code"');
      const late = await locked.browser.submit(locked.checkEmail, /\/code$/, { code: locked.code });
      expect(late.status).to.equal(200);
      expect(late.body).to.include('Too many wrong codes').and.not.include('name="code"');
    });

    it('of 20 parallel redemptions of one authorization code, exactly one yields tokens', async () => {
      const { browser, start, link } = await requestLink();
      const done = await browser.submit(await browser.get(link), '/login/verify');
      const code = new URL(done.location!).searchParams.get('code')!;
      const responses = await Promise.all(Array.from({ length: 20 }, () => fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: start.verifier, client_id: registered.clientId }),
      })));
      const bodies = await Promise.all(responses.map((r) => r.json() as Promise<Record<string, string>>));
      expect(responses.filter((r) => r.status === 200)).to.have.length(1);
      expect(bodies.filter((b) => b.access_token)).to.have.length(1);
      expect(responses.filter((r) => r.status === 400)).to.have.length(19);
      expect(bodies.filter((b) => b.error === 'invalid_grant')).to.have.length(19);
    });

    it('answers a bad email address with a clear 400 page and sends nothing', async () => {
      const browser = new Browser(server.issuer);
      const form = await browser.get((await startAuthorization(config)).url.toString());
      for (const email of ['not-an-address', 'a@b', 'x@example.com, y@example.com', 'x@example.com\r\nBcc: y@example.com', `${'a'.repeat(250)}@example.com`]) {
        const page = await browser.submit(form, /\/email$/, { email });
        expect(page.status, email).to.equal(400);
        expect(page.body).to.include('role="alert"');
      }
      const repeated = await browser.request(new URL(findForm(form.body, /\/email$/).action, server.issuer).toString(), {
        method: 'POST',
        form: { ...findForm(form.body, /\/email$/).fields },
        headers: {},
      });
      expect(repeated.status).to.equal(400);
      expect(server.smtp.messages).to.have.length(0);
    });

    it('refuses a form without its CSRF token', async () => {
      const browser = new Browser(server.issuer);
      const form = await browser.get((await startAuthorization(config)).url.toString());
      const page = await browser.submit(form, /\/email$/, { email: 'csrf@example.com', csrf: 'forged' });
      expect(page.status).to.equal(403);
    });

    it('answers an unknown client with a clear 400 error page', async () => {
      const url = new URL(`${server.issuer}/auth`);
      url.search = new URLSearchParams({ client_id: 'no-such-client', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }).toString();
      const page = await new Browser(server.issuer).get(url.toString());
      expect(page.status).to.equal(400);
      expect(page.body).to.include('invalid_client');
      expect(page.headers.get('content-type')).to.include('text/html');
    });
  });
}
