import { expect } from 'chai';
import sqlite3 from 'sqlite3';
import { Browser, findForm, type Page } from '../support/browser.js';
import { discover, exchangeCode, registerClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { startTestServer } from '../support/test-server.js';

/** The form POST of a page, sent once without following the redirect. */
function sendForm(browser: Browser, page: Page, action: string | RegExp, fields: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Response> {
  const form = findForm(page.body, action);
  return browser.send(new URL(form.action, page.url).toString(), { form: { ...form.fields, ...fields }, headers });
}

/** A sqlite3 connection of its own (another process, as far as locking goes). */
function lockingConnection(filename: string) {
  const db = new sqlite3.Database(filename);
  const exec = (sql: string) => new Promise<void>((resolve, reject) => db.exec(sql, (error) => (error ? reject(error) : resolve())));
  const close = () => new Promise<void>((resolve, reject) => db.close((error) => (error ? reject(error) : resolve())));
  return { exec, close };
}

describe('a locked SQLite database (SQLITE_BUSY_TIMEOUT_MS=300)', function () {
  this.timeout(60_000);

  it('answers 503 with Retry-After on the email form and the token endpoint, and recovers when the lock goes', async () => {
    const server = await startTestServer('sqlite', { SQLITE_BUSY_TIMEOUT_MS: '300' });
    const lock = lockingConnection(server.database.url.replace(/^sqlite:\/\//, ''));
    let locked = false;
    try {
      const registered = await registerClient(server.sesame, { isPublic: true, firstParty: true });
      const config = await discover(server.issuer, registered);
      const start = await startAuthorization(config);
      const tokens = await exchangeCode(config, start, await signInWithLink(new Browser(server.issuer), server.smtp, start, 'locked@example.com'));
      const browser = new Browser(server.issuer);
      const form = await browser.get((await startAuthorization(config)).url.toString());
      const postEmail = () => sendForm(browser, form, /\/email$/, { email: 'waiting@example.com' });
      const refresh = () => fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: registered.clientId }),
        signal: AbortSignal.timeout(20_000),
      });

      await lock.exec('PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE');
      locked = true;
      const busyForm = await postEmail();
      expect(busyForm.status, await busyForm.clone().text()).to.equal(503);
      expect(busyForm.headers.get('retry-after')).to.match(/^\d+$/);
      const busyToken = await refresh();
      const busyTokenBody = await busyToken.text();
      expect(busyToken.status, busyTokenBody).to.equal(503);
      expect(busyToken.headers.get('retry-after')).to.match(/^\d+$/);
      expect(JSON.parse(busyTokenBody)).to.include({ error: 'temporarily_unavailable' });

      await lock.exec('ROLLBACK');
      locked = false;
      const okForm = await postEmail();
      expect(okForm.status, (await okForm.clone().text()).slice(0, 2000)).to.equal(303);
      await server.smtp.waitFor('waiting@example.com');
      const okToken = await refresh();
      const okTokenBody = await okToken.json() as Record<string, unknown>;
      expect(okToken.status, JSON.stringify(okTokenBody)).to.equal(200);
      expect(okTokenBody.access_token).to.be.a('string');
    } finally {
      if (locked) await lock.exec('ROLLBACK');
      await lock.close();
      await server.close();
    }
  });
});
