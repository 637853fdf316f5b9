import { expect } from 'chai';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/shared/logger.js';
import { Browser, findForm, type Page } from '../support/browser.js';
import { freePort } from '../support/cli.js';
import { DB_KINDS, type DbKind } from '../support/databases.js';
import { discover, registerClient, startAuthorization, type client } from '../support/relying-party.js';
import { eventually, FaultySmtp, type Faults } from '../support/smtp-peers.js';
import { startTestServer, type TestServer, type TestServerOptions } from '../support/test-server.js';

// startTestServer polls the outbox every 200 ms
const POLL_MS = 200;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Row {
  id: number;
  status: string;
  attempts: number;
  message_id: string | null;
  next_attempt_at: number;
  last_error: string | null;
}

/** A server whose mail goes to a faulty relay, with its log lines kept, and a first-party client. */
async function serverWith(kind: DbKind, smtpUrl: string, env: Record<string, string> = {}, options: TestServerOptions = {}) {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _encoding, done) { for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line)); done(); } });
  const server = await startTestServer(kind, { SMTP_URL: smtpUrl, ...env }, { logger: createLogger('info', sink), ...options });
  const config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
  return { server, config, logs };
}

/** Asks for a sign-in email in a fresh browser; returns the waiting page. */
async function askForEmail(server: TestServer, config: client.Configuration, email: string): Promise<{ browser: Browser; waiting: Page }> {
  const browser = new Browser(server.issuer);
  const form = await browser.get((await startAuthorization(config)).url.toString());
  const { action, fields } = findForm(form.body, /\/email$/);
  const answer = await browser.send(new URL(action, form.url).toString(), { form: { ...fields, email } });
  expect(answer.status).to.equal(303);
  const waiting = await browser.get(answer.headers.get('location')!);
  expect(waiting.body).to.include('Check your email');
  return { browser, waiting };
}

async function row(server: TestServer, recipient: string): Promise<Row> {
  const rows = await server.sesame.db('mail_outbox').where({ recipient });
  expect(rows, `one queued message to ${recipient}`).to.have.length(1);
  return { ...rows[0], attempts: Number(rows[0].attempts), next_attempt_at: Number(rows[0].next_attempt_at) };
}

async function metric(server: TestServer, series: string): Promise<number> {
  const text = await server.sesame.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

for (const kind of DB_KINDS) {
  describe(`mail: nothing lost, nothing twice (${kind})`, function () {
    this.timeout(60_000);
    const closers: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
    });
    async function setUp(faults: Faults, env: Record<string, string> = {}, options: TestServerOptions = {}, credentials?: string) {
      const relay = await new FaultySmtp(faults).start();
      closers.push(() => relay.close());
      const { server, config, logs } = await serverWith(kind, relay.url(credentials), env, options);
      closers.push(() => server.close());
      return { relay, server, config, logs };
    }

    it('a relay that takes longer to answer the end of the data than SMTP_TIMEOUT_SECONDS gets the message once, under a lease shorter than the send', async () => {
      // 3 s to answer the final dot: past the old socket time-out (2 × SMTP_TIMEOUT_SECONDS), and
      // three times the lease given to the worker here
      const { relay, server, config } = await setUp({ afterData: () => ({ delayMs: 3_000 }) }, { SMTP_TIMEOUT_SECONDS: '1' }, { outbox: { leaseMs: 1_000 } });
      const address = `slow-${kind}@example.com`;
      await askForEmail(server, config, address);
      const stored = await eventually('the message sent', async () => {
        const current = await row(server, address);
        return current.status === 'sent' && current;
      }, 15_000).catch(async () => row(server, address));
      // proving an absence: several poll intervals in which a second copy would have gone out
      await pause(5 * POLL_MS);
      const copies = relay.receivedBy(address);
      expect({ status: stored.status, copies: copies.length, attempts: stored.attempts }).to.deep.equal({ status: 'sent', copies: 1, attempts: 1 });
      expect(copies[0].parsed.messageId).to.equal(stored.message_id);
    });

    it('a relay that took the message and dropped the connection before answering gets it again, with the same Message-ID', async () => {
      const { relay, server, config } = await setUp({ afterData: (n) => (n === 1 ? { drop: true } : undefined) });
      const address = `dropped-${kind}@example.com`;
      await askForEmail(server, config, address);
      const sent = await eventually('the message sent by a second attempt', async () => {
        const stored = await row(server, address);
        return stored.status === 'sent' ? stored : undefined;
      });
      const copies = relay.receivedBy(address);
      expect(copies.map((mail) => mail.parsed.messageId)).to.deep.equal([sent.message_id, sent.message_id]);
      expect(sent.message_id).to.match(/^<[\w-]+@sesame\.test>$/);
      expect(sent.attempts).to.equal(2);
    });

    it('a recipient the relay refuses (550 to RCPT TO) is given up at once, and the waiting page says so; no relay alarm', async () => {
      const address = `nobody-${kind}@example.com`;
      const { relay, server, config } = await setUp({ rcptTo: (to) => (to === address ? { code: 550, message: '5.1.1 No such user' } : undefined) });
      const { browser, waiting } = await askForEmail(server, config, address);
      const failed = await eventually('the message given up', async () => {
        const stored = await row(server, address);
        return stored.status === 'failed' ? stored : undefined;
      });
      expect(failed.attempts).to.equal(1);
      expect(relay.received).to.have.length(0);
      const status = await browser.get(`${waiting.url}/status`, { accept: 'application/json' });
      expect(JSON.parse(status.body)).to.deep.equal({ status: 'pending', mail: 'failed' });
      // the page carries the outcome its script shows, and a reload shows it from the server
      expect(waiting.body).to.include('<template data-outcome="undeliverable">').and.include('We could not deliver the email to');
      expect((await browser.get(waiting.url)).body).to.include('data-state="undeliverable"');
      expect(await metric(server, 'sesame_mail_relay_failures_total')).to.equal(0);
    });

    for (const [what, faults, stage, credentials] of [
      ['refuses our credentials (535)', { auth: (n: number) => (n <= 2 ? { code: 535, message: '5.7.8 Authentication credentials invalid' } : undefined) }, 'auth', 'sesame:secret'],
      ['refuses our sender (554 to MAIL FROM)', { mailFrom: (n: number) => (n <= 2 ? { code: 554, message: '5.7.1 Relay access denied' } : undefined) }, 'sender', undefined],
      ['refuses the session at its greeting (554)', { connect: (n: number) => (n <= 2 ? { code: 554, message: 'No SMTP service here' } : undefined) }, 'session', undefined],
    ] as const) {
      it(`a relay that ${what} keeps the message, retries it until it goes, and alarms operators (metric and log)`, async () => {
        const { relay, server, config, logs } = await setUp(faults as Faults, {}, {}, credentials);
        const address = `relay-${stage}-${kind}@example.com`;
        const { browser, waiting } = await askForEmail(server, config, address);
        const sent = await eventually('the message sent once the relay takes it', async () => {
          const stored = await row(server, address);
          return stored.status === 'sent' ? stored : undefined;
        });
        expect(sent.attempts).to.equal(3);
        expect(relay.receivedBy(address)).to.have.length(1);
        expect(await metric(server, `sesame_mail_relay_failures_total{stage="${stage}"}`)).to.equal(2);
        const alarms = logs.filter((line) => line.level === 50 && String(line.msg).startsWith('mail relay refused us'));
        expect(alarms.map((line) => line.stage)).to.deep.equal([stage, stage]);
        // the person was never told the mail failed
        const status = await browser.get(`${waiting.url}/status`, { accept: 'application/json' });
        expect(JSON.parse(status.body)).to.deep.equal({ status: 'pending' });
      });
    }
  });
}

describe('mail: late after an outage (sqlite)', function () {
  this.timeout(60_000);

  it('a send that succeeds again ends the back-off of every waiting message: they go at once, not when their retry comes', async () => {
    const port = await freePort(); // nothing listens here until the relay comes back
    // a back-off of 20 s (10 to 30 with jitter) for the first retry: long enough that the first
    // message still waits when the third has failed, however slowly a busy machine asks for them
    const { server, config } = await serverWith('sqlite', `smtp://127.0.0.1:${port}`, {}, { outbox: { baseBackoffMs: 20_000 } });
    let relay: FaultySmtp | undefined;
    try {
      const waitingOut = ['outage1@example.com', 'outage2@example.com', 'outage3@example.com'];
      for (const address of waitingOut) await askForEmail(server, config, address);
      await eventually('each message failed once and waits out its back-off', async () => {
        const rows = await Promise.all(waitingOut.map((address) => row(server, address)));
        return rows.every((r) => r.status === 'pending' && r.attempts === 1 && r.next_attempt_at > Date.now() + 2_000);
      });

      relay = await new FaultySmtp().start(port);
      const before = Date.now();
      await askForEmail(server, config, 'back@example.com');
      await eventually('the new message sent', async () => (await row(server, 'back@example.com')).status === 'sent');
      await eventually('the waiting messages sent', async () => {
        const rows = await Promise.all(waitingOut.map((address) => row(server, address)));
        return rows.every((r) => r.status === 'sent');
      }, 15_000);
      // their retries were due 10 to 30 s after they failed
      expect(Date.now() - before, 'ms from the relay coming back to every waiting message sent').to.be.below(2_000);
      for (const address of waitingOut) expect(relay.receivedBy(address), address).to.have.length(1);
    } finally {
      await server.close();
      await relay?.close();
    }
  });

  it('the wait between two attempts is capped at 30 s, however many attempts failed', async () => {
    const port = await freePort();
    // no limit on attempts here (none is the default): the message stays pending and retried
    const { server, config } = await serverWith('sqlite', `smtp://127.0.0.1:${port}`, {}, { outbox: { maxAttempts: 1_000 } });
    try {
      const address = 'many-attempts@example.com';
      await askForEmail(server, config, address);
      const first = await eventually('a failed attempt', async () => {
        const stored = await row(server, address);
        return stored.status === 'pending' && stored.attempts === 1 ? stored : undefined;
      });
      // as if it had failed 19 times already (a long outage): uncapped, the next wait would be 200 ms × 2^19, about 29 hours
      await server.sesame.db('mail_outbox').where({ id: first.id }).update({ attempts: 19, next_attempt_at: Date.now() });
      const twentieth = await eventually('the 20th attempt failed', async () => {
        const stored = await row(server, address);
        return stored.status === 'pending' && stored.attempts === 20 ? { ...stored, at: Date.now() } : undefined;
      });
      expect(twentieth.next_attempt_at - twentieth.at).to.be.at.most(30_000);
    } finally {
      await server.close();
    }
  });
});
