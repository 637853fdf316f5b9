import { expect } from 'chai';
import { join } from 'node:path';
import { Browser, findForm, type Page } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { DB_KINDS } from '../support/databases.js';
import { client, discover, exchangeCode, registerClient, startAuthorization } from '../support/relying-party.js';
import { eventually } from '../support/smtp-peers.js';
import { loginDetails } from '../support/smtp-sink.js';
import { startTestServer, type TestServer, cliEnv } from '../support/test-server.js';

const matchNumberOn = (page: Page) => Number(/id="match-number">(\d+)</.exec(page.body)?.[1]);
/** The form POST of a page, sent once without following the redirect. */
function sendForm(browser: Browser, page: Page, action: string | RegExp, fields: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Response> {
  const form = findForm(page.body, action);
  return browser.send(new URL(form.action, page.url).toString(), { form: { ...form.fields, ...fields }, headers });
}

for (const kind of DB_KINDS) {
  describe(`the audit trail (${kind})`, function () {
    this.timeout(60_000);
    const email = `audited-${kind}@example.com`;
    let server: TestServer;
    let env: Record<string, string>;
    let accountId: string;
    let throttledRequestId: string;
    const secrets: string[] = [];
    const codes: string[] = [];

    before(async () => {
      server = await startTestServer(kind, { RATE_LIMIT_EMAIL_ALL: '3/900' });
      env = cliEnv(server);
      const config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));

      const ask = async () => {
        const browser = new Browser(server.issuer);
        const start = await startAuthorization(config);
        const checkEmail = await browser.submit(await browser.get(start.url.toString()), /\/email$/, { email });
        const details = loginDetails(await server.smtp.waitFor(email));
        secrets.push(new URL(details.link).searchParams.get('t')!);
        codes.push(details.code);
        return { browser, start, checkEmail, ...details };
      };
      const keep = (tokens: client.TokenEndpointResponse, callback: string) => {
        secrets.push(tokens.access_token, tokens.refresh_token!, tokens.id_token!);
        codes.push(new URL(callback).searchParams.get('code')!);
      };

      // 1. the link, in the same browser
      const first = await ask();
      const done = await first.browser.submit(await first.browser.get(first.link), '/login/verify');
      const tokens = await exchangeCode(config, first.start, done.location!);
      keep(tokens, done.location!);
      accountId = (await server.sesame.db('accounts').where({ email }).first()).id;

      // 2. approved from another device with the number
      const second = await ask();
      const phone = new Browser(server.issuer, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1');
      const page = await phone.get(second.link);
      const approved = await phone.request('/login/verify', { form: { ...findForm(page.body, '/login/verify').fields, number: String(matchNumberOn(second.checkEmail)) } });
      expect(approved.body).to.include('Sign-in approved');
      const finished = await second.browser.get(second.checkEmail.url);
      keep(await exchangeCode(config, second.start, finished.location!), finished.location!);

      // 3. "This wasn't me"
      const third = await ask();
      const stranger = new Browser(server.issuer);
      expect((await stranger.submit(await stranger.get(third.link), '/login/verify/deny')).body).to.include('Sign-in stopped');

      // 4. a fourth email within the window is throttled
      const browser = new Browser(server.issuer);
      const form = await browser.get((await startAuthorization(config)).url.toString());
      const throttled = await sendForm(browser, form, /\/email$/, { email });
      expect(throttled.status).to.equal(429);
      throttledRequestId = throttled.headers.get('x-request-id')!;

      // 5. sign out of the session of the second sign-in
      const logout = await second.browser.get('/session/end');
      const signedOut = await second.browser.submit(logout, /\/session\/end\/confirm$/, { logout: 'yes' });
      expect(signedOut.status).to.equal(200);

      await eventually('three emails marked sent', async () => (await server.sesame.db('audit_events').where({ type: 'email.sent' })).length === 3);
    });
    after(() => server?.close());

    it('records each security event of the address and its account, in order, with how the link was opened', async () => {
      const requestIds = (await server.sesame.db('login_requests').where({ email }).orderBy('created_at')).map((r) => r.id as string);
      expect(requestIds).to.have.length(3);
      const rows = await server.sesame.db('audit_events')
        .where({ email })
        .orWhere({ account_id: accountId })
        .orWhereIn('login_request_id', requestIds)
        .orWhere({ request_id: throttledRequestId })
        .orderBy('id');
      const events = rows.map((row) => ({ id: Number(row.id), type: row.type as string, loginRequestId: row.login_request_id as string | null, details: row.details ? JSON.parse(row.details) : {} }));
      // email.sent comes from the worker, whenever it gets to it: its place is checked separately
      const described = events.filter((e) => e.type !== 'email.sent').map((e) => [e.type, e.details.how ?? e.details.method ?? e.details.reason ?? e.details.limit ?? ''].join(' ').trim());
      expect(described).to.deep.equal([
        'login.requested',
        'link.opened same_browser',
        'login.approved link',
        'login.completed',
        'login.requested',
        'link.opened other_device',
        'login.approved other_device',
        'login.completed',
        'login.requested',
        'link.opened other_device',
        'login.denied not_me',
        'login.throttled email',
        'logout',
      ]);
      const requested = events.filter((e) => e.type === 'login.requested');
      for (const [i, id] of requestIds.entries()) {
        const sent = events.filter((e) => e.type === 'email.sent' && e.loginRequestId === id);
        expect(sent, `one email.sent for request ${i + 1}`).to.have.length(1);
        expect(sent[0].id).to.be.greaterThan(requested[i].id);
      }
      expect(events.find((e) => e.type === 'logout')).to.be.an('object');
      const opened = rows.filter((row) => row.type === 'link.opened');
      for (const row of opened) expect(JSON.parse(row.details)).to.include({ method: 'GET' });
      expect(rows.find((row) => row.type === 'login.completed').account_id).to.equal(accountId);
    });

    it('holds no link token, code, authorization code or token anywhere', async () => {
      const all = JSON.stringify(await server.sesame.db('audit_events').select());
      expect(secrets.length).to.equal(3 + 2 * 3);
      for (const secret of secrets) expect(all).not.to.include(secret);
      for (const code of codes) expect(all).not.to.match(new RegExp(`(?<![\\w-])${code}(?![\\w-])`));
    });

    it('is printed by `sesame audit --email`, filtered by --type and --since; a bad --since is a usage error', async () => {
      const byEmail = await runCli(['audit', '--email', email.toUpperCase(), '--json'], env);
      expect(byEmail.code, byEmail.stderr).to.equal(0);
      const listed = JSON.parse(byEmail.stdout) as { type: string; email?: string; accountId?: string; at: string }[];
      // newest first; the mail worker's email.sent lands whenever delivery happens, so it is checked below, not in order
      expect(listed.map((e) => e.type).filter((type) => !type.startsWith('email.')).reverse()).to.deep.equal([
        'login.requested', 'link.opened', 'login.approved', 'login.completed',
        'login.requested', 'link.opened', 'login.approved', 'login.completed',
        'login.requested', 'link.opened', 'login.denied',
        'login.throttled',
        // the sign-out names only the account: found through it
        'logout',
      ]);
      expect(listed.every((e) => e.email === email || e.accountId === accountId)).to.equal(true);
      expect(Date.parse(listed[0].at)).to.be.closeTo(Date.now(), 60_000);

      const byAccountRun = await runCli(['audit', '--account', accountId, '--json'], env);
      expect(byAccountRun.code, byAccountRun.stderr).to.equal(0);
      const byAccount = JSON.parse(byAccountRun.stdout) as { type: string }[];
      expect(byAccount.map((e) => e.type)).to.include.members(['logout', 'login.completed']);

      const completed = await runCli(['audit', '--type', 'login.completed', '--since', '1h', '--json'], env);
      expect(completed.code, completed.stderr).to.equal(0);
      const completedEvents = JSON.parse(completed.stdout) as { type: string }[];
      expect(completedEvents).to.have.length(2);
      expect(completedEvents.every((e) => e.type === 'login.completed')).to.equal(true);
      const future = new Date(Date.now() + 60_000).toISOString();
      expect(JSON.parse((await runCli(['audit', '--type', 'login.completed', '--since', future, '--json'], env)).stdout)).to.deep.equal([]);

      const text = await runCli(['audit', '--email', email], env);
      expect(text.stdout).to.match(/login\.completed\s+audited-/);
      for (const secret of secrets) expect(text.stdout + byEmail.stdout).not.to.include(secret);

      const bad = await runCli(['audit', '--since', 'yesterday'], env);
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.include('--since');
      expect(bad.stderr).not.to.match(/\n\s+at /);
    });

    // an operator asking "did X's email go out, is someone flooding X?" finds both by the address
    it('`sesame audit --email` also lists the emails sent to the address and its throttled requests', async () => {
      const listed = JSON.parse((await runCli(['audit', '--email', email, '--json'], env)).stdout) as { type: string }[];
      const types = listed.map((e) => e.type);
      expect(types.filter((t) => t === 'email.sent')).to.have.length(3);
      expect(types).to.include('login.throttled');
    });
  });
}
