import { expect } from 'chai';
import { Browser, findForm, type Page } from '../support/browser.js';
import { DB_KINDS } from '../support/databases.js';
import { discover, exchangeCode, registerClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { eventually } from '../support/smtp-peers.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

/** The form POST of a page, sent once without following the redirect. */
function sendForm(browser: Browser, page: Page, action: string | RegExp, fields: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Response> {
  const form = findForm(page.body, action);
  return browser.send(new URL(form.action, page.url).toString(), { form: { ...form.fields, ...fields }, headers });
}

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
