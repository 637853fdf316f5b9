import { expect } from 'chai';
import { Browser, findForm, type Page } from '../support/browser.js';
import { DB_KINDS } from '../support/databases.js';
import { loginDetails } from '../support/smtp-sink.js';
import { discover, registerClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

/**
 * What keeps the account page safe, over HTTP: who may enter (the gate and its sign-in), that every
 * change needs the page's CSRF token of this browser and session, that an address change needs a
 * recent sign-in, that one account cannot touch another's sessions, and that the deletion link
 * works only as sent, once.
 */
for (const kind of DB_KINDS) {
  describe(`account page: sign-in, CSRF and links (${kind})`, function () {
    this.timeout(60_000);
    let server: TestServer;
    let counter = 0;

    before(async () => {
      server = await startTestServer(kind);
    });
    after(async () => server?.close());

    const nextEmail = (label: string) => `${label}-${kind}-${++counter}@example.com`;

    /** Follows the server's redirects one by one, up to (not into) the first URL `stop` picks; returns that URL. */
    async function followUntil(browser: Browser, url: string, stop: (url: URL) => boolean): Promise<URL> {
      let current = new URL(url, server.issuer);
      for (let hops = 0; hops < 20; hops++) {
        if (stop(current)) return current;
        const res = await browser.send(current.toString());
        await res.arrayBuffer();
        const location = res.headers.get('location');
        if (!location) throw new Error(`${current} answered ${res.status} without a redirect`);
        current = new URL(location, current);
      }
      throw new Error('too many redirects');
    }

    /** Signs a browser in to /account with the emailed link; returns the account page. */
    async function signIn(browser: Browser, email: string): Promise<Page> {
      const form = await browser.get('/account');
      expect(form.body).to.include('name="email"');
      await browser.submit(form, /\/email$/, { email });
      const { link } = loginDetails(await server.smtp.waitFor(email));
      const page = await browser.submit(await browser.get(link), '/login/verify');
      expect(page.url).to.equal(`${server.issuer}/account`);
      expect(page.body).to.include('Your account');
      return page;
    }

    const accountOf = (email: string) => server.sesame.accounts.get(email);
    const sessionsOf = async (accountId: string) => server.sesame.db('oidc_payloads').where({ account_id: accountId, type: 'Session' });

    it('without a session, /account starts the emailed sign-in as its own client, always back to /account', async () => {
      const browser = new Browser(server.issuer);
      const res = await browser.send('/account?return_to=https://evil.example/&redirect_uri=https://evil.example/');
      expect(res.status).to.equal(303);
      const location = new URL(res.headers.get('location')!, server.issuer);
      expect(location.pathname).to.equal('/auth');
      expect(Object.fromEntries(location.searchParams)).to.include({
        client_id: 'sesame-account', redirect_uri: `${server.issuer}/account/callback`, response_type: 'code', scope: 'openid', code_challenge_method: 'S256',
      });
      expect(location.searchParams.get('state')).to.match(/^[A-Za-z0-9_-]{22}$/);
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sesame.account='));
      expect(cookie).to.match(/path=\/account/i).and.match(/httponly/i).and.match(/samesite=lax/i);
    });

    it('the callback lands only the flow this browser started: a code from another browser signs no one in there', async () => {
      const email = nextEmail('fixation');
      // the attacker signs in to the account page in their own browser and stops at the callback
      const attacker = new Browser(server.issuer);
      const form = await attacker.get('/account');
      await attacker.submit(form, /\/email$/, { email });
      const { link } = loginDetails(await server.smtp.waitFor(email));
      const verify = await attacker.get(link);
      const approve = findForm(verify.body, '/login/verify');
      const res = await attacker.send('/login/verify', { form: approve.fields });
      const callback = await followUntil(attacker, res.headers.get('location')!, (url) => url.pathname === '/account/callback');

      // the victim's browser opens it (a link, an image): refused, and it holds no session afterwards
      const victim = new Browser(server.issuer);
      const opened = await victim.get(callback.toString());
      expect(opened.status).to.equal(400);
      expect(opened.body).to.include('did not start in this browser');
      const after = await victim.send('/account');
      expect(after.status).to.equal(303);
      expect(after.headers.get('location')).to.match(/^\/auth\?/);

      // the attacker's own browser: a state that is not the one it keeps is refused too
      const wrongState = new URL(callback);
      wrongState.searchParams.set('state', 'x'.repeat(22));
      expect((await attacker.get(wrongState.toString())).status).to.equal(400);
    });

    it('every change needs the CSRF token of this browser and this session; without a session a POST changes nothing', async () => {
      const email = nextEmail('csrf');
      const browser = new Browser(server.issuer);
      const app = await discover(server.issuer, await registerClient(server.sesame, { name: 'CSRF App' }));
      await signInWithLink(browser, server.smtp, await startAuthorization(app), email, { consent: true });
      const page = await browser.get('/account');
      const disconnect = findForm(page.body, '/account/apps/disconnect');
      const account = await accountOf(email);
      const grants = () => server.sesame.db('oidc_payloads').where({ account_id: account.id, type: 'Grant' });
      expect(await grants()).to.have.length.greaterThan(0);

      // no token, and a token of another session of the same account (another browser)
      const other = new Browser(server.issuer);
      const otherToken = findForm((await signIn(other, email)).body, '/account/apps/disconnect').fields.csrf;
      for (const csrf of [undefined, otherToken, '']) {
        const res = await browser.send('/account/apps/disconnect', { form: { ...disconnect.fields, csrf: csrf as string } });
        expect(res.status, `csrf ${csrf}`).to.equal(403);
      }
      expect(await grants()).to.have.length.greaterThan(0);
      // a script's POST: the token in the X-CSRF-Token header, and only this session's
      const scripted = await browser.send('/account/sessions/sign-out', { form: { session: 'none-such' }, headers: { 'x-csrf-token': otherToken } });
      expect(scripted.status).to.equal(403);
      const scriptedOwn = await browser.send('/account/sessions/sign-out', { form: { session: 'none-such' }, headers: { 'x-csrf-token': disconnect.fields.csrf } });
      expect(scriptedOwn.status).to.equal(303);

      // a browser without a session is sent to sign in; nothing changes either
      const stranger = new Browser(server.issuer);
      const res = await stranger.send('/account/sessions/sign-out-everywhere', { form: { csrf: disconnect.fields.csrf } });
      expect(res.status).to.equal(303);
      expect(res.headers.get('location')).to.match(/^\/auth\?/);
      expect(await sessionsOf(account.id)).to.have.length(2);

      // what ?done= says comes from a fixed list; anything else is ignored
      for (const done of ['constructor', '__proto__', '<script>', 'disconnected&x=1']) {
        const shown = await browser.get(`/account?done=${encodeURIComponent(done)}`);
        expect(shown.status, done).to.equal(200);
        expect(shown.body).not.to.include('<script>');
      }

      const done = await browser.submit(page, '/account/apps/disconnect');
      expect(done.body).to.include('The app was disconnected');
      expect(await grants()).to.have.length(1); // the account page's own grant, not listed
    });

    it('changing the address needs a sign-in of the last 15 minutes; an older one is sent through the email again', async () => {
      const email = nextEmail('stale');
      const browser = new Browser(server.issuer);
      const page = await signIn(browser, email);
      const account = await accountOf(email);
      // the session's sign-in, 16 minutes ago
      const [row] = await sessionsOf(account.id);
      const payload = JSON.parse(row.payload);
      payload.loginTs -= 16 * 60;
      await server.sesame.db('oidc_payloads').where({ id: row.id }).update({ payload: JSON.stringify(payload) });

      const form = findForm(page.body, '/account/email');
      const res = await browser.send('/account/email', { form: { ...form.fields, email: nextEmail('taken-over') } });
      expect(res.status).to.equal(303);
      const location = new URL(res.headers.get('location')!, server.issuer);
      expect(location.pathname).to.equal('/auth');
      expect(location.searchParams.get('max_age')).to.equal('900');
      expect(await server.sesame.db('email_changes').where({ account_id: account.id })).to.deep.equal([]);

      // following it asks for the email again, even though the session is still there
      const again = await browser.get(location.toString());
      expect(again.body).to.include('name="email"');
    });

    it("one account cannot sign out another's sessions nor disconnect the account page itself", async () => {
      const mallory = new Browser(server.issuer);
      const alice = new Browser(server.issuer);
      const page = await signIn(mallory, nextEmail('mallory'));
      const aliceEmail = nextEmail('alice');
      await signIn(alice, aliceEmail);
      const aliceAccount = await accountOf(aliceEmail);
      const [aliceSession] = await sessionsOf(aliceAccount.id);

      const signOut = findForm(page.body, '/account/sessions/sign-out');
      await mallory.request('/account/sessions/sign-out', { form: { ...signOut.fields, session: aliceSession.uid } });
      expect(await sessionsOf(aliceAccount.id)).to.have.length(1);

      const aliceGrants = () => server.sesame.db('oidc_payloads').where({ account_id: aliceAccount.id, type: 'Grant' });
      const alicePage = await alice.get('/account');
      const form = findForm(alicePage.body, /\/account\/(apps\/disconnect|sessions\/sign-out)$/);
      const before = (await aliceGrants()).length;
      await alice.request('/account/apps/disconnect', { form: { csrf: form.fields.csrf, client: 'sesame-account' } });
      expect(await aliceGrants()).to.have.length(before);
      expect((await alice.send('/account')).status).to.equal(200);
    });

    it('the deletion link: a look changes nothing, a changed link or one from before an address change is refused, and of parallel confirmations one deletes', async () => {
      const email = nextEmail('deletion');
      const browser = new Browser(server.issuer);
      const page = await signIn(browser, email);
      const account = await accountOf(email);
      await browser.submit(page, '/account/delete');
      const mail = await server.smtp.waitFor(email);
      const link = /https?:\/\/\S+\/account\/delete\/confirm\?token=\S+/.exec(mail.parsed.text ?? '')![0];
      const token = new URL(link).searchParams.get('token')!;

      // scanners: HEAD and GET only look
      expect((await browser.send(link, { method: 'HEAD' })).status).to.equal(200);
      const shown = await browser.get(link);
      expect(shown.body).to.include('Delete your account?');
      expect(await server.sesame.accounts.findById(account.id)).not.to.equal(undefined);

      // a forged or altered token: another account's id, a later expiry, a changed signature
      const [id, expires, mac] = token.split('.');
      const other = await server.sesame.accounts.create(nextEmail('victim'));
      const form = findForm(shown.body, '/account/delete/confirm');
      for (const forged of [`${other.id}.${expires}.${mac}`, `${id}.${Number(expires) + 86_400_000}.${mac}`, `${id}.${expires}.${mac.slice(0, -2)}AA`, 'nonsense']) {
        const res = await browser.send('/account/delete/confirm', { form: { ...form.fields, token: forged } });
        expect(res.status, forged).to.equal(404);
      }
      expect(await server.sesame.accounts.findById(other.id)).not.to.equal(undefined);

      // N confirmations at once: exactly one deletes
      const answers = await Promise.all(Array.from({ length: 5 }, () => browser.send('/account/delete/confirm', { form: form.fields })));
      expect(answers.map((res) => res.status).sort()).to.deep.equal([200, 410, 410, 410, 410]);
      expect(await server.sesame.accounts.findById(account.id)).to.equal(undefined);
      await server.sesame.audit.flush();
      expect(await server.sesame.audit.query({ accountId: account.id, type: 'account.deleted' })).to.have.length(1);
    });

    it('a deletion link dies when the address changes', async () => {
      const email = nextEmail('moved');
      const browser = new Browser(server.issuer);
      const page = await signIn(browser, email);
      await browser.submit(page, '/account/delete');
      const link = /https?:\/\/\S+\/account\/delete\/confirm\?token=\S+/.exec((await server.smtp.waitFor(email)).parsed.text ?? '')![0];
      const account = await accountOf(email);
      await server.sesame.db('accounts').where({ id: account.id }).update({ email: nextEmail('elsewhere') });
      expect((await browser.get(link)).status).to.equal(404);
      expect(await server.sesame.accounts.findById(account.id)).not.to.equal(undefined);
    });
  });
}

