import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import sqlite3 from 'sqlite3';
import { loadConfig } from '../../src/config/load.js';
import { openCore, type Core } from '../../src/main.js';
import { closeDatabase, openDatabase } from '../../src/store/db.js';
import { createLogger } from '../../src/shared/logger.js';
import { migrationsDir } from '../../src/shared/paths.js';
import { Browser, findForm, type Page } from '../support/browser.js';
import { freePort, runCli, ServerProcess } from '../support/cli.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../support/databases.js';
import { holdRequest, rawRequest, type RawResult } from '../support/held-request.js';
import { client, discover, exchangeCode, REDIRECT_URI, registerClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { RestartableServer } from '../support/restartable-server.js';
import { eventually } from '../support/smtp-peers.js';
import { loginDetails, SmtpSink } from '../support/smtp-sink.js';
import { startTestServer, TEST_SECRETS, type TestServer, cliEnv } from '../support/test-server.js';

/** the other-device page asks for the number; the same-browser page does not */
const asksForNumber = (page: Page) => page.body.includes('name="number"');
const matchNumberOn = (page: Page) => Number(/id="match-number">(\d+)</.exec(page.body)?.[1]);

/** The form POST of a page, sent once without following the redirect. */
function sendForm(browser: Browser, page: Page, action: string | RegExp, fields: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Response> {
  const form = findForm(page.body, action);
  return browser.send(new URL(form.action, page.url).toString(), { form: { ...form.fields, ...fields }, headers });
}

describe('two instances on one PostgreSQL database', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let sink: SmtpSink;
  let a: TestServer;
  let b: TestServer;
  let configA: client.Configuration;
  let n = 0;

  before(async () => {
    database = await createTestDatabase('postgres');
    // one SMTP server for both: either instance's worker may send a message queued by the other
    sink = await new SmtpSink().start();
    a = await startTestServer('postgres', { SMTP_URL: sink.url }, { database });
    b = await startTestServer('postgres', { SMTP_URL: sink.url }, { database });
    configA = await discover(a.issuer, await registerClient(a.sesame, { isPublic: true, firstParty: true }));
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await sink?.close();
    await database?.drop();
  });

  /** The browser asks for the email through A; the link (A's issuer) is rewritten to B's origin, as a load balancer would route it. */
  async function askThroughA() {
    const email = `twin${++n}@example.com`;
    const browser = new Browser(a.issuer);
    const start = await startAuthorization(configA);
    const checkEmail = await browser.submit(await browser.get(start.url.toString()), /\/email$/, { email });
    expect(checkEmail.url.startsWith(`${a.issuer}/interaction/`)).to.equal(true);
    expect(checkEmail.body).to.include('Check your email');
    const { link } = loginDetails(await sink.waitFor(email));
    const onB = `${b.issuer}${new URL(link).pathname}${new URL(link).search}`;
    return { email, browser, start, checkEmail, link, onB };
  }

  async function finishOnA(asked: Awaited<ReturnType<typeof askThroughA>>) {
    // what the waiting tab on A does next (it polls, then reloads)
    const status = await asked.browser.get(`${asked.checkEmail.url}/status`, { accept: 'application/json' });
    expect(JSON.parse(status.body)).to.deep.equal({ status: 'approved' });
    const done = await asked.browser.get(asked.checkEmail.url);
    expect(done.location, done.body).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
    expect(new URL(done.location!).searchParams.get('iss')).to.equal(a.issuer);
    const tokens = await exchangeCode(configA, asked.start, done.location!);
    const claims = tokens.claims()!;
    expect(claims.iss).to.equal(a.issuer);
    expect(claims.amr).to.deep.equal(['email']);
    return tokens;
  }

  // Variant 1: the same browser. Tests give each instance its own issuer (port), so the link's path
  // and query are opened on B's origin with the browser's cookies (the binding cookie
  // `sesame.device` and its `.sig`). They verify on B because both instances share COOKIE_KEYS,
  // which is what running instances behind one load balancer requires.
  it('the link opened in the same browser through B is recognised there; the original tab on A finishes and the code is exchanged on A', async () => {
    const asked = await askThroughA();
    const atB = new Browser(b.issuer);
    const cookies = await asked.browser.jar.getCookies(a.issuer, { allPaths: true });
    expect(cookies.map((c) => c.key)).to.include.members(['sesame.device', 'sesame.device.sig']);
    for (const cookie of cookies) await atB.jar.setCookie(cookie.toString(), `${b.issuer}/`);

    const page = await atB.get(asked.onB);
    expect(page.status).to.equal(200);
    expect(asksForNumber(page), 'the same-browser page, not the other-device one').to.equal(false);
    const approve = await sendForm(atB, page, '/login/verify');
    expect(approve.status).to.equal(303);
    expect(approve.headers.get('location')).to.equal(new URL(asked.checkEmail.url).pathname);
    const row = await a.sesame.db('login_requests').where({ email: asked.email }).first();
    expect(row.status).to.equal('approved');

    await finishOnA(asked);
  });

  // Variant 2: another device approves through B with the number the tab on A shows. Needs no
  // cookie copying at all: only the shared database links the two instances.
  it('another device approves through B with the number shown on A; the tab on A finishes and the code is exchanged on A', async () => {
    const asked = await askThroughA();
    const phone = new Browser(b.issuer, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1');
    const page = await phone.get(asked.onB);
    const number = matchNumberOn(asked.checkEmail);
    expect(asksForNumber(page)).to.equal(true);
    const approved = await phone.request('/login/verify', { form: { ...findForm(page.body, '/login/verify').fields, number: String(number) } });
    expect(approved.status).to.equal(200);
    expect(approved.body).to.include('Sign-in approved');
    const tokens = await finishOnA(asked);
    expect((await client.fetchUserInfo(configA, tokens.access_token, tokens.claims()!.sub)).email).to.equal(asked.email);
  });
});

for (const kind of DB_KINDS) {
  describe(`a restart mid-login loses nothing (${kind})`, function () {
    this.timeout(60_000);

    it('the pending link, the authorization code, the refresh token, the session and the signing key all survive restarts', async () => {
      const database = await createTestDatabase(kind);
      const sink = await new SmtpSink().start();
      const server = new RestartableServer({ port: await freePort(), database, smtpUrl: sink.url });
      try {
        const registered = await registerClient(await server.start(), { isPublic: true, firstParty: true });
        const config = await discover(server.issuer, registered);
        const browser = new Browser(server.issuer);
        const email = `restart-${kind}@example.com`;
        const start = await startAuthorization(config);
        const checkEmail = await browser.submit(await browser.get(start.url.toString()), /\/email$/, { email });
        expect(checkEmail.body).to.include('Check your email');
        const { link } = loginDetails(await sink.waitFor(email));

        await server.restart();
        const verify = await browser.get(link);
        expect(verify.status).to.equal(200);
        expect(asksForNumber(verify), 'still recognised as the same browser').to.equal(false);
        const done = await browser.submit(verify, '/login/verify');
        expect(done.location, done.body).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));

        // the authorization code was issued by the previous instance
        await server.restart();
        const tokens = await exchangeCode(config, start, done.location!);
        const verifyOptions = { issuer: server.issuer, audience: registered.clientId };
        const first = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), verifyOptions);
        expect(tokens.refresh_token).to.be.a('string');

        await server.restart();
        const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
        expect(refreshed.access_token).to.be.a('string').and.not.equal(tokens.access_token);
        // the session: a new authorization goes through silently, no email
        const silent = await startAuthorization(config, { prompt: '', scope: 'openid' });
        const again = await browser.get(silent.url.toString());
        expect(again.location, again.body).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
        const silentTokens = await exchangeCode(config, silent, again.location!);

        // tokens from before and after verify against the JWKS the restarted instance publishes
        const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
        for (const idToken of [tokens.id_token!, refreshed.id_token!, silentTokens.id_token!]) {
          const { payload } = await jwtVerify(idToken, jwks, verifyOptions);
          expect(payload.sub).to.equal(first.payload.sub);
        }
        const kids = [tokens.id_token!, refreshed.id_token!, silentTokens.id_token!].map((t) => decodeProtectedHeader(t).kid);
        expect(new Set(kids).size, 'the same signing key before and after').to.equal(1);
        expect(silentTokens.claims()!.auth_time).to.equal(first.payload.auth_time);
        expect(server.starts).to.equal(4);
        expect(sink.messages, 'no second email was needed').to.have.length(0);
      } finally {
        await server.stop();
        await sink.close();
        await database.drop();
      }
    });
  });
}

describe('SIGTERM under load (sesame dev)', function () {
  this.timeout(60_000);

  it('finishes every accepted request with its answer, stops accepting, and exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sesame-sigterm-'));
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const host = `127.0.0.1:${port}`;
    const env = {
      DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', ISSUER: issuer, SHUTDOWN_GRACE_SECONDS: '5',
      RATE_LIMIT_IP: 'off', RATE_LIMIT_EMAIL: 'off', LOG_LEVEL: 'info', ...TEST_SECRETS,
    };
    const added = await runCli(['clients', 'add', '--name', 'Load', '--redirect-uri', REDIRECT_URI, '--public', '--first-party', '--json'], env);
    expect(added.code, added.stderr).to.equal(0);
    const clientId = JSON.parse(added.stdout).client_id as string;
    const server = new ServerProcess(env);
    try {
      await server.waitFor(/Sesame listening/);
      const config = await discover(issuer, { clientId });
      // sign-ins waiting at their email form: cookies and CSRF token ready for a raw POST
      const forms = await Promise.all(Array.from({ length: 10 }, async () => {
        const browser = new Browser(issuer);
        const page = await browser.get((await startAuthorization(config)).url.toString());
        const form = findForm(page.body, /\/email$/);
        const url = new URL(form.action, page.url);
        return { path: url.pathname, cookie: await browser.jar.getCookieString(url.toString()), fields: form.fields };
      }));
      const authorizations = await Promise.all(Array.from({ length: 12 }, async () => (await startAuthorization(config)).url));

      // 50 requests in flight: GETs whose headers are not finished, POSTs whose body is half sent
      const get = (path: string) => holdRequest(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: application/json\r\n`, 'Connection: close\r\n\r\n');
      const post = (form: (typeof forms)[number], i: number) => {
        const body = new URLSearchParams({ ...form.fields, email: `load${i}@example.com` }).toString();
        const half = Math.floor(body.length / 2);
        return holdRequest(port, [
          `POST ${form.path} HTTP/1.1`, `Host: ${host}`, `Cookie: ${form.cookie}`, 'Content-Type: application/x-www-form-urlencoded',
          `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', '', body.slice(0, half),
        ].join('\r\n'), body.slice(half));
      };
      const kinds = [
        ...Array.from({ length: 14 }, () => ({ expected: 200, start: () => get('/.well-known/openid-configuration') })),
        ...Array.from({ length: 14 }, () => ({ expected: 200, start: () => get('/healthz') })),
        ...authorizations.map((url) => ({ expected: 303, start: () => get(`${url.pathname}${url.search}`) })),
        ...forms.map((form, i) => ({ expected: 303, start: () => post(form, i) })),
      ];
      const held = await Promise.all(kinds.map((k) => k.start()));
      expect(held).to.have.length(50);
      // The server accepts connections in the order they queued: a later connection answered
      // means the 50 before it were accepted by the server, not just by the kernel.
      const sentinel = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(sentinel.status).to.equal(200);

      // and more load arriving as the signal does
      const burst = Array.from({ length: 20 }, (_, i) => rawRequest(port, `GET ${i % 2 ? '/healthz' : '/.well-known/openid-configuration'} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
      server.child.kill('SIGTERM');
      await server.waitFor(/shutting down/);
      const late = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(late.error, 'a connection after SIGTERM is refused').to.equal('ECONNREFUSED');

      for (const request of held) request.release();
      const results = await Promise.all(held.map((request) => request.result));
      const summary = results.map((r, i) => `${i}: expected ${kinds[i].expected}, got ${r.status ?? r.error}`);
      expect(results.map((r) => r.status), summary.join('\n')).to.deep.equal(kinds.map((k) => k.expected));

      const answered = await Promise.all(burst);
      const unacceptable = answered.filter((r: RawResult) => (r.status !== undefined
        ? r.status >= 400
        // never accepted: refused, or dropped from the listen queue before the server took it
        : !(r.received === 0 && (r.error === 'ECONNREFUSED' || r.error === 'ECONNRESET'))));
      expect(unacceptable, JSON.stringify(answered)).to.deep.equal([]);

      const code = await Promise.race([server.exited, new Promise((resolve) => setTimeout(() => resolve('still running after 15 s'), 15_000))]);
      expect(code, server.output.slice(-2000)).to.equal(0);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      await server.exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

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

describe('health, readiness and metrics', function () {
  this.timeout(60_000);

  for (const kind of DB_KINDS) {
    it(`/healthz answers 200; /readyz answers 200, and 503 with a reason while a migration is pending (${kind})`, async () => {
      const server = await startTestServer(kind);
      try {
        const healthz = await fetch(`${server.issuer}/healthz`);
        expect(healthz.status).to.equal(200);
        expect(await healthz.json()).to.deep.equal({ status: 'ok' });
        const ready = await fetch(`${server.issuer}/readyz`);
        expect(ready.status).to.equal(200);
        expect(await ready.json()).to.deep.equal({ status: 'ready' });

        // the schema now looks one migration behind the code
        const db = server.sesame.db;
        const last = await db('knex_migrations').orderBy('id', 'desc').first();
        await db('knex_migrations').where({ id: last.id }).delete();
        try {
          const notReady = await fetch(`${server.issuer}/readyz`);
          expect(notReady.status).to.equal(503);
          const body = await notReady.json() as { status: string; reason: string };
          expect(body.status).to.equal('unavailable');
          expect(body.reason).to.match(/1 database migration/);
          expect((await fetch(`${server.issuer}/healthz`)).status, 'the process is alive all the same').to.equal(200);
        } finally {
          await db('knex_migrations').insert(last);
        }
        expect((await fetch(`${server.issuer}/readyz`)).status).to.equal(200);
      } finally {
        await server.close();
      }
    });
  }

  /** Runs `check` while the database looks one migration behind the code (so /readyz fails). */
  async function withPendingMigration(server: TestServer, check: () => Promise<void>): Promise<void> {
    const db = server.sesame.db;
    const last = await db('knex_migrations').orderBy('id', 'desc').first();
    await db('knex_migrations').where({ id: last.id }).delete();
    try {
      await check();
    } finally {
      await db('knex_migrations').insert(last);
    }
  }

  const readyz = async (address: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${address}/readyz`, { headers });
    return { status: res.status, body: await res.json() as Record<string, unknown> };
  };

  it('in production without METRICS_TOKEN, /metrics is off (404) and a failing /readyz gives no reason', async () => {
    const server = await startTestServer('sqlite', {}, { scheme: 'https', mode: 'production' });
    const address = server.issuer.replace('https:', 'http:');
    try {
      const metrics = await fetch(`${address}/metrics`);
      expect(metrics.status).to.equal(404);
      expect(await metrics.text()).not.to.include('sesame_');
      expect(await readyz(address)).to.deep.equal({ status: 200, body: { status: 'ready' } });
      await withPendingMigration(server, async () => {
        expect(await readyz(address)).to.deep.equal({ status: 503, body: { status: 'unavailable' } });
      });
    } finally {
      await server.close();
    }
  });

  it('in production with METRICS_TOKEN, /metrics and the reason of a failing /readyz are for its bearer only', async () => {
    const token = 'metrics-token-0123456789';
    const server = await startTestServer('sqlite', { METRICS_TOKEN: token }, { scheme: 'https', mode: 'production' });
    const address = server.issuer.replace('https:', 'http:');
    try {
      expect((await fetch(`${address}/metrics`)).status).to.equal(401);
      expect((await fetch(`${address}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).to.equal(401);
      const res = await fetch(`${address}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).to.equal(200);
      expect(await res.text()).to.include('sesame_http_requests_total');
      await withPendingMigration(server, async () => {
        expect(await readyz(address)).to.deep.equal({ status: 503, body: { status: 'unavailable' } });
        expect(await readyz(address, { authorization: 'Bearer wrong-token-0123456789' })).to.deep.equal({ status: 503, body: { status: 'unavailable' } });
        const told = await readyz(address, { authorization: `Bearer ${token}` });
        expect(told.status).to.equal(503);
        expect(told.body.reason).to.match(/1 database migration/);
      });
    } finally {
      await server.close();
    }
  });

  it('in development, /metrics is open without METRICS_TOKEN and /readyz gives its reason', async () => {
    const server = await startTestServer('sqlite', {}, { mode: 'development' });
    try {
      expect((await fetch(`${server.issuer}/metrics`)).status).to.equal(200);
      await withPendingMigration(server, async () => {
        const { status, body } = await readyz(server.issuer);
        expect(status).to.equal(503);
        expect(body.reason).to.match(/1 database migration/);
      });
    } finally {
      await server.close();
    }
  });

  it('/metrics needs the bearer token from METRICS_TOKEN and reports requests, sign-ins, emails, outbox depth and rate-limit hits', async () => {
    const token = 'metrics-token-0123456789';
    const server = await startTestServer('sqlite', { METRICS_TOKEN: token, RATE_LIMIT_EMAIL_ALL: '1/900' });
    try {
      const config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
      const start = await startAuthorization(config);
      await exchangeCode(config, start, await signInWithLink(new Browser(server.issuer), server.smtp, start, 'counted@example.com'));
      const browser = new Browser(server.issuer);
      const form = await browser.get((await startAuthorization(config)).url.toString());
      expect((await sendForm(browser, form, /\/email$/, { email: 'counted@example.com' })).status).to.equal(429);
      // the sent counter moves when the worker has marked the message sent
      await eventually('the message marked sent', async () => (await server.sesame.db('mail_outbox').where({ status: 'sent' })).length === 1);

      const anonymous = await fetch(`${server.issuer}/metrics`);
      expect(anonymous.status).to.equal(401);
      expect(anonymous.headers.get('www-authenticate')).to.match(/^Bearer/);
      expect(await anonymous.text()).not.to.include('sesame_');
      expect((await fetch(`${server.issuer}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).to.equal(401);

      const res = await fetch(`${server.issuer}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const value = (series: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        return line === undefined ? undefined : Number(line.slice(series.length + 1));
      };
      for (const name of ['sesame_http_requests_total', 'sesame_http_request_duration_seconds', 'sesame_logins_started_total', 'sesame_emails_total', 'sesame_outbox_depth', 'sesame_outbox_oldest_age_seconds', 'sesame_rate_limit_hits_total']) {
        expect(text).to.include(`# TYPE ${name} `);
      }
      expect(value('sesame_logins_started_total')).to.equal(1);
      expect(value('sesame_logins_completed_total')).to.equal(1);
      expect(value('sesame_emails_total{result="queued"}')).to.equal(1);
      expect(value('sesame_emails_total{result="sent"}')).to.equal(1);
      expect(value('sesame_rate_limit_hits_total{limit="email"}')).to.equal(1);
      expect(value('sesame_outbox_depth')).to.equal(0);
      expect(value('sesame_http_requests_total{route="/interaction/:uid/email",method="POST",status="429"}')).to.equal(1);
      expect(value('sesame_http_requests_total{route="/token",method="POST",status="200"}')).to.equal(1);
      // routes are patterns: no interaction uid or token in any label
      expect(text).not.to.match(/route="\/(interaction|auth)\/(?!:uid)/);
    } finally {
      await server.close();
    }
  });
});

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
      const listed = JSON.parse(byEmail.stdout) as { type: string; email: string; at: string }[];
      // newest first; the mail worker's email.sent lands whenever delivery happens, so it is checked below, not in order
      expect(listed.map((e) => e.type).filter((type) => !type.startsWith('email.')).reverse()).to.deep.equal([
        'login.requested', 'link.opened', 'login.approved', 'login.completed',
        'login.requested', 'link.opened', 'login.approved', 'login.completed',
        'login.requested', 'link.opened', 'login.denied',
        'login.throttled',
      ]);
      expect(listed.every((e) => e.email === email)).to.equal(true);
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

describe('logs', function () {
  this.timeout(60_000);

  it('every line of a request carries the request id echoed in X-Request-Id; no line holds an email address, a token or a code', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _encoding, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
    const server = await startTestServer('sqlite', {}, { logger: createLogger('info', sink) });
    try {
      const registered = await registerClient(server.sesame, { isPublic: true, firstParty: true });
      const config = await discover(server.issuer, registered);
      const browser = new Browser(server.issuer);
      const email = 'logged.person@example.com';
      const hops: { path: string; requestId: string; lines: Record<string, unknown>[] }[] = [];

      /** One request, its response's X-Request-Id, and the log lines written while it ran. */
      const step = async (send: () => Promise<Response>) => {
        const before = lines.length;
        const res = await send();
        const body = await res.text();
        const requestId = res.headers.get('x-request-id');
        expect(requestId, `X-Request-Id on ${res.url}`).to.match(/^[A-Za-z0-9._-]{8,64}$/);
        hops.push({ path: new URL(res.url).pathname, requestId: requestId!, lines: lines.slice(before).map((l) => JSON.parse(l)) });
        return { res, body, location: res.headers.get('location') };
      };
      /** Follows redirects on the server, one logged step per hop, like a browser. */
      const navigate = async (url: string, form?: Record<string, string>) => {
        let current = url;
        let next = await step(() => browser.send(current, form ? { form } : {}));
        for (let hop = 0; next.location && hop < 10; hop++) {
          const target = new URL(next.location, current);
          if (target.origin !== server.issuer) return { url: current, body: next.body, location: target.toString() };
          current = target.toString();
          next = await step(() => browser.send(current));
        }
        return { url: current, body: next.body, location: undefined };
      };

      const start = await startAuthorization(config);
      const formPage = await navigate(start.url.toString());
      const form = findForm(formPage.body, /\/email$/);
      const checkEmail = await navigate(new URL(form.action, formPage.url).toString(), { ...form.fields, email });
      expect(checkEmail.body).to.include('Check your email');
      const { link, code } = loginDetails(await server.smtp.waitFor(email));
      const verify = await navigate(link);
      const verifyForm = findForm(verify.body, '/login/verify');
      const done = await navigate(new URL(verifyForm.action, verify.url).toString(), verifyForm.fields);
      expect(done.location).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
      const authorizationCode = new URL(done.location!).searchParams.get('code')!;
      const token = await step(() => fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'x-request-id': 'caller-chosen-id-0001' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: authorizationCode, redirect_uri: REDIRECT_URI, code_verifier: start.verifier, client_id: registered.clientId }),
      }));
      const tokens = JSON.parse(token.body) as Record<string, string>;
      expect(tokens.access_token).to.be.a('string');
      expect(hops[hops.length - 1].requestId, 'a valid incoming request id is kept').to.equal('caller-chosen-id-0001');

      expect(hops.length).to.be.at.least(8);
      expect(new Set(hops.map((h) => h.requestId)).size, 'one id per request').to.equal(hops.length);
      for (const hop of hops) {
        // the outbox worker logs on its own schedule, outside any request
        const own = hop.lines.filter((line) => line.outboxId === undefined);
        expect(own.length, `log lines of ${hop.path}`).to.be.at.least(1);
        for (const line of own) expect(line.requestId, `${hop.path}: ${JSON.stringify(line)}`).to.equal(hop.requestId);
        expect(own.some((line) => line.msg === 'request' && line.path === hop.path), `the access line of ${hop.path}`).to.equal(true);
      }

      const log = lines.join('\n');
      expect(log).not.to.include(email);
      expect(log).not.to.match(/[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/);
      for (const secret of [new URL(link).searchParams.get('t')!, authorizationCode, tokens.access_token, tokens.id_token, tokens.refresh_token].filter(Boolean)) {
        expect(log).not.to.include(secret);
      }
      expect(log).not.to.match(new RegExp(`(?<![\\w-])${code}(?![\\w-])`));
    } finally {
      await server.close();
    }
  });
});

/**
 * Three instances (three knex pools, as three processes would have) migrate one database at the
 * same moment; `prepare` may bring the database to an older version first.
 */
async function migrateThreeAtOnce(kind: 'sqlite' | 'postgres', prepare?: (core: Core) => Promise<void>): Promise<void> {
  const database = await createTestDatabase(kind);
  const config = () => loadConfig({ mode: 'test', env: { DATABASE_URL: database.url, DATA_DIR: database.dataDir, LOG_LEVEL: 'silent', ...TEST_SECRETS } });
  const cores: Core[] = [];
  try {
    if (prepare) {
      const db = openDatabase(config().database);
      try {
        await prepare({ db } as Core);
      } finally {
        await closeDatabase(db);
      }
    }
    const results = await Promise.allSettled([openCore(config()), openCore(config()), openCore(config())]);
    for (const result of results) if (result.status === 'fulfilled') cores.push(result.value);
    expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).to.deep.equal(['ok', 'ok', 'ok']);

    const expected = readdirSync(migrationsDir).filter((f) => f.endsWith('.js')).sort();
    const applied = (await cores[0].db('knex_migrations').select('name')).map((r) => r.name as string).sort();
    expect(applied, 'each migration exactly once').to.deep.equal(expected);
    for (const core of cores) {
      const [, pending] = await core.db.migrate.list() as [unknown[], unknown[]];
      expect(pending).to.have.length(0);
    }
    for (const table of ['accounts', 'clients', 'login_requests', 'mail_outbox', 'oidc_payloads', 'rate_events', 'signing_keys', 'audit_events']) {
      expect(await cores[0].db.schema.hasTable(table), table).to.equal(true);
    }
  } finally {
    for (const core of cores) await core.close();
    await database.drop();
  }
}

for (const kind of DB_KINDS) {
  describe(`migrations from several instances at once (${kind})`, function () {
    this.timeout(60_000);

    it('three instances upgrading a database of an older version at the same time all start, and each migration is applied once', async () => {
      // the first migration only: knex's own bookkeeping tables exist, the rest is pending
      await migrateThreeAtOnce(kind, async ({ db }) => {
        await db.migrate.up();
        expect((await db('knex_migrations').select('name')).length).to.equal(1);
      });
    });

    // knex creates its own tables before its lock exists: Sesame holds an advisory lock around the
    // whole run on PostgreSQL and retries on SQLite (src/store/db.ts migrate)
    it('three instances migrating a fresh database at the same time all start, and each migration is applied once', async () => {
      await migrateThreeAtOnce(kind);
    });
  });
}
