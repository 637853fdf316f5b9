import { expect } from 'chai';
import sqlite3 from 'sqlite3';
import { Browser, findForm, type Page } from '../support/browser.js';
import { createTestDatabase, DB_KINDS, type DbKind } from '../support/databases.js';
import { client, discover, exchangeCode, registerClient, signInWithLink, startAuthorization, type RegisteredClient } from '../support/relying-party.js';
import { eventually } from '../support/smtp-peers.js';
import { armStatementFault, disarmStatementFault } from '../support/statement-faults.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { startTestServer, withServer, type TestServer } from '../support/test-server.js';

interface Answer {
  status: number;
  retryAfter: string | null;
  body: string;
  ms: number;
}

/** A signed-in app (for refreshes) and a browser at the email form, against one server. */
async function prepare(server: TestServer, email: string) {
  const registered = await registerClient(server.sesame, { isPublic: true, firstParty: true });
  const config = await discover(server.issuer, registered);
  const start = await startAuthorization(config);
  const tokens = await exchangeCode(config, start, await signInWithLink(new Browser(server.issuer), server.smtp, start, email));
  const browser = new Browser(server.issuer);
  const form = await browser.get((await startAuthorization(config)).url.toString());
  return { registered, config, tokens, browser, form };
}

function requests(server: TestServer, prepared: { registered: RegisteredClient; config: client.Configuration; tokens: { refresh_token?: string }; browser: Browser; form: Page }) {
  const timed = async (response: Promise<Response>): Promise<Answer> => {
    const started = Date.now();
    const res = await response;
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text(), ms: Date.now() - started };
  };
  // refresh tokens rotate: each successful refresh hands over the next one
  let refreshToken = prepared.tokens.refresh_token!;
  return {
    refresh: async () => {
      const answer = await timed(fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: prepared.registered.clientId }),
      }));
      if (answer.status === 200) refreshToken = (JSON.parse(answer.body) as { refresh_token: string }).refresh_token;
      return answer;
    },
    authorize: async () => timed(fetch((await startAuthorization(prepared.config)).url, { redirect: 'manual', headers: { accept: 'text/html' } })),
    email: (address: string) => {
      const { action, fields } = findForm(prepared.form.body, /\/email$/);
      return timed(prepared.browser.send(new URL(action, prepared.form.url).toString(), { form: { ...fields, email: address } }));
    },
    readyz: () => timed(fetch(`${server.issuer}/readyz`)),
  };
}

function expectUnavailable(answers: Record<string, Answer>): void {
  const summary = Object.entries(answers).map(([what, a]) => `${what}: ${a.status} Retry-After ${a.retryAfter} ${a.body.slice(0, 120)}`).join('\n');
  for (const [what, answer] of Object.entries(answers)) {
    expect(answer.status, `${what}\n${summary}`).to.equal(503);
    if (what !== 'readyz') expect(answer.retryAfter, `${what}\n${summary}`).to.match(/^\d+$/);
  }
}

describe('PostgreSQL going away (through a proxy the test cuts)', function () {
  this.timeout(60_000);

  it('answers every request with 503 and Retry-After while it is down and /readyz says so; all recover when it is back', async () => {
    const database = await createTestDatabase('postgres', { migrated: true });
    // between the server and whichever PostgreSQL the suite runs against (TEST_PG_URL, the default address, or an embedded one)
    const url = new URL(database.url);
    const proxy = await new TcpProxy({ host: url.hostname, port: Number(url.port || 5432) }).start();
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const server = await startTestServer('postgres', {}, { database: { ...database, url: url.toString() } });
    try {
      const prepared = await prepare(server, 'pg-down@example.com');
      const ask = requests(server, prepared);

      await proxy.cut();
      const down = { authorize: await ask.authorize(), refresh: await ask.refresh(), email: await ask.email('waiting@example.com'), readyz: await ask.readyz() };
      expectUnavailable(down);
      expect(JSON.parse(down.refresh.body)).to.include({ error: 'temporarily_unavailable' });
      expect(JSON.parse(down.readyz.body)).to.deep.equal({ status: 'unavailable', reason: 'database unreachable' });

      // a server that takes connections and never answers: the pool gives up after 5 s
      await proxy.restore({ hang: true });
      const hung = { refresh: await ask.refresh() };
      expectUnavailable(hung);
      expect(hung.refresh.ms).to.be.below(8_000);
      await proxy.cut();

      await proxy.restore();
      await eventually('/readyz green again', async () => (await ask.readyz()).status === 200);
      expect((await ask.refresh()).status).to.equal(200);
      expect((await ask.email('back@example.com')).status).to.equal(303);
    } finally {
      await proxy.close();
      await server.close();
      await database.drop();
    }
  });
});

/** What each database says when it cannot write: a full disk, a read-only file or standby, an I/O error. */
const CANNOT_WRITE: Record<DbKind, [string, () => Error][]> = {
  sqlite: ['SQLITE_FULL: database or disk is full', 'SQLITE_READONLY: attempt to write a readonly database', 'SQLITE_IOERR: disk I/O error', 'SQLITE_CANTOPEN: unable to open database file']
    .map((message) => [message.split(':')[0], () => Object.assign(new Error(message), { code: message.split(':')[0] })]),
  postgres: [['53100', 'could not extend file: No space left on device'], ['25006', 'cannot execute UPDATE in a read-only transaction'], ['57P01', 'terminating connection due to administrator command']]
    .map(([code, message]) => [code, () => Object.assign(new Error(message), { code })]),
};

for (const kind of DB_KINDS) {
  describe(`a database that cannot write (${kind})`, function () {
    this.timeout(60_000);
    let ask: ReturnType<typeof requests>;

    const server = withServer(kind);
    before(async () => {
      ask = requests(server, await prepare(server, `no-write-${kind}@example.com`));
    });
    after(async () => {
      disarmStatementFault();
    });

    for (const [code, error] of CANNOT_WRITE[kind]) {
      it(`${code}: every request that writes answers 503 with Retry-After, /readyz is red with the reason; green again once writes succeed`, async () => {
        armStatementFault({ match: /^\s*(insert|update|delete|begin)\b/i, failAt: 1, persist: true, error });
        let answers: Record<string, Answer>;
        try {
          answers = { authorize: await ask.authorize(), refresh: await ask.refresh(), email: await ask.email(`w-${code}@example.com`), readyz: await ask.readyz() };
        } finally {
          disarmStatementFault();
        }
        expectUnavailable(answers);
        expect(JSON.parse(answers.readyz.body)).to.deep.equal({ status: 'unavailable', reason: `database cannot be written (${code})` });
        expect((await ask.readyz()).status).to.equal(200);
        expect((await ask.refresh()).status).to.equal(200);
      });
    }
  });
}

describe('a SQLite database locked by another process (issue 16)', function () {
  this.timeout(60_000);

  it('answers every request waiting behind the lock with 503 and Retry-After within about SQLITE_BUSY_TIMEOUT_MS, however many wait', async () => {
    const busyMs = 1_000;
    const server = await startTestServer('sqlite', { SQLITE_BUSY_TIMEOUT_MS: String(busyMs) });
    const lock = new sqlite3.Database(server.database.url.replace(/^sqlite:\/\//, ''));
    const exec = (sql: string) => new Promise<void>((resolve, reject) => lock.exec(sql, (error) => (error ? reject(error) : resolve())));
    try {
      const prepared = await Promise.all(Array.from({ length: 6 }, (_, i) => prepare(server, `queue${i}@example.com`)));
      await exec('PRAGMA busy_timeout = 60000; BEGIN IMMEDIATE');
      const asked = await Promise.all(prepared.flatMap((p, i) => {
        const ask = requests(server, p);
        return [ask.refresh(), ask.email(`queued${i}@example.com`), ask.authorize()];
      }));
      await exec('ROLLBACK');
      const summary = asked.map((a) => `${a.status} after ${a.ms} ms`).join(', ');
      expect(asked.map((a) => a.status), summary).to.deep.equal(asked.map(() => 503));
      expect(asked.every((a) => /^\d+$/.test(a.retryAfter ?? '')), summary).to.equal(true);
      // the busy timeout, plus what the request did before it waited
      expect(Math.max(...asked.map((a) => a.ms)), summary).to.be.below(busyMs + 700);
    } finally {
      await new Promise<void>((resolve) => lock.close(() => resolve()));
      await server.close();
    }
  });
});
