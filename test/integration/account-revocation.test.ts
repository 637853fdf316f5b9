import { expect } from 'chai';
import { randomToken } from '../../src/shared/crypto.js';
import { KnexAccountStore } from '../../src/store/account-store.js';
import { transaction } from '../../src/store/db.js';
import { KnexEmailChangeStore } from '../../src/store/email-change-store.js';
import { testMailBox } from '../support/payload-secrets.js';
import { DB_KINDS } from '../support/databases.js';
import { openMigratedDatabase, type MigratedDatabase } from './migrated-database.js';

/**
 * Disabling an account, deleting it and confirming a new address each end the account's sessions
 * and tokens in the same transaction as the change itself: when the revocation fails half-way,
 * the change does not happen either (and the other way round), so no account ends up disabled
 * or moved with its old sessions still working.
 */
for (const kind of DB_KINDS) {
  describe(`account changes and their revocation are one transaction (${kind})`, function () {
    this.timeout(30_000);
    let store: MigratedDatabase;
    let accounts: KnexAccountStore;
    let n = 0;

    before(async () => {
      store = await openMigratedDatabase(kind);
      accounts = new KnexAccountStore(store.db);
    });
    after(() => store?.close());

    /** An account with a live session whose app is owed a back-channel logout when it ends. */
    async function signedIn() {
      const email = `revoke${++n}@example.com`;
      const account = await accounts.insertIfAbsent({ id: randomToken(16), email, emailVerified: true, status: 'active', createdAt: Date.now(), lastLoginAt: null });
      await store.db('oidc_payloads').insert({
        type: 'Session', id: `h.${randomToken()}`, account_id: account.id, expires_at: Date.now() + 3_600_000,
        payload: JSON.stringify({ accountId: account.id, authorizations: { app: { sid: 'sid-1' } } }),
      });
      return account;
    }
    const liveRows = async (accountId: string) => Number((await store.db('oidc_payloads').where({ account_id: accountId }).count({ n: '*' }).first())!.n);

    /** Makes the revocation's last statement fail (the table its pending sign-ins are in is gone), runs `work`, restores it. */
    async function withFailingRevocation(work: () => Promise<unknown>): Promise<unknown> {
      await store.db.schema.renameTable('login_requests', 'login_requests_away');
      try {
        return await work().then(() => undefined, (error: unknown) => error);
      } finally {
        await store.db.schema.renameTable('login_requests_away', 'login_requests');
      }
    }

    it('disabling: the status does not change when the revocation fails, and both happen together otherwise', async () => {
      const account = await signedIn();
      expect(await withFailingRevocation(() => accounts.disable(account.id, account.email, Date.now()))).to.be.instanceOf(Error);
      expect((await accounts.findById(account.id))?.status).to.equal('active');
      expect(await liveRows(account.id)).to.equal(1);

      expect(await accounts.disable(account.id, account.email, Date.now())).to.equal(true);
      expect((await accounts.findById(account.id))?.status).to.equal('disabled');
      expect(await liveRows(account.id)).to.equal(0);
      expect(await store.db('backchannel_logouts').where({ account_id: account.id })).to.have.length(1);
    });

    it('deleting: the account stays when the revocation fails', async () => {
      const account = await signedIn();
      expect(await withFailingRevocation(() => accounts.remove(account.id, account.email))).to.be.instanceOf(Error);
      expect(await accounts.findById(account.id)).to.not.equal(undefined);
      expect(await accounts.remove(account.id, account.email)).to.equal(true);
      expect(await accounts.findById(account.id)).to.equal(undefined);
      expect(await liveRows(account.id)).to.equal(0);
    });

    it('deleting while another connection writes: the deletion waits its turn and succeeds, never fails for a stale read', async () => {
      // Another request holds the write lock (on SQLite: the whole database) while the deletion
      // starts, and lets go as soon as the deletion has run a statement or asked to write. A
      // deletion whose transaction read before it wrote would have read the database as it was
      // before that other write, and SQLite refuses such a transaction its write at once
      // (SQLITE_BUSY, whatever the busy timeout): an answer of 503 instead of "deleted" or
      // "already deleted" under concurrent requests.
      const account = await signedIn();
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let held!: () => void;
      const holding = new Promise<void>((resolve) => (held = resolve));
      const other = transaction(store.db, async (sql) => {
        await sql.changes('insert into rate_events (key, at) values (?, ?)', ['someone-else', Date.now()]);
        held();
        await released;
      });
      await holding;
      const statement = /^\s*(select|insert|update|delete)\b/i;
      const onQuery = (query: { sql: string }) => {
        if (/^\s*(insert|update|delete)\b/i.test(query.sql)) release();
      };
      const onResponse = (_response: unknown, query: { sql: string }) => {
        if (statement.test(query.sql)) release();
      };
      store.db.on('query', onQuery).on('query-response', onResponse);
      try {
        expect(await accounts.remove(account.id, account.email)).to.equal(true);
      } finally {
        release();
        store.db.off('query', onQuery).off('query-response', onResponse);
        await other;
      }
      expect(await accounts.findById(account.id)).to.equal(undefined);
      expect(await liveRows(account.id)).to.equal(0);
    });

    it('confirming a new address: the address does not move when the revocation fails; otherwise the old sessions end with the move', async () => {
      const account = await signedIn();
      const changes = new KnexEmailChangeStore(store.db, testMailBox());
      const now = Date.now();
      const change = { id: randomToken(16), accountId: account.id, oldEmail: account.email, newEmail: `moved${n}@example.com`, tokenHash: randomToken(32), state: 'pending' as const, locale: 'en', createdAt: now, expiresAt: now + 3_600_000, confirmedAt: null };
      const mail = { to: change.newEmail, subject: 's', text: 't', html: 'h', expiresAt: change.expiresAt };
      await changes.create(change, mail);
      const notice = { ...mail, to: account.email };

      expect(await withFailingRevocation(() => changes.confirm(change, now, notice))).to.be.instanceOf(Error);
      expect((await accounts.findById(account.id))?.email).to.equal(account.email);
      expect(await liveRows(account.id)).to.equal(1);

      expect(await changes.confirm(change, now, notice)).to.equal('confirmed');
      expect((await accounts.findById(account.id))?.email).to.equal(change.newEmail);
      expect(await liveRows(account.id)).to.equal(0);
    });
  });
}
