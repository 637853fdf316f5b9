import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { isPostgres } from '../../src/store/db.js';
import { Browser, findForm } from '../support/browser.js';
import { DB_KINDS } from '../support/databases.js';
import { client, discover, exchangeCode, REDIRECT_URI, registerClient, startAuthorization } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { withServer, type TestServer } from '../support/test-server.js';

/**
 * "A copy of the database signs no one in": a run that uses every kind of secret value, then a
 * search of every table (and, on SQLite, of the database file and its WAL, byte by byte) for each
 * value the run saw. Keyed hashes and sealed bodies are all that may be found.
 */
for (const kind of DB_KINDS) {
  describe(`nothing usable at rest (${kind})`, function () {
    this.timeout(60_000);
    /** every secret value the run handled, by what it is */
    const seen = new Map<string, string>();
    const remember = (what: string, value: string | undefined) => {
      expect(value, what).to.be.a('string').and.not.equal('');
      seen.set(`${what} #${seen.size}`, value!);
    };

    const server = withServer(kind, { REGISTRATION_ENABLED: 'true' });

    it('signs in, refreshes, approves on another device and with the code, registers an app and an admin token, and stores none of their secrets', async () => {
      const registered = await registerClient(server.sesame, { name: 'At Rest App' });
      remember('client secret (CLI)', registered.clientSecret);
      const config = await discover(server.issuer, registered);

      // 1. one click in the browser that asked, then a refresh
      const browser = new Browser(server.issuer);
      const first = await startAuthorization(config);
      await browser.submit(await browser.get(first.url.toString()), /\/email$/, { email: 'rest1@example.com' });
      const firstMail = loginDetails(await server.smtp.waitFor('rest1@example.com'));
      remember('link token', new URL(firstMail.link).searchParams.get('t')!);
      remember('code', firstMail.code);
      const callback = (await browser.submit(await browser.submit(await browser.get(firstMail.link), '/login/verify'), /\/consent$/)).location!;
      remember('authorization code', new URL(callback).searchParams.get('code')!);
      const tokens = await exchangeCode(config, first, callback);
      remember('access token', tokens.access_token);
      remember('refresh token', tokens.refresh_token);
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
      remember('access token (refreshed)', refreshed.access_token);
      remember('refresh token (rotated)', refreshed.refresh_token);
      const session = (await browser.jar.getCookies(server.issuer)).find((cookie) => cookie.key === '_session');
      remember('session cookie', session?.value);

      // 2. another device approves with the number the asking tab shows
      const laptop = new Browser(server.issuer);
      const second = await startAuthorization(config, { prompt: '' });
      const checkEmail = await laptop.submit(await laptop.get(second.url.toString()), /\/email$/, { email: 'rest2@example.com' });
      const matchNumber = /id="match-number">(\d+)</.exec(checkEmail.body)?.[1];
      const secondMail = loginDetails(await server.smtp.waitFor('rest2@example.com'));
      remember('link token', new URL(secondMail.link).searchParams.get('t')!);
      remember('code', secondMail.code);
      const phone = new Browser(server.issuer, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1');
      const confirm = await phone.get(secondMail.link);
      const approved = await phone.request('/login/verify', { form: { ...findForm(confirm.body, '/login/verify').fields, number: String(matchNumber) } });
      expect(approved.status).to.equal(200);
      const consent = await laptop.get(checkEmail.url);
      const back = await laptop.submit(consent, /\/consent$/);
      expect(back.location).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
      remember('authorization code', new URL(back.location!).searchParams.get('code')!);
      remember('session cookie', (await laptop.jar.getCookies(server.issuer)).find((cookie) => cookie.key === '_session')?.value);

      // 3. the code typed into the asking tab
      const desk = new Browser(server.issuer);
      const third = await startAuthorization(config, { prompt: '' });
      const waiting = await desk.submit(await desk.get(third.url.toString()), /\/email$/, { email: 'rest3@example.com' });
      const thirdMail = loginDetails(await server.smtp.waitFor('rest3@example.com'));
      remember('link token', new URL(thirdMail.link).searchParams.get('t')!);
      remember('code', thirdMail.code);
      const consented = await desk.submit(await desk.submit(waiting, /\/code$/, { code: thirdMail.code }), /\/consent$/);
      expect(consented.location).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));

      // 4. an admin token, and an app registering itself with it
      const admin = await server.sesame.adminTokens.create({ name: 'at rest', scopes: ['register'] });
      remember('admin token', admin.token);
      const registration = await fetch(`${server.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.token}` },
        body: JSON.stringify({ client_name: 'Self-registered', redirect_uris: [REDIRECT_URI] }),
      });
      expect(registration.status).to.equal(201);
      const { client_secret: dcrSecret, registration_access_token: rat } = (await registration.json()) as Record<string, string>;
      remember('client secret (registration)', dcrSecret);
      remember('registration access token', rat);
      const unsent = await server.sesame.db('mail_outbox').whereIn('status', ['pending', 'sending']).count({ n: '*' }).first();
      expect(Number(unsent!.n), 'every mail was sent (its wiped body is then what a copy holds)').to.equal(0);

      const found = findSecrets(await databaseText(server), seen);
      expect(found, 'secret values found in the tables').to.deep.equal([]);
      if (kind === 'sqlite') {
        const dir = server.database.dataDir;
        for (const file of readdirSync(dir).filter((name) => name.startsWith('sesame.sqlite'))) {
          const bytes = readFileSync(join(dir, file)).toString('latin1');
          expect(findSecrets(bytes, seen), `secret values found in ${file}`).to.deep.equal([]);
        }
      }
    });
  });
}

/** Every row of every table of Sesame's database, as text. */
async function databaseText(server: TestServer): Promise<string> {
  const db = server.sesame.db;
  const tables: string[] = isPostgres(db)
    ? (await db.raw("select tablename from pg_tables where schemaname = current_schema()")).rows.map((row: { tablename: string }) => row.tablename)
    : (await db.raw("select name from sqlite_master where type = 'table'")).map((row: { name: string }) => row.name);
  expect(tables).to.include.members(['oidc_payloads', 'mail_outbox', 'login_requests', 'clients', 'admin_tokens']);
  const dumps = await Promise.all(tables.map(async (table) => `${table}: ${JSON.stringify(await db(table).select('*'))}`));
  return dumps.join('\n');
}

/** Which of the values occur in the text (a 6-digit code only as a number of its own, not inside a longer one). */
function findSecrets(text: string, values: Map<string, string>): string[] {
  return [...values].filter(([, value]) => (/^\d+$/.test(value) ? new RegExp(`(?<!\\d)${value}(?!\\d)`).test(text) : text.includes(value))).map(([what]) => what);
}
