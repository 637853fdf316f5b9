import { expect } from 'chai';
import { Browser } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { DB_KINDS } from '../support/databases.js';
import { client, discover, exchangeCode, expectOAuthError, registerClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { withServer, cliEnv } from '../support/test-server.js';

for (const kind of DB_KINDS) {
  describe(`sesame accounts, run as a user would (${kind})`, function () {
    this.timeout(60_000);
    let env: Record<string, string>;
    let config: client.Configuration;
    let clientId: string;

    const server = withServer(kind);
    before(async () => {
      env = cliEnv(server);
      ({ clientId } = await registerClient(server.sesame, { isPublic: true, firstParty: true }));
      config = await discover(server.issuer, { clientId });
    });

    const cli = async (...args: string[]) => {
      const result = await runCli(['accounts', ...args], env);
      return { ...result, json: () => JSON.parse(result.stdout) };
    };
    async function signIn(email: string, browser = new Browser(server.issuer)) {
      const start = await startAuthorization(config);
      return { browser, tokens: await exchangeCode(config, start, await signInWithLink(browser, server.smtp, start, email)) };
    }

    it('shows an account with its sessions and apps, and disabling it revokes everything at once', async () => {
      const { browser, tokens } = await signIn('dana@example.com');
      const shown = (await cli('show', 'Dana@Example.com', '--json')).json();
      expect(shown).to.include({ email: 'dana@example.com', status: 'active', sessions: 1 });
      expect(shown.apps_with_access).to.deep.equal([clientId]);
      expect(shown.id).to.equal(tokens.claims()!.sub);

      const disabled = await cli('disable', 'dana@example.com');
      expect(disabled.code, disabled.stderr).to.equal(0);
      expect((await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 'the access token is dead').to.equal(401);
      await expectOAuthError(client.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant');
      // the browser's session is gone: a new authorization asks for an email again
      const again = await browser.get((await startAuthorization(config, { prompt: '', scope: 'openid' })).url.toString());
      expect(again.body).to.include('name="email"');
      // and a disabled address gets no email (the page answers as for anyone)
      const form = await browser.get((await startAuthorization(config)).url.toString());
      const check = await browser.submit(form, /\/email$/, { email: 'dana@example.com' });
      expect(check.body).to.include('Check your email');
      const last = await server.sesame.db('mail_outbox').orderBy('id', 'desc').first();
      expect(Boolean(last.withheld), 'queued withheld').to.equal(true);

      expect((await cli('enable', 'dana@example.com')).code).to.equal(0);
      const back = await signIn('dana@example.com');
      expect(back.tokens.claims()!.sub).to.equal(shown.id);
    });

    it('deletes an account; the address can sign up again as a new account', async () => {
      const first = await signIn('erin@example.com');
      const sub = first.tokens.claims()!.sub;
      const deleted = await cli('delete', sub, '--yes');
      expect(deleted.code, deleted.stderr).to.equal(0);
      expect((await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${first.tokens.access_token}` } })).status, 'the access token is dead').to.equal(401);
      const gone = await cli('show', sub);
      expect(gone.code).to.equal(1);
      expect(gone.stderr).to.include('no account');
      const second = await signIn('erin@example.com');
      expect(second.tokens.claims()!.sub).not.to.equal(sub);
    });

    it('creates accounts ahead of sign-in and lists them page by page, searching by part of the address', async () => {
      for (const email of ['page-a@list.example', 'page-b@list.example', 'page-c@list.example']) {
        expect((await cli('create', email)).code).to.equal(0);
      }
      const first = (await cli('list', '--search', '@list.example', '--limit', '2', '--json')).json();
      expect(first.accounts.map((a: { email: string }) => a.email)).to.deep.equal(['page-a@list.example', 'page-b@list.example']);
      expect(first.next).to.equal('page-b@list.example');
      const rest = (await cli('list', '--search', '@list.example', '--limit', '2', '--after', first.next, '--json')).json();
      expect(rest.accounts.map((a: { email: string }) => a.email)).to.deep.equal(['page-c@list.example']);
      expect(rest.next).to.equal(null);
      // % and _ are literal in a search
      expect((await cli('list', '--search', 'page_%', '--json')).json().accounts).to.deep.equal([]);
      const again = await cli('create', 'Page-A@list.example');
      expect(again.code).to.equal(1);
      expect(again.stderr).to.include('an account with the address page-a@list.example already exists');
      const bad = await cli('create', 'not-an-address');
      expect(bad.code).to.equal(1);
      expect(bad.stderr).to.include('email address');
      const events = await server.sesame.audit.query({ type: 'admin.account.created' });
      expect(events.map((e) => e.email)).to.include.members(['page-a@list.example', 'page-b@list.example', 'page-c@list.example']);
      for (const event of events.filter((e) => e.email?.endsWith('@list.example'))) expect(event.actor).to.match(/^cli:\S+$/);
    });
  });
}
