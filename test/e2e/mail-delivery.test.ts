import { expect } from 'chai';
import { Browser, findForm, type Page } from '../support/browser.js';
import { freePort } from '../support/cli.js';
import { createTestDatabase, type DbKind } from '../support/databases.js';
import { discover, registerClient, startAuthorization, type client } from '../support/relying-party.js';
import { eventually, ScriptedSmtp, SilentServer } from '../support/smtp-peers.js';
import { SmtpSink } from '../support/smtp-sink.js';
import { startTestServer, type TestServer, type TestServerOptions } from '../support/test-server.js';

// startTestServer runs the outbox with a 200 ms poll and 200 ms base back-off
const POLL_MS = 200;

interface Flow {
  browser: Browser;
  form: Page;
}

async function serverWithClient(kind: DbKind, env: Record<string, string>, options: TestServerOptions = {}) {
  const server = await startTestServer(kind, env, options);
  const config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
  return { server, config };
}

/** A fresh browser at the email form of a new authorization request. */
async function openForm(server: TestServer, config: client.Configuration): Promise<Flow> {
  const browser = new Browser(server.issuer);
  const form = await browser.get((await startAuthorization(config)).url.toString());
  expect(form.body).to.include('name="email"');
  return { browser, form };
}

/** POSTs the email form once, without following the redirect. */
function postEmail({ browser, form }: Flow, email: string): Promise<Response> {
  const { action, fields } = findForm(form.body, /\/email$/);
  return browser.send(new URL(action, form.url).toString(), { form: { ...fields, email } });
}

interface OutboxRow {
  id: number;
  login_request_id: string;
  status: string;
  attempts: number;
  last_error: string | null;
  text_body: string | null;
  html_body: string | null;
  next_attempt_at: number;
}

async function outboxRow(server: TestServer, recipient: string): Promise<OutboxRow> {
  const rows = await server.sesame.db('mail_outbox').where({ recipient });
  expect(rows, `one queued message to ${recipient}`).to.have.length(1);
  return { ...rows[0], attempts: Number(rows[0].attempts), next_attempt_at: Number(rows[0].next_attempt_at) };
}

async function auditOf(server: TestServer, loginRequestId: string): Promise<{ type: string; details: Record<string, unknown> }[]> {
  const rows = await server.sesame.db('audit_events').where({ login_request_id: loginRequestId }).orderBy('id');
  return rows.map((row) => ({ type: row.type, details: row.details ? JSON.parse(row.details) : {} }));
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('mail delivery against a real SMTP peer', function () {
  this.timeout(60_000);

  it('connection refused: the page answers before any retry, the worker retries, and a server that comes up later gets the mail once', async () => {
    const port = await freePort(); // nothing listens here until the test opens a server on it
    const { server, config } = await serverWithClient('sqlite', { SMTP_URL: `smtp://127.0.0.1:${port}` });
    let smtp: ScriptedSmtp | undefined;
    try {
      const address = 'refused@example.com';
      const answer = await postEmail(await openForm(server, config), address);
      const atAnswer = await outboxRow(server, address);
      expect(answer.status).to.equal(303);
      expect(answer.headers.get('location')).to.match(/^\/interaction\/[\w-]+$/);
      // a page that waited for SMTP (and its retries) would only answer once attempts had piled up
      expect(atAnswer.attempts, 'attempts when the page answered').to.be.at.most(1);
      expect(atAnswer.status).to.be.oneOf(['pending', 'sending']);

      const failed = await eventually('a failed attempt recorded', async () => {
        const row = await outboxRow(server, address);
        return row.status === 'pending' && row.attempts >= 1 && row.last_error ? row : undefined;
      });
      expect(failed.last_error).to.match(/ECONNREFUSED/);
      expect(failed.text_body, 'the body is kept for the retry').to.be.a('string');
      const retries = (await auditOf(server, failed.login_request_id)).filter((e) => e.type === 'email.retry');
      expect(retries.length).to.be.at.least(1);
      expect(retries[0].details).to.include({ attempts: 1 });
      expect(String(retries[0].details.reason)).to.match(/ECONNREFUSED/);

      smtp = await new ScriptedSmtp().start(port);
      const sent = await eventually('delivery by a later retry', async () => {
        const row = await outboxRow(server, address);
        return row.status === 'sent' ? row : undefined;
      }, 20_000);
      expect(sent.attempts).to.be.at.least(2);
      expect(sent.text_body).to.equal(null);
      expect(sent.html_body).to.equal(null);
      expect(sent.last_error).to.equal(null);
      await pause(5 * POLL_MS);
      expect(smtp.countTo(address), 'delivered exactly once').to.equal(1);
      expect(smtp.messages[0].parsed.text).to.match(/\/login\/verify\?t=/);
      const types = (await auditOf(server, sent.login_request_id)).map((e) => e.type);
      expect(types.filter((t) => t === 'email.sent')).to.have.length(1);
      expect(types[types.length - 1]).to.equal('email.sent');
    } finally {
      await server.close();
      await smtp?.close();
    }
  });

  it('a server that accepts and never greets: the page answers while the connection hangs, the worker gives up after SMTP_TIMEOUT_SECONDS and retries', async () => {
    const silent = await new SilentServer().start();
    const { server, config } = await serverWithClient('sqlite', { SMTP_URL: silent.url, SMTP_TIMEOUT_SECONDS: '1' });
    try {
      const first = await openForm(server, config);
      const second = await openForm(server, config);
      expect((await postEmail(first, 'hang1@example.com')).status).to.equal(303);
      const held = (await eventually('the worker connected to the silent server', () => silent.hanging()[0]));

      const answer = await postEmail(second, 'hang2@example.com');
      // ordering, not timing: at the moment the page answered, the worker's connection was still
      // open and had never been greeted
      const stillHanging = held.closedAt === undefined && held.socket.bytesWritten === 0;
      expect(answer.status).to.equal(303);
      expect(stillHanging, 'the SMTP connection was still hanging when the page answered').to.equal(true);

      const givenUp = await eventually('the attempt given up and rescheduled', async () => {
        const row = await outboxRow(server, 'hang1@example.com');
        return row.status === 'pending' && row.attempts >= 1 && row.last_error ? row : undefined;
      });
      expect(givenUp.last_error).to.match(/greeting|timeout/i);
      expect(held.closedAt, 'the worker closed the hung connection').to.be.a('number');
      // SMTP_TIMEOUT_SECONDS=1, not nodemailer's default of 30 s for the greeting
      expect(held.closedAt! - held.openedAt).to.be.below(5_000);
      const retry = (await auditOf(server, givenUp.login_request_id)).find((e) => e.type === 'email.retry');
      expect(retry?.details).to.include({ attempts: 1 });
      // and it keeps trying, recording each attempt
      await eventually('a second attempt', async () => (await outboxRow(server, 'hang1@example.com')).attempts >= 2, 15_000);
      expect(silent.connections.length).to.be.at.least(2);
    } finally {
      await server.close();
      await silent.close();
    }
  });

  it('451 then success: retried, delivered once, after two attempts', async () => {
    const address = 'greylisted@example.com';
    const smtp = await new ScriptedSmtp((_to, attempt) => (attempt === 1 ? { code: 451, message: '4.7.1 Greylisted, try again later' } : undefined)).start();
    const { server, config } = await serverWithClient('sqlite', { SMTP_URL: smtp.url });
    try {
      expect((await postEmail(await openForm(server, config), address)).status).to.equal(303);
      const sent = await eventually('delivery', async () => {
        const row = await outboxRow(server, address);
        return row.status === 'sent' ? row : undefined;
      });
      expect(sent.attempts).to.equal(2);
      expect(sent.text_body).to.equal(null);
      expect(sent.html_body).to.equal(null);
      await pause(5 * POLL_MS);
      expect(smtp.rcptAttempts.filter((a) => a === address)).to.have.length(2);
      expect(smtp.countTo(address)).to.equal(1);
      expect(smtp.messages).to.have.length(1);
      const events = await auditOf(server, sent.login_request_id);
      expect(events.map((e) => e.type)).to.deep.equal(['login.requested', 'email.retry', 'email.sent']);
      expect(String(events[1].details.reason)).to.include('451');
      expect(events[2].details).to.include({ attempts: 2 });
    } finally {
      await server.close();
      await smtp.close();
    }
  });

  it('550: permanent, failed after one attempt, body wiped, audited, never retried', async () => {
    const address = 'nobody@example.com';
    const smtp = await new ScriptedSmtp(() => ({ code: 550, message: '5.1.1 No such user' })).start();
    const { server, config } = await serverWithClient('sqlite', { SMTP_URL: smtp.url });
    try {
      expect((await postEmail(await openForm(server, config), address)).status).to.equal(303);
      const failed = await eventually('the message marked failed', async () => {
        const row = await outboxRow(server, address);
        return row.status === 'failed' ? row : undefined;
      });
      expect(failed.attempts).to.equal(1);
      expect(failed.text_body).to.equal(null);
      expect(failed.html_body).to.equal(null);
      expect(failed.last_error).to.include('550');
      // proving an absence: several poll intervals in which a retry would have happened
      await pause(8 * POLL_MS);
      const later = await outboxRow(server, address);
      expect(later.status).to.equal('failed');
      expect(later.attempts).to.equal(1);
      expect(smtp.rcptAttempts).to.deep.equal([address]);
      expect(smtp.messages).to.have.length(0);
      const events = await auditOf(server, failed.login_request_id);
      expect(events.map((e) => e.type)).to.deep.equal(['login.requested', 'email.failed']);
      expect(events[1].details).to.include({ attempts: 1 });
      expect(String(events[1].details.reason)).to.include('550');
    } finally {
      await server.close();
      await smtp.close();
    }
  });

  it('two instances on one PostgreSQL database with one SMTP server: every message is delivered exactly once', async () => {
    const database = await createTestDatabase('postgres', { migrated: true });
    const sink = await new SmtpSink().start();
    const env = { SMTP_URL: sink.url };
    const a = await serverWithClient('postgres', env, { database });
    const b = await startTestServer('postgres', env, { database });
    try {
      const bConfig = await discover(b.issuer, { clientId: a.config.clientMetadata().client_id });
      const addresses = Array.from({ length: 24 }, (_, i) => `many${i}@example.com`);
      const flows = await Promise.all(addresses.map((_, i) => (i % 2 === 0 ? openForm(a.server, a.config) : openForm(b, bConfig))));
      const answers = await Promise.all(flows.map((flow, i) => postEmail(flow, addresses[i])));
      expect(answers.map((r) => r.status)).to.deep.equal(addresses.map(() => 303));

      await eventually('every message sent', async () => {
        const rows = await a.server.sesame.db('mail_outbox').whereIn('recipient', addresses);
        return rows.length === addresses.length && rows.every((row) => row.status === 'sent');
      }, 20_000);
      await pause(5 * POLL_MS);
      for (const address of addresses) expect(sink.countTo(address), address).to.equal(1);
      expect(sink.messages).to.have.length(addresses.length);
      const rows = await a.server.sesame.db('mail_outbox').whereIn('recipient', addresses);
      expect(rows.map((row) => Number(row.attempts))).to.deep.equal(addresses.map(() => 1));
      expect(await a.server.sesame.db('audit_events').where({ type: 'email.sent' }).count({ n: '*' })).to.deep.equal([{ n: addresses.length }]);
    } finally {
      await a.server.close();
      await b.close();
      await sink.close();
      await database.drop();
    }
  });

  it('a message whose sign-in expired while SMTP was down is not sent late', async () => {
    const address = 'toolate@example.com';
    const port = await freePort();
    const { server, config } = await serverWithClient('sqlite', { SMTP_URL: `smtp://127.0.0.1:${port}` });
    let smtp: ScriptedSmtp | undefined;
    try {
      expect((await postEmail(await openForm(server, config), address)).status).to.equal(303);
      const waiting = await eventually('a failed attempt', async () => {
        const row = await outboxRow(server, address);
        return row.status === 'pending' && row.attempts >= 1 ? row : undefined;
      });
      const past = Date.now() - 1_000;
      await server.sesame.db('login_requests').where({ id: waiting.login_request_id }).update({ expires_at: past });
      // due at once: if the worker ignored the expiry it would send on its next pass
      await server.sesame.db('mail_outbox').where({ id: waiting.id }).update({ expires_at: past, next_attempt_at: Date.now() });
      smtp = await new ScriptedSmtp().start(port);

      const expired = await eventually('the message marked expired', async () => {
        const row = await outboxRow(server, address);
        return row.status === 'expired' ? row : undefined;
      });
      expect(expired.text_body).to.equal(null);
      expect(expired.html_body).to.equal(null);
      await pause(8 * POLL_MS);
      expect((await outboxRow(server, address)).status).to.equal('expired');
      expect(smtp.rcptAttempts, 'the SMTP server was never asked').to.deep.equal([]);
      expect(smtp.messages).to.have.length(0);
      expect((await auditOf(server, waiting.login_request_id)).map((e) => e.type)).not.to.include('email.sent');
    } finally {
      await server.close();
      await smtp?.close();
    }
  });
});
