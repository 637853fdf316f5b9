import { expect } from 'chai';
import type { LoginRequest } from '../../src/login/login-request.js';
import type { QueuedMail } from '../../src/mail/message.js';
import { randomToken } from '../../src/shared/crypto.js';
import type { Db } from '../../src/store/db.js';
import { KnexLoginRequestStore } from '../../src/store/login-request-store.js';
import { KnexOutboxStore, openBody } from '../../src/store/outbox-store.js';
import { sweepExpired } from '../../src/store/sweeper.js';
import { testMailBox } from '../support/payload-secrets.js';
import { DB_KINDS } from '../support/databases.js';
import { openMigratedDatabase, type MigratedDatabase } from './migrated-database.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

const uniqueEmail = () => `user-${randomToken(6).toLowerCase().replace(/[^a-z0-9]/g, 'x')}@example.com`;

function makeRequest(overrides: Partial<LoginRequest> = {}): LoginRequest {
  const now = Date.now();
  return {
    id: randomToken(16),
    interactionUid: randomToken(16),
    clientId: 'client-1',
    email: uniqueEmail(),
    tokenHash: randomToken(32),
    codeHash: randomToken(32),
    codeAttempts: 0,
    matchAttempts: 0,
    bindingHash: randomToken(32),
    requesterIp: '203.0.113.5',
    requesterUa: 'Mozilla/5.0 (mocha)',
    status: 'pending',
    matchNumber: 42,
    locale: 'en',
    createdAt: now,
    expiresAt: now + 10 * MINUTE,
    ...overrides,
  };
}

function mailFor(request: LoginRequest, overrides: Partial<QueuedMail> = {}): QueuedMail {
  return {
    to: request.email,
    subject: 'Your sign-in link',
    text: `Sign in: https://id.example.com/login/verify?t=${request.id}`,
    html: `<a href="https://id.example.com/login/verify?t=${request.id}">Sign in</a>`,
    loginRequestId: request.id,
    expiresAt: request.expiresAt,
    ...overrides,
  };
}

async function statusOf(db: Db, id: string): Promise<string | undefined> {
  const row = await db('login_requests').select('status').where({ id }).first();
  return row?.status;
}

function settledCounts<T>(results: PromiseSettledResult<T>[]): { rejected: number; values: T[] } {
  const values = results.filter((r): r is PromiseFulfilledResult<T> => r.status === 'fulfilled').map((r) => r.value);
  return { rejected: results.length - values.length, values };
}

for (const kind of DB_KINDS) {
  describe(`login request store (${kind})`, function () {
    let store: MigratedDatabase;
    let db: Db;
    let requests: KnexLoginRequestStore;

    before(async () => {
      store = await openMigratedDatabase(kind);
      db = store.db;
      requests = new KnexLoginRequestStore(db, testMailBox());
    });
    after(async () => {
      await store?.close();
    });

    describe('create', () => {
      it('inserts the request and, with a mail, one pending outbox row', async () => {
        const request = makeRequest();
        const mail = mailFor(request);
        const outboxId = await requests.create(request, mail);

        expect(await requests.findByTokenHash([request.tokenHash])).to.deep.equal(request);
        const rows = await db('mail_outbox').where({ login_request_id: request.id });
        expect(rows).to.have.length(1);
        const [row] = rows;
        expect(Number(row.id), 'create returns the outbox id').to.equal(outboxId);
        expect(row.status).to.equal('pending');
        expect(row.recipient).to.equal(request.email);
        expect(row.subject).to.equal(mail.subject);
        expect(row.text_body, 'sealed').to.not.include(mail.text);
        expect(openBody(testMailBox(), row, 'text')).to.equal(mail.text);
        expect(openBody(testMailBox(), row, 'html')).to.equal(mail.html);
        expect(Number(row.attempts)).to.equal(0);
        expect(Number(row.next_attempt_at)).to.equal(request.createdAt);
        expect(Number(row.expires_at)).to.equal(mail.expiresAt);
      });

      it('inserts no outbox row without a mail', async () => {
        const request = makeRequest();
        expect(await requests.create(request, undefined)).to.equal(undefined);
        expect(await statusOf(db, request.id)).to.equal('pending');
        expect(await db('mail_outbox').where({ login_request_id: request.id })).to.have.length(0);
        expect(await db('mail_outbox').where({ recipient: request.email })).to.have.length(0);
      });

      it('writes the request and its mail in one transaction: a failing mail insert leaves no trace', async () => {
        const email = uniqueEmail();
        const older = makeRequest({ email });
        await requests.create(older, mailFor(older));
        const request = makeRequest({ email });
        // subject is NOT NULL: the outbox insert fails after the supersede and the request insert ran
        const broken = mailFor(request, { subject: null as unknown as string });

        let failure: unknown;
        await requests.create(request, broken).catch((error: unknown) => {
          failure = error;
        });
        expect(failure).to.be.instanceOf(Error);
        expect(await statusOf(db, request.id), 'the request was rolled back').to.equal(undefined);
        expect(await statusOf(db, older.id), 'the older request was not superseded').to.equal('pending');
        expect(await db('mail_outbox').where({ login_request_id: request.id })).to.have.length(0);
      });

      it('supersedes older pending requests of the same address from the same browser', async () => {
        const email = uniqueEmail();
        const bindingHash = randomToken(32);
        const first = makeRequest({ email, bindingHash });
        const second = makeRequest({ email, bindingHash, createdAt: first.createdAt + 1 });
        const unrelated = makeRequest();
        await requests.create(unrelated, undefined);
        await requests.create(first, undefined);
        await requests.create(second, undefined);
        expect(await statusOf(db, first.id)).to.equal('superseded');
        expect(await statusOf(db, second.id)).to.equal('pending');
        expect(await statusOf(db, unrelated.id)).to.equal('pending');
      });

      it('leaves the pending request another browser asked for: typing someone\'s address does not end their sign-in', async () => {
        const email = uniqueEmail();
        const victims = makeRequest({ email });
        const strangers = makeRequest({ email, createdAt: victims.createdAt + 1 });
        await requests.create(victims, undefined);
        await requests.create(strangers, undefined);
        expect(await statusOf(db, victims.id)).to.equal('pending');
        expect(await statusOf(db, strangers.id)).to.equal('pending');
      });

      it('leaves exactly one pending request when several are created for one address in one browser at the same moment', async () => {
        const email = uniqueEmail();
        const bindingHash = randomToken(32);
        const created = Array.from({ length: 5 }, () => makeRequest({ email, bindingHash }));
        await Promise.all(created.map((request) => requests.create(request, mailFor(request))));
        const pending = await db('login_requests').where({ email, status: 'pending' });
        expect(pending).to.have.length(1);
        expect(await db('login_requests').where({ email })).to.have.length(5);
      });

      it('supersedes older pending requests of the same interaction, whatever the address', async () => {
        const interactionUid = randomToken(16);
        const first = makeRequest({ interactionUid });
        const second = makeRequest({ interactionUid, createdAt: first.createdAt + 1 });
        await requests.create(first, undefined);
        await requests.create(second, undefined);
        expect(first.email).not.to.equal(second.email);
        expect(await statusOf(db, first.id)).to.equal('superseded');
        expect(await statusOf(db, second.id)).to.equal('pending');
      });

      it('leaves approved and completed requests alone', async () => {
        const email = uniqueEmail();
        const interactionUid = randomToken(16);
        const completed = makeRequest({ email });
        const approved = makeRequest({ interactionUid });
        await requests.create(completed, undefined);
        expect(await requests.approve(completed.id, Date.now())).to.equal(true);
        expect(await requests.complete(completed.id, Date.now(), 'account-1')).to.equal(true);
        await requests.create(approved, undefined);
        expect(await requests.approve(approved.id, Date.now())).to.equal(true);

        await requests.create(makeRequest({ email }), undefined);
        await requests.create(makeRequest({ interactionUid }), undefined);
        expect(await statusOf(db, completed.id)).to.equal('completed');
        expect(await statusOf(db, approved.id)).to.equal('approved');
      });
    });

    it('findByTokenHash matches any of several candidate hashes', async () => {
      const request = makeRequest();
      await requests.create(request, undefined);
      expect(await requests.findByTokenHash([randomToken(32), request.tokenHash, randomToken(32)])).to.deep.equal(request);
      expect(await requests.findByTokenHash([request.tokenHash])).to.deep.equal(request);
      expect(await requests.findByTokenHash([randomToken(32), randomToken(32)])).to.equal(undefined);
      expect(await requests.findByTokenHash([])).to.equal(undefined);
      expect(await requests.findByTokenHash([request.codeHash]), 'the code hash is not a token hash').to.equal(undefined);
    });

    it('latestForInteraction returns the newest request of the interaction', async () => {
      const interactionUid = randomToken(16);
      const t = Date.now();
      // inserted out of order: the newest is decided by created_at, not by insertion
      const newest = makeRequest({ interactionUid, createdAt: t + 2000 });
      const oldest = makeRequest({ interactionUid, createdAt: t });
      const middle = makeRequest({ interactionUid, createdAt: t + 1000 });
      await requests.create(newest, undefined);
      await requests.create(oldest, undefined);
      await requests.create(middle, undefined);
      await requests.create(makeRequest({ createdAt: t + 5000 }), undefined);

      const latest = await requests.latestForInteraction(interactionUid);
      expect(latest?.id).to.equal(newest.id);
      expect(latest?.createdAt).to.equal(newest.createdAt);
      expect(await requests.latestForInteraction(randomToken(16))).to.equal(undefined);
    });

    describe('approve', () => {
      it('of 30 parallel approvals exactly one wins', async () => {
        const request = makeRequest();
        await requests.create(request, undefined);
        const now = Date.now();
        const results = await Promise.all(Array.from({ length: 30 }, () => requests.approve(request.id, now)));
        expect(results.filter(Boolean)).to.have.length(1);
        const row = await db('login_requests').where({ id: request.id }).first();
        expect(row.status).to.equal('approved');
        expect(Number(row.approved_at)).to.equal(now);
        expect(await requests.approve(request.id, now)).to.equal(false);
      });

      it('refuses an expired request, also at the exact expiry instant', async () => {
        const now = Date.now();
        const expired = makeRequest({ createdAt: now - 20 * MINUTE, expiresAt: now - 1 });
        const atExpiry = makeRequest({ createdAt: now - 10 * MINUTE, expiresAt: now });
        await requests.create(expired, undefined);
        await requests.create(atExpiry, undefined);
        expect(await requests.approve(expired.id, now)).to.equal(false);
        expect(await requests.approve(atExpiry.id, now)).to.equal(false);
        expect(await statusOf(db, expired.id)).to.equal('pending');
        expect(await requests.approve(atExpiry.id, now - 1), 'still valid a millisecond before').to.equal(true);
      });

      it('refuses a request that is not pending', async () => {
        const email = uniqueEmail();
        const old = makeRequest({ email });
        await requests.create(old, undefined);
        await requests.create(makeRequest({ email, bindingHash: old.bindingHash }), undefined);
        expect(await statusOf(db, old.id)).to.equal('superseded');
        expect(await requests.approve(old.id, Date.now())).to.equal(false);
        expect(await requests.approve(randomToken(16), Date.now())).to.equal(false);
      });
    });

    describe('complete', () => {
      it('only moves an approved request, and of 10 parallel completions exactly one wins', async () => {
        const request = makeRequest();
        await requests.create(request, undefined);
        expect(await requests.complete(request.id, Date.now(), 'account-x'), 'pending cannot complete').to.equal(false);
        expect(await statusOf(db, request.id)).to.equal('pending');

        expect(await requests.approve(request.id, Date.now())).to.equal(true);
        const now = Date.now();
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => requests.complete(request.id, now, `account-${i}`)));
        expect(results.filter(Boolean)).to.have.length(1);
        const winner = results.indexOf(true);
        const row = await db('login_requests').where({ id: request.id }).first();
        expect(row.status).to.equal('completed');
        expect(row.account_id).to.equal(`account-${winner}`);
        expect(Number(row.completed_at)).to.equal(now);
      });
    });

    describe('countAttempt', () => {
      it('with a cap of 5, of 20 parallel attempts exactly 5 are counted', async () => {
        const request = makeRequest();
        await requests.create(request, undefined);
        const now = Date.now();
        const results = await Promise.all(Array.from({ length: 20 }, () => requests.countAttempt('code', request.id, 5, now)));
        const counted = results.filter((r): r is number => r !== undefined);
        expect(counted).to.have.length(5);
        // each attempt sees its own count, so "N tries left" is right even under parallel guesses
        expect([...counted].sort()).to.deep.equal([1, 2, 3, 4, 5]);
        const row = await db('login_requests').select('code_attempts').where({ id: request.id }).first();
        expect(Number(row.code_attempts)).to.equal(5);
        expect(await requests.countAttempt('code', request.id, 5, now)).to.equal(undefined);
        expect((await requests.findByTokenHash([request.tokenHash]))?.codeAttempts).to.equal(5);
      });

      it('counts one by one when called in turn', async () => {
        const request = makeRequest();
        await requests.create(request, undefined);
        const now = Date.now();
        const seen: (number | undefined)[] = [];
        for (let i = 0; i < 4; i++) seen.push(await requests.countAttempt('code', request.id, 3, now));
        expect(seen).to.deep.equal([1, 2, 3, undefined]);
      });

      it('refuses to count on an expired or non-pending request', async () => {
        const now = Date.now();
        const expired = makeRequest({ expiresAt: now - 1 });
        await requests.create(expired, undefined);
        expect(await requests.countAttempt('code', expired.id, 5, now)).to.equal(undefined);

        const locked = makeRequest();
        await requests.create(locked, undefined);
        expect(await requests.setStatus(locked.id, 'pending', 'locked')).to.equal(true);
        expect(await requests.countAttempt('code', locked.id, 5, now)).to.equal(undefined);
        const row = await db('login_requests').select('code_attempts').where({ id: locked.id }).first();
        expect(Number(row.code_attempts)).to.equal(0);
      });

      it('counts wrong numbers apart from wrong codes, with their own cap, also under parallel attempts', async () => {
        const request = makeRequest();
        await requests.create(request, undefined);
        const now = Date.now();
        const results = await Promise.all(Array.from({ length: 10 }, () => requests.countAttempt('match', request.id, 3, now)));
        expect(results.filter((r) => r !== undefined).sort()).to.deep.equal([1, 2, 3]);
        const row = await db('login_requests').select('code_attempts', 'match_attempts').where({ id: request.id }).first();
        expect([Number(row.code_attempts), Number(row.match_attempts)]).to.deep.equal([0, 3]);
        expect(await requests.countAttempt('code', request.id, 3, now)).to.equal(1);
      });
    });

    it('setStatus is guarded by the current status', async () => {
      const request = makeRequest();
      await requests.create(request, undefined);
      expect(await requests.setStatus(request.id, 'approved', 'expired')).to.equal(false);
      expect(await statusOf(db, request.id)).to.equal('pending');
      expect(await requests.setStatus(request.id, 'pending', 'locked')).to.equal(true);
      expect(await requests.setStatus(request.id, 'pending', 'locked')).to.equal(false);
      expect(await statusOf(db, request.id)).to.equal('locked');
    });

    it('supersedePending ends the other pending request of the address once a login completes', async () => {
      const email = uniqueEmail();
      const finished = makeRequest({ email });
      await requests.create(finished, undefined);
      expect(await requests.approve(finished.id, Date.now())).to.equal(true);
      // asked again elsewhere (another tab, another app) while the first one is approved
      const other = makeRequest({ email });
      await requests.create(other, undefined);
      const otherAddress = makeRequest();
      await requests.create(otherAddress, undefined);
      expect(await requests.complete(finished.id, Date.now(), 'account-1')).to.equal(true);

      expect(await requests.supersedePending(email, finished.id)).to.equal(1);
      expect(await statusOf(db, other.id)).to.equal('superseded');
      expect(await statusOf(db, finished.id)).to.equal('completed');
      expect(await statusOf(db, otherAddress.id)).to.equal('pending');
      expect(await requests.supersedePending(email, finished.id)).to.equal(0);
    });
  });

  describe(`mail outbox store (${kind})`, function () {
    let store: MigratedDatabase;
    let db: Db;
    let requests: KnexLoginRequestStore;
    let outbox: KnexOutboxStore;

    before(async () => {
      store = await openMigratedDatabase(kind);
      db = store.db;
      requests = new KnexLoginRequestStore(db, testMailBox());
      outbox = new KnexOutboxStore(db, testMailBox());
    });
    beforeEach(async () => {
      await db('mail_outbox').delete();
    });
    after(async () => {
      await store?.close();
    });

    /** Queues one mail through the login store, created at `createdAt`; returns its outbox id. */
    async function queue(createdAt: number, expiresAt = createdAt + 10 * MINUTE): Promise<{ id: number; request: LoginRequest; mail: QueuedMail }> {
      const request = makeRequest({ createdAt, expiresAt });
      const mail = mailFor(request);
      const id = await requests.create(request, mail);
      return { id: id!, request, mail };
    }

    const rowOf = (id: number) => db('mail_outbox').where({ id }).first();

    it('claims a due message with its content, once', async () => {
      const now = Date.now();
      const { id, mail } = await queue(now);
      const claimed = await outbox.claimDue(now, 10, MINUTE);
      const messageId = claimed[0]?.message.messageId;
      expect(claimed).to.deep.equal([{ id, loginRequestId: mail.loginRequestId, attempts: 1, withheld: false, message: { to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId } }]);
      const row = await rowOf(id);
      expect(row.status).to.equal('sending');
      expect(row.message_id).to.equal(messageId).and.match(/^<[\w-]+@sesame\.invalid>$/);
      expect(Number(row.locked_until)).to.equal(now + MINUTE);
      expect(await outbox.claimDue(now, 10, MINUTE), 'the lease holds').to.deep.equal([]);
      expect(await outbox.claimDue(now + MINUTE - 1, 10, MINUTE)).to.deep.equal([]);
    });

    it('gives a message one Message-ID at its first claim and keeps it for every later attempt', async () => {
      const now = Date.now();
      const { id } = await queue(now);
      const first = (await outbox.claim(id, now, MINUTE))!;
      await outbox.reschedule(id, now + 1, 'ECONNREFUSED');
      const second = (await outbox.claim(id, now + 2, MINUTE))!;
      expect(second.attempts).to.equal(2);
      expect(second.message.messageId).to.equal(first.message.messageId);
    });

    it('claims a message by id (a mail just queued) like a pass would, once', async () => {
      const now = Date.now();
      const { id, mail } = await queue(now);
      const item = await outbox.claim(id, now, MINUTE);
      expect(item).to.deep.equal({ id, loginRequestId: mail.loginRequestId, attempts: 1, withheld: false, message: { to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: item?.message.messageId } });
      expect(Number((await rowOf(id)).locked_until)).to.equal(now + MINUTE);
      expect(await outbox.claim(id, now, MINUTE), 'the lease holds').to.equal(undefined);
      expect(await outbox.claimDue(now, 10, MINUTE)).to.deep.equal([]);
      await outbox.markSent(id, now);
      expect(await outbox.claim(id, now + 2 * MINUTE, MINUTE), 'a sent message is never claimed again').to.equal(undefined);
      const later = await queue(now + 5000);
      expect(await outbox.claim(later.id, now, MINUTE), 'not before it is due').to.equal(undefined);
    });

    it('keeps the bodies sealed in the row, opens them when claimed, and a body moved to another row does not open', async () => {
      const now = Date.now();
      const { id, mail } = await queue(now);
      const row = await rowOf(id);
      for (const column of ['text_body', 'html_body']) {
        expect(row[column]).to.match(/^v1\./);
        expect(row[column]).to.not.include(mail.text);
      }
      const other = await queue(now);
      await db('mail_outbox').where({ id: other.id }).update({ recipient: 'someone-else@example.com', text_body: row.text_body });
      expect((await outbox.claim(id, now, MINUTE))?.message.text).to.equal(mail.text);
      let error: unknown;
      await outbox.claim(other.id, now, MINUTE).catch((e: unknown) => (error = e));
      expect(String(error)).to.include('no configured HMAC secret opens');
      // and with another secret configured (HMAC_SECRETS replaced without keeping the old one) nothing opens either
      const stranger = new KnexOutboxStore(db, testMailBox(['another-secret-0123456789abcdefghijklmn']));
      const third = await queue(now);
      await stranger.claim(third.id, now, MINUTE).then(() => expect.fail('opened'), (e: unknown) => expect(String(e)).to.include('HMAC'));
    });

    it('still sends a plain body queued by a Sesame from before bodies were sealed', async () => {
      const now = Date.now();
      const { id, mail } = await queue(now);
      await db('mail_outbox').where({ id }).update({ text_body: 'plain text', html_body: '<p>plain</p>' });
      const { messageId, ...message } = (await outbox.claim(id, now, MINUTE))!.message;
      expect(message).to.deep.equal({ to: mail.to, subject: mail.subject, text: 'plain text', html: '<p>plain</p>' });
      expect(messageId, 'a row queued before Message-IDs were stored gets one at its claim').to.be.a('string');
    });

    it('queues a withheld message like any other, and marks it withheld (never sent) and wipes it when the worker takes it', async () => {
      const now = Date.now();
      const request = makeRequest({ createdAt: now, expiresAt: now + 10 * MINUTE });
      const id = (await requests.create(request, { ...mailFor(request), suppressed: true }))!;
      const row = await rowOf(id);
      expect([row.status, Boolean(row.withheld)]).to.deep.equal(['pending', true]);
      expect(row.text_body, 'sealed like any other').to.match(/^v1\./);
      const item = await outbox.claim(id, now, MINUTE);
      expect(item?.withheld).to.equal(true);
      await outbox.markWithheld(id, now);
      const after = await rowOf(id);
      expect([after.status, after.text_body, after.html_body]).to.deep.equal(['suppressed', null, null]);
      expect(await outbox.claimDue(now + 2 * MINUTE, 10, MINUTE)).to.deep.equal([]);
    });

    it('claims by id and passes of other workers racing for the same messages: each is claimed exactly once', async () => {
      const now = Date.now();
      const ids: number[] = [];
      for (let i = 0; i < 8; i++) ids.push((await queue(now)).id);
      const [byId, ...passes] = await Promise.all([
        Promise.all(ids.flatMap((id) => [outbox.claim(id, now, MINUTE), outbox.claim(id, now, MINUTE)])),
        ...Array.from({ length: 4 }, () => outbox.claimDue(now, 100, MINUTE)),
      ]);
      const claimed = [...byId.filter((item) => item !== undefined), ...passes.flat()].map((item) => item.id).sort((x, y) => x - y);
      expect(claimed).to.deep.equal(ids);
      const attempts = await db('mail_outbox').whereIn('id', ids).select('attempts');
      expect(attempts.map((r) => Number(r.attempts))).to.deep.equal(ids.map(() => 1));
    });

    it('does not claim a message before it is due', async () => {
      const now = Date.now();
      const { id } = await queue(now + 5000);
      expect(await outbox.claimDue(now, 10, MINUTE)).to.deep.equal([]);
      expect((await rowOf(id)).status).to.equal('pending');
      expect((await outbox.claimDue(now + 5000, 10, MINUTE)).map((item) => item.id)).to.deep.equal([id]);
    });

    it('respects the limit, oldest first', async () => {
      const now = Date.now();
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push((await queue(now)).id);
      const first = await outbox.claimDue(now, 3, MINUTE);
      expect(first.map((item) => item.id)).to.deep.equal(ids.slice(0, 3));
      const rest = await outbox.claimDue(now, 3, MINUTE);
      expect(rest.map((item) => item.id)).to.deep.equal(ids.slice(3));
    });

    it('two concurrent claimDue calls never return the same message, and together claim all of them', async () => {
      const now = Date.now();
      const ids: number[] = [];
      for (let i = 0; i < 10; i++) ids.push((await queue(now)).id);
      const [a, b] = await Promise.all([outbox.claimDue(now, 100, MINUTE), outbox.claimDue(now, 100, MINUTE)]);
      const claimed = [...a, ...b].map((item) => item.id);
      expect(claimed).to.have.length(new Set(claimed).size, `duplicates in ${JSON.stringify(claimed)}`);
      expect([...claimed].sort((x, y) => x - y)).to.deep.equal(ids);
      for (const item of [...a, ...b]) expect(item.attempts).to.equal(1);
      const attempts = await db('mail_outbox').whereIn('id', ids).select('attempts');
      expect(attempts.map((r) => Number(r.attempts))).to.deep.equal(ids.map(() => 1));
    });

    it('many concurrent workers still claim each message exactly once', async () => {
      const now = Date.now();
      const ids: number[] = [];
      for (let i = 0; i < 10; i++) ids.push((await queue(now)).id);
      const batches = await Promise.all(Array.from({ length: 6 }, () => outbox.claimDue(now, 100, MINUTE)));
      const claimed = batches.flat().map((item) => item.id).sort((x, y) => x - y);
      expect(claimed).to.deep.equal(ids);
    });

    it('expires messages past their expiry and wipes their bodies', async () => {
      const now = Date.now();
      const stale = await queue(now - 20 * MINUTE, now - 1);
      const atExpiry = await queue(now - 10 * MINUTE, now);
      const sendingStale = await queue(now - 20 * MINUTE, now - 5 * MINUTE);
      const live = await queue(now);
      // a worker claimed this one before it went stale and then died
      await db('mail_outbox').where({ id: sendingStale.id }).update({ status: 'sending', locked_until: now + MINUTE });

      const claimed = await outbox.claimDue(now, 10, MINUTE);
      expect(claimed.map((item) => item.id)).to.deep.equal([live.id]);
      for (const { id } of [stale, atExpiry, sendingStale]) {
        const row = await rowOf(id);
        expect(row.status, `row ${id}`).to.equal('expired');
        expect(row.text_body).to.equal(null);
        expect(row.html_body).to.equal(null);
      }
      const liveRow = await rowOf(live.id);
      expect(openBody(testMailBox(), liveRow, 'text')).to.equal(live.mail.text);
      expect(openBody(testMailBox(), liveRow, 'html')).to.equal(live.mail.html);
    });

    it('markSent records the send and wipes the bodies', async () => {
      const now = Date.now();
      const { id } = await queue(now);
      await outbox.claimDue(now, 10, MINUTE);
      await outbox.markSent(id, now + 100);
      const row = await rowOf(id);
      expect(row.status).to.equal('sent');
      expect(Number(row.sent_at)).to.equal(now + 100);
      expect(row.locked_until).to.equal(null);
      expect(row.text_body).to.equal(null);
      expect(row.html_body).to.equal(null);
      expect(row.subject).to.equal('Your sign-in link');
      expect(await outbox.claimDue(now + 10 * MINUTE - 1, 10, MINUTE), 'a sent message is never claimed again').to.deep.equal([]);
    });

    it('markFailed records the error and wipes the bodies', async () => {
      const now = Date.now();
      const { id } = await queue(now);
      await outbox.claimDue(now, 10, MINUTE);
      await outbox.markFailed(id, '550 mailbox unavailable');
      const row = await rowOf(id);
      expect(row.status).to.equal('failed');
      expect(row.last_error).to.equal('550 mailbox unavailable');
      expect(row.text_body).to.equal(null);
      expect(row.html_body).to.equal(null);
      expect(await outbox.claimDue(now + 5 * MINUTE, 10, MINUTE)).to.deep.equal([]);
    });

    it('reschedule puts the message back to pending until next_attempt_at, keeping the body', async () => {
      const now = Date.now();
      const { id, mail } = await queue(now);
      await outbox.claimDue(now, 10, MINUTE);
      await outbox.reschedule(id, now + 5000.4, 'ECONNREFUSED');
      const row = await rowOf(id);
      expect(row.status).to.equal('pending');
      expect(Number(row.next_attempt_at)).to.equal(now + 5000);
      expect(row.locked_until).to.equal(null);
      expect(row.last_error).to.equal('ECONNREFUSED');
      expect(openBody(testMailBox(), row, 'text')).to.equal(mail.text);

      expect(await outbox.claimDue(now + 4999, 10, MINUTE)).to.deep.equal([]);
      const again = await outbox.claimDue(now + 5000, 10, MINUTE);
      expect(again.map((item) => [item.id, item.attempts])).to.deep.equal([[id, 2]]);
      expect(again[0].message.text).to.equal(mail.text);
    });

    it('sweepExpired drops login requests and finished mail a day after they end, and nothing younger or unfinished', async () => {
      const now = Date.now();
      const longGone = makeRequest({ createdAt: now - 2 * DAY, expiresAt: now - DAY });
      const recentlyExpired = makeRequest({ createdAt: now - DAY, expiresAt: now - DAY + 1 });
      await requests.create(longGone, undefined);
      await requests.create(recentlyExpired, undefined);
      const oldSent = await queue(now - DAY - 1, now + MINUTE);
      const oldFailed = await queue(now - DAY - 1, now + MINUTE);
      const oldPending = await queue(now - DAY - 1, now + MINUTE);
      const recentSent = await queue(now - DAY + 1, now + MINUTE);
      await outbox.markSent(oldSent.id, now);
      await outbox.markFailed(oldFailed.id, '550');
      await outbox.markSent(recentSent.id, now);

      await sweepExpired(db, now);

      expect(await statusOf(db, longGone.id)).to.equal(undefined);
      expect(await statusOf(db, recentlyExpired.id)).to.equal('pending');
      const left = (await db('mail_outbox').select('id')).map((row) => Number(row.id)).sort((a, b) => a - b);
      expect(left).to.deep.equal([oldPending.id, recentSent.id]);
    });

    it('a sending message whose lease ran out is claimable again', async () => {
      const now = Date.now();
      const { id } = await queue(now);
      const lease = 1000;
      expect((await outbox.claimDue(now, 10, lease)).map((item) => item.id)).to.deep.equal([id]);
      expect(await outbox.claimDue(now + lease - 1, 10, lease)).to.deep.equal([]);
      expect(await outbox.claimDue(now + lease, 10, lease), 'the lease lasts until locked_until').to.deep.equal([]);
      const reclaimed = await outbox.claimDue(now + lease + 1, 10, lease);
      expect(reclaimed.map((item) => [item.id, item.attempts])).to.deep.equal([[id, 2]]);
      expect(Number((await rowOf(id)).locked_until)).to.equal(now + 2 * lease + 1);
    });
  });
}
