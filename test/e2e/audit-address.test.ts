import { expect } from 'chai';
import { Browser, type Page } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { DB_KINDS } from '../support/databases.js';
import { eventually } from '../support/eventually.js';
import { client, discover, exchangeCode, registerClient, startAuthorization } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { cliEnv, startTestServer, type TestServer } from '../support/test-server.js';

interface Listed {
  type: string;
  email?: string;
  accountId?: string;
  loginRequestId?: string;
  details?: Record<string, unknown>;
}

/**
 * `sesame audit --email` is how an operator answers "what happened to this address?": every
 * event about it must come back, the failures included (a wrong code, a lock-out, a used,
 * replaced or stopped link), and those that know only the account (a sign-out, a revocation).
 */
for (const kind of DB_KINDS) {
  describe(`sesame audit --email finds every event about the address (${kind})`, function () {
    this.timeout(90_000);
    const email = `trail-${kind}@example.com`;
    let server: TestServer;
    let env: Record<string, string>;
    let config: client.Configuration;

    /** A fresh browser asks for a sign-in email: its page, link and code. */
    async function ask(): Promise<{ browser: Browser; start: Awaited<ReturnType<typeof startAuthorization>>; checkEmail: Page; link: string; code: string }> {
      const browser = new Browser(server.issuer);
      const start = await startAuthorization(config);
      const checkEmail = await browser.submit(await browser.get(start.url.toString()), /\/email$/, { email });
      expect(checkEmail.body).to.include('Check your email');
      return { browser, start, checkEmail, ...loginDetails(await server.smtp.waitFor(email)) };
    }

    const auditOf = async (address: string) => {
      const result = await runCli(['audit', '--email', address, '--json'], env);
      expect(result.code, result.stderr).to.equal(0);
      return JSON.parse(result.stdout) as Listed[];
    };
    const described = (events: Listed[]) => events.map((e) => [e.type, e.details?.reason ?? ''].join(' ').trim());

    before(async () => {
      server = await startTestServer(kind, { LOGIN_CODE_MAX_ATTEMPTS: '2', RATE_LIMIT_CODE_ATTEMPTS_EMAIL: '2/3600' });
      env = cliEnv(server);
      config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
    });
    after(() => server?.close());

    it('wrong codes, a lock-out, used, replaced and stopped links, a revocation and a sign-out', async () => {
      // a sign-in; then its link opened again (used)
      const first = await ask();
      const done = await first.browser.submit(await first.browser.get(first.link), '/login/verify');
      const tokens = await exchangeCode(config, first.start, done.location!);
      expect((await first.browser.get(first.link)).status).to.equal(410);

      // two wrong codes: the second locks the request
      const second = await ask();
      const wrong = second.code === '000000' ? '111111' : '000000';
      expect((await second.browser.submit(second.checkEmail, /\/code$/, { code: wrong })).status).to.equal(400);
      // the waiting page goes back to its "too many wrong codes" card
      const locked = await second.browser.submit(second.checkEmail, /\/code$/, { code: wrong });
      expect([locked.status, /data-state="locked"/.test(locked.body)]).to.deep.equal([200, true]);
      // the address's code budget is spent: even the right code of a new request is refused
      const budget = await ask();
      expect((await budget.browser.submit(budget.checkEmail, /\/code$/, { code: budget.code })).status).to.equal(429);

      // a request replaced by a newer one (a new email asked for on the same page), whose link is then opened
      const third = await ask();
      await third.browser.submit(third.checkEmail, /\/resend$/);
      const fourth = { link: loginDetails(await server.smtp.waitFor(email)).link };
      expect((await third.browser.get(third.link)).status).to.equal(410);

      // "this wasn't me", then the stopped link opened again
      const stranger = new Browser(server.issuer);
      await stranger.submit(await stranger.get(fourth.link), '/login/verify/deny');
      expect((await stranger.get(fourth.link)).status).to.equal(410);

      // the refresh token revoked by the app, then a sign-out of the first session
      await client.tokenRevocation(config, tokens.refresh_token!);
      const logout = await first.browser.get('/session/end');
      expect((await first.browser.submit(logout, /\/session\/end\/confirm$/, { logout: 'yes' })).status).to.equal(200);

      const accountId = (await server.sesame.db('accounts').where({ email }).first()).id as string;
      await eventually(async () => {
        const types = (await server.sesame.audit.query({ accountId })).map((e) => e.type);
        expect(types).to.include.members(['logout', 'token.revoked']);
      });

      const events = await auditOf(email.toUpperCase());
      expect(described(events)).to.include.members([
        'login.failed link_used',
        'login.failed code_invalid',
        'login.failed code_locked',
        'login.failed code_budget',
        'login.failed link_superseded',
        'login.denied not_me',
        'login.failed link_stopped',
        'token.revoked',
        'logout',
      ]);
      // each names the address, or (a sign-out, a revocation) the account
      for (const event of events) expect(event.email === email || event.accountId === accountId, JSON.stringify(event)).to.equal(true);
      // and the failures name the request they were about
      for (const event of events.filter((e) => e.type === 'login.failed')) expect(event.loginRequestId, JSON.stringify(event)).to.be.a('string');
      expect(events.filter((e) => e.type === 'login.failed' && e.details?.reason === 'code_invalid')[0].loginRequestId)
        .to.equal((await server.sesame.db('login_requests').where({ email }).orderBy('created_at').offset(1).first()).id);

      // another address's events stay out
      const other = await auditOf('someone-else@example.com');
      expect(other).to.deep.equal([]);
    });

    it('after the account is deleted, its sign-out and revocation are still found by the address', async () => {
      const deleted = await runCli(['accounts', 'delete', email, '--yes'], env);
      expect(deleted.code, deleted.stderr).to.equal(0);
      expect(await server.sesame.db('accounts').where({ email }).first()).to.equal(undefined);
      const types = (await auditOf(email)).map((e) => e.type);
      expect(types).to.include.members(['admin.account.deleted', 'logout', 'token.revoked', 'login.completed']);
    });
  });
}
