import { expect } from 'chai';
import type { AppError } from '../../src/shared/errors.js';
import { sweepExpired } from '../../src/store/sweeper.js';
import { Browser, findForm, type Page } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { DB_KINDS } from '../support/databases.js';
import { client, discover, exchangeCode, expectOAuthError, registerClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import type { ReceivedMail } from '../support/smtp-sink.js';
import { withServer, TEST_SECRETS } from '../support/test-server.js';

const ACTION = '/account/email/confirm';

/** The confirmation link in the mail to the new address (text part). */
function confirmLink(mail: ReceivedMail): string {
  const link = /https?:\/\/\S+\/account\/email\/confirm\?token=[A-Za-z0-9_-]+/.exec(mail.parsed.text ?? '')?.[0];
  if (!link) throw new Error(`no confirmation link in mail:\n${mail.parsed.text}`);
  return link;
}

for (const kind of DB_KINDS) {
  describe(`changing an account's email address (${kind})`, function () {
    this.timeout(60_000);
    let env: Record<string, string>;
    let config: client.Configuration;
    let counter = 0;

    const server = withServer(kind);
    before(async () => {
      env = { DATABASE_URL: server.database.url, DATA_DIR: server.database.dataDir, ISSUER: server.issuer, ...TEST_SECRETS };
      config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
    });

    const unique = (name: string) => `${name}${++counter}@example.com`;
    const cli = (...args: string[]) => runCli(['accounts', ...args], env);
    const account = (id: string) => server.sesame.db('accounts').where({ id }).first();

    async function signIn(email: string) {
      const start = await startAuthorization(config);
      return exchangeCode(config, start, await signInWithLink(new Browser(server.issuer), server.smtp, start, email));
    }

    /** An account whose address is to change, and the change asked for through the service (as the admin API does). */
    async function requested(oldEmail = unique('before'), newEmail = unique('after')) {
      const created = await server.sesame.accounts.create(oldEmail);
      await server.sesame.accounts.requestEmailChange(created.id, newEmail, { via: 'test' });
      return { id: created.id, oldEmail, newEmail, link: confirmLink(await server.smtp.waitFor(newEmail)) };
    }

    /** Opens the link (GET) in a browser and presses the button (POST). */
    async function confirm(link: string, browser = new Browser(server.issuer)): Promise<{ shown: Page; done: Page }> {
      const shown = await browser.get(link);
      expect(shown.status, shown.body).to.equal(200);
      return { shown, done: await browser.submit(shown, ACTION) };
    }

    it('changes nothing until the new address confirms; then the account moves, keeps its sub, and the old address is told', async () => {
      const oldEmail = unique('olga');
      const newEmail = unique('olga.new');
      const before = await signIn(oldEmail);
      const sub = before.claims()!.sub;

      const asked = await cli('change-email', oldEmail.toUpperCase(), ` ${newEmail.toUpperCase()} `);
      expect(asked.code, asked.stderr).to.equal(0);
      expect(asked.stdout).to.include(`confirmation sent to ${newEmail}`);
      const mail = await server.smtp.waitFor(newEmail);
      expect(mail.to).to.deep.equal([newEmail]);
      expect(mail.parsed.subject).to.equal('Confirm your new email address for Sesame');
      expect(mail.parsed.text).to.include('o***@example.com');
      const link = confirmLink(mail);

      // nothing has changed yet: the old address still signs in to the account, the new one has none
      expect((await account(sub)).email).to.equal(oldEmail);
      expect((await signIn(oldEmail)).claims()!.sub).to.equal(sub);
      expect(await server.sesame.accounts.findByEmail(newEmail)).to.equal(undefined);

      // a mail scanner fetching the link (GET, HEAD) changes nothing either
      const scanner = new Browser(server.issuer);
      expect((await scanner.send(link, { method: 'HEAD' })).status).to.equal(200);
      expect((await scanner.get(link)).status).to.equal(200);
      expect((await account(sub)).email).to.equal(oldEmail);
      const { shown, done } = await confirm(link);
      expect(shown.body).to.include('Confirm your new email address').and.include(newEmail);
      expect(shown.headers.get('referrer-policy')).to.equal('no-referrer');

      expect(done.status, done.body).to.equal(200);
      expect(done.body).to.include('Email address changed').and.include(newEmail);
      const changed = await account(sub);
      expect(changed.email).to.equal(newEmail);
      expect(Boolean(changed.email_verified)).to.equal(true);

      const notice = await server.smtp.waitFor(oldEmail);
      expect(notice.parsed.subject).to.equal('The email address of your Sesame account was changed');
      expect(notice.parsed.text).to.include('o***@example.com').and.include('UTC').and.include('administrator');
      expect(notice.parsed.text).not.to.include(newEmail);

      // the new address signs in to the same account, and the apps see the new address
      const after = await signIn(newEmail);
      // (the ID token and userinfo both carry the address, for scope email)
      expect(after.claims()!.sub).to.equal(sub);
      expect(await client.fetchUserInfo(config, after.access_token, sub)).to.include({ email: newEmail, email_verified: true });
      // tokens issued before the change were revoked with it
      expect((await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${before.access_token}` } })).status).to.equal(401);
      // the old address no longer reaches the account (with open sign-up it starts a new one)
      expect((await signIn(oldEmail)).claims()!.sub).not.to.equal(sub);

      const types = (await server.sesame.audit.query({ accountId: sub })).map((e) => e.type);
      expect(types).to.include.members(['account.email_change_requested', 'account.email_changed']);
      const [requestedEvent] = await server.sesame.audit.query({ accountId: sub, type: 'account.email_change_requested' });
      expect(requestedEvent.details).to.include({ via: 'cli', new_email: newEmail });
      expect(requestedEvent.actor).to.match(/^cli:\S+$/);
    });

    it('ends the sessions, refresh and access tokens of the old address when the change is confirmed, in the same transaction', async () => {
      const oldEmail = unique('held');
      const browser = new Browser(server.issuer);
      const start = await startAuthorization(config);
      const tokens = await exchangeCode(config, start, await signInWithLink(browser, server.smtp, start, oldEmail));
      const sub = tokens.claims()!.sub;
      const newEmail = unique('held.new');
      await server.sesame.accounts.requestEmailChange(sub, newEmail, { via: 'test' });
      const link = confirmLink(await server.smtp.waitFor(newEmail));
      // before the change the session still signs in silently
      expect((await browser.get((await startAuthorization(config, { prompt: '' })).url.toString())).location).to.match(/code=/);

      expect((await confirm(link)).done.status).to.equal(200);
      await expectOAuthError(client.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant');
      const userinfo = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(userinfo.status, 'the old access token').to.equal(401);
      const again = await browser.get((await startAuthorization(config, { prompt: '' })).url.toString());
      expect(again.body, 'the old session is gone: the email form again').to.include('name="email"');
      expect(await server.sesame.db('oidc_payloads').where({ account_id: sub }).count({ n: '*' }).first().then((r) => Number(r!.n))).to.equal(0);
    });

    it('prints the pending change as JSON, refuses bad arguments and unknown accounts, and drops the change with its account', async () => {
      const created = await server.sesame.accounts.create(unique('json'));
      const newEmail = unique('json.new');
      const asked = await cli('change-email', created.id, newEmail, '--json');
      expect(asked.code, asked.stderr).to.equal(0);
      expect(JSON.parse(asked.stdout)).to.include({ id: created.id, email: created.email, new_email: newEmail, state: 'pending' });
      const link = confirmLink(await server.smtp.waitFor(newEmail));

      // the language of the emails: German asked for by a regional tag; one Sesame does not have is a usage error
      const german = await server.sesame.accounts.create(unique('german'));
      const germanNew = unique('german.new');
      expect((await cli('change-email', german.id, germanNew, '--locale', 'de-CH')).code).to.equal(0);
      expect((await server.smtp.waitFor(germanNew)).parsed.subject).to.include('Bestätigen Sie Ihre neue E-Mail-Adresse');
      const unknownLocale = await cli('change-email', german.id, unique('x'), '--locale', 'xx');
      expect(unknownLocale.code).to.equal(2);
      expect(unknownLocale.stderr).to.include('--locale must be one of de, en');

      expect((await cli('change-email', created.id)).code).to.equal(2);
      const malformed = await cli('change-email', created.id, 'not-an-address');
      expect(malformed.code).to.equal(1);
      expect(malformed.stderr).to.include('email address').and.not.include('    at ');
      const same = await cli('change-email', created.id, created.email);
      expect(same.code).to.equal(1);
      expect(same.stderr).to.include('already the address');
      const nobody = await cli('change-email', 'nobody@example.com', unique('x'));
      expect(nobody.code).to.equal(1);
      expect(nobody.stderr).to.include('no account');

      // deleting the account takes its pending change with it: the link no longer works
      expect((await cli('delete', created.id, '--yes')).code).to.equal(0);
      expect(await server.sesame.db('email_changes').where({ account_id: created.id })).to.have.length(0);
      expect((await new Browser(server.issuer).get(link)).status).to.equal(404);
      expect(await server.sesame.accounts.findByEmail(newEmail)).to.equal(undefined);
    });

    it('of 20 parallel confirmations of one link exactly one changes the address; the rest get a clean 410', async () => {
      const { id, oldEmail, newEmail, link } = await requested();
      const browser = new Browser(server.issuer);
      const form = findForm((await browser.get(link)).body, ACTION);
      const cookie = await browser.jar.getCookieString(`${server.issuer}${ACTION}`);
      const responses = await Promise.all(Array.from({ length: 20 }, () => fetch(`${server.issuer}${ACTION}`, {
        method: 'POST',
        headers: { cookie, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form.fields),
      })));
      const bodies = await Promise.all(responses.map((r) => r.text()));
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 200), statuses.join()).to.have.length(1);
      expect(statuses.filter((s) => s === 410), statuses.join()).to.have.length(19);
      for (const body of bodies.filter((_, i) => statuses[i] === 410)) {
        expect(body).to.include('already been confirmed').and.not.include('    at ');
      }
      expect((await account(id)).email).to.equal(newEmail);
      // one notice, one audit event
      await server.smtp.waitFor(oldEmail);
      expect(await server.sesame.db('mail_outbox').where({ recipient: oldEmail })).to.have.length(1);
      expect(await server.sesame.audit.query({ accountId: id, type: 'account.email_changed' })).to.have.length(1);
    });

    it('refuses a replaced link and an expired one, and never keeps two pending changes of one account', async () => {
      const { id, oldEmail, link: first } = await requested();
      const later = unique('later');
      await server.sesame.accounts.requestEmailChange(id, later);
      const second = confirmLink(await server.smtp.waitFor(later));

      const browser = new Browser(server.issuer);
      const replaced = await browser.get(first);
      expect(replaced.status).to.equal(410);
      expect(replaced.body).to.include('A newer change of this account').and.not.include('sign in again');
      // a POST of the replaced link (with a valid CSRF token from the live link's page) changes nothing
      const live = await browser.get(second);
      const posted = await browser.request(ACTION, { form: { ...findForm(live.body, ACTION).fields, token: new URL(first).searchParams.get('token')! } });
      expect(posted.status).to.equal(410);
      expect((await account(id)).email).to.equal(oldEmail);

      const rows = await server.sesame.db('email_changes').where({ account_id: id }).orderBy('created_at');
      expect(rows.map((r) => r.state)).to.deep.equal(['cancelled', 'pending']);
      // the database itself refuses a second pending change of the account
      let refused: unknown;
      try {
        await server.sesame.db('email_changes').insert({ ...rows[1], id: 'second-pending', token_hash: 'x'.repeat(43) });
      } catch (error) {
        refused = error;
      }
      expect(refused, 'a second pending row was accepted').to.be.instanceOf(Error);

      await server.sesame.db('email_changes').where({ id: rows[1].id }).update({ expires_at: Date.now() - 1000 });
      const expiredGet = await browser.get(second);
      expect(expiredGet.status).to.equal(410);
      expect(expiredGet.body).to.include('has expired');
      const expiredPost = await browser.submit(live, ACTION);
      expect(expiredPost.status).to.equal(410);
      // the sweeper records the state (and deletes the row a day later)
      await sweepExpired(server.sesame.db);
      expect((await server.sesame.db('email_changes').where({ id: rows[1].id }).first()).state).to.equal('expired');
      expect((await browser.get(second)).status).to.equal(410);
      expect((await account(id)).email).to.equal(oldEmail);
      expect(await server.sesame.accounts.findByEmail(later)).to.equal(undefined);
    });

    it('answers unknown, malformed and used links with a clear localised page, and forged posts with 403', async () => {
      const browser = new Browser(server.issuer);
      for (const token of ['A'.repeat(43), 'short', '']) {
        const page = await browser.get(`${ACTION}?token=${token}`);
        expect(page.status).to.equal(404);
        expect(page.body).to.include('This confirmation link is not valid').and.not.include('    at ');
      }
      browser.headers['accept-language'] = 'de';
      expect((await browser.get(`${ACTION}?token=${'A'.repeat(43)}`)).body).to.include('Dieser Bestätigungslink ist ungültig');

      const { id, oldEmail, link } = await requested();
      const german = await browser.get(link);
      expect(german.body).to.include('Neue E-Mail-Adresse bestätigen');
      // without the CSRF cookie and token of this browser the POST is refused
      const forged = await new Browser(server.issuer).request(ACTION, { form: { token: new URL(link).searchParams.get('token')!, csrf: findForm(german.body, ACTION).fields.csrf } });
      expect(forged.status).to.equal(403);
      expect((await account(id)).email).to.equal(oldEmail);

      const done = await browser.submit(german, ACTION);
      expect(done.body).to.include('E-Mail-Adresse geändert');
      const again = await browser.get(link);
      expect(again.status).to.equal(410);
      expect(again.body).to.include('bereits bestätigt');
    });

    it('refuses an address another account has, when asked and when confirmed, and then changes nothing', async () => {
      const other = await server.sesame.accounts.create(unique('taken'));
      const mine = await server.sesame.accounts.create(unique('mine'));
      const asked = await cli('change-email', mine.email, other.email);
      expect(asked.code).to.equal(1);
      expect(asked.stderr).to.include('Another account already uses');
      const viaService = await server.sesame.accounts.requestEmailChange(mine.id, other.email).catch((e: AppError) => e);
      expect(viaService).to.include({ status: 409, code: 'email_taken' });

      // free when asked, taken (by a sign-up) before the link is confirmed
      const wanted = unique('wanted');
      await server.sesame.accounts.requestEmailChange(mine, wanted);
      const link = confirmLink(await server.smtp.waitFor(wanted));
      const browser = new Browser(server.issuer);
      const shown = await browser.get(link);
      const newcomer = await signIn(wanted);
      const refused = await browser.submit(shown, ACTION);
      expect(refused.status).to.equal(409);
      expect(refused.body).to.include('Another account already uses this email address').and.not.include('    at ');
      expect((await account(mine.id)).email).to.equal(mine.email);
      expect((await server.sesame.accounts.findByEmail(wanted))!.id).to.equal(newcomer.claims()!.sub);
      const row = await server.sesame.db('email_changes').where({ account_id: mine.id }).first();
      expect(row.state).to.equal('pending');
      expect(await server.sesame.db('mail_outbox').where({ recipient: mine.email })).to.have.length(0);
    });

    it('does not move a disabled account to the new address', async () => {
      const { id, oldEmail, link } = await requested();
      await server.sesame.accounts.disable(id);
      const { done } = await confirm(link);
      expect(done.status).to.equal(409);
      expect(done.body).to.include('This account is disabled').and.not.include('    at ');
      expect((await account(id)).email).to.equal(oldEmail);
      expect((await server.sesame.db('email_changes').where({ account_id: id }).first()).state).to.equal('pending');
    });

    it('stores the token only as a keyed hash', async () => {
      const { id, link } = await requested();
      const token = new URL(link).searchParams.get('token')!;
      expect(token).to.match(/^[A-Za-z0-9_-]{43}$/);
      const row = await server.sesame.db('email_changes').where({ account_id: id }).first();
      for (const value of Object.values(row)) expect(String(value)).not.to.include(token);
      expect(row.token_hash).to.equal(server.sesame.hasher.hash('email-change', token));
    });
  });
}
