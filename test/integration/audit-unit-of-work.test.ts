import { expect } from 'chai';
import { errors } from 'oidc-provider';
import { AuditLog, type AuditEvent, type AuditStore } from '../../src/audit/audit.js';
import type { Logger } from '../../src/shared/logger.js';
import { KnexAuditStore } from '../../src/store/audit-store.js';
import { withRequestScope } from '../../src/store/request-memo.js';
import { UnitOfWork } from '../../src/store/unit-of-work.js';
import { DB_KINDS } from '../support/databases.js';
import { openMigratedDatabase, type MigratedDatabase } from './migrated-database.js';

/** The real store, counting the INSERTs it makes by itself (outside a unit of work). */
class CountingStore implements AuditStore {
  ownInserts = 0;
  constructor(private readonly inner: KnexAuditStore) {}

  async insertMany(events: readonly { event: AuditEvent; at: number }[]): Promise<void> {
    this.ownInserts++;
    return this.inner.insertMany(events);
  }

  collect: AuditStore['collect'] = (event, at, alone) => this.inner.collect(event, at, alone);
  query: AuditStore['query'] = (filter) => this.inner.query(filter);
}

const silent = { error: () => undefined } as unknown as Logger;

/**
 * Issue 20: a request's audit events are stored with its other writes, in the transaction at the
 * end of its unit of work, and never lost when those writes are dropped or refused.
 */
for (const kind of DB_KINDS) {
  describe(`audit events in a request's unit of work (${kind})`, function () {
    this.timeout(20_000);
    let migrated: MigratedDatabase;
    let store: CountingStore;
    let audit: AuditLog;

    beforeEach(async () => {
      migrated = await openMigratedDatabase(kind);
      store = new CountingStore(new KnexAuditStore(migrated.db));
      audit = new AuditLog(store, silent);
    });
    afterEach(async () => {
      await migrated?.close();
    });

    const stored = async (clientId: string) => (await migrated.db('audit_events').where('client_id', clientId).orderBy('id').select('type')).map((row) => row.type as string);
    const aWrite = (id: string) => ({ sql: 'insert into rate_events (key, at) values (?, ?)', bindings: [id, Date.now()] });

    /** Runs `fn` as a request would, then finishes its unit as the HTTP layer does. */
    async function inRequest(commit: boolean, fn: (unit: UnitOfWork) => Promise<void>): Promise<unknown> {
      const unit = new UnitOfWork();
      await withRequestScope(unit, () => fn(unit));
      return unit.finish(commit).then(() => undefined, (error: unknown) => error);
    }

    it('writes the events with the request\'s writes, in its transaction, and none before', async () => {
      await inRequest(true, async (unit) => {
        unit.add(migrated.db, aWrite('with-writes'));
        await audit.record({ type: 'link.opened', clientId: 'c-commit' });
        await audit.record({ type: 'login.approved', clientId: 'c-commit' });
        // record() answered at once: the events wait for the end of the request
        expect(await stored('c-commit')).to.deep.equal([]);
      });
      expect(await stored('c-commit')).to.deep.equal(['link.opened', 'login.approved']);
      expect(store.ownInserts).to.equal(0);
      expect(Number((await migrated.db('rate_events').where('key', 'with-writes').count({ n: '*' }))[0].n)).to.equal(1);
    });

    it('still writes the events of a request whose writes are dropped (a server error)', async () => {
      await inRequest(false, async (unit) => {
        unit.add(migrated.db, aWrite('dropped'));
        await audit.record({ type: 'login.failed', clientId: 'c-dropped' });
      });
      expect(await stored('c-dropped')).to.deep.equal(['login.failed']);
      expect(Number((await migrated.db('rate_events').where('key', 'dropped').count({ n: '*' }))[0].n)).to.equal(0);
    });

    it('still writes the events of a request whose transaction is refused (a code another request spent)', async () => {
      const error = await inRequest(true, async (unit) => {
        unit.add(migrated.db, aWrite('refused'));
        unit.add(migrated.db, { sql: 'update rate_events set at = ? where key = ?', bindings: [0, 'no such key'], mustChange: () => new errors.InvalidGrant('spent') });
        await audit.record({ type: 'login.failed', clientId: 'c-refused' });
      });
      expect(error).to.be.instanceOf(errors.InvalidGrant);
      expect(await stored('c-refused')).to.deep.equal(['login.failed']);
      expect(Number((await migrated.db('rate_events').where('key', 'refused').count({ n: '*' }))[0].n)).to.equal(0);
    });

    it('writes the events of a request with no writes of its own before it answers', async () => {
      await inRequest(true, async () => {
        await audit.record({ type: 'login.requested', clientId: 'c-alone' });
      });
      expect(await stored('c-alone')).to.deep.equal(['login.requested']);
      expect(store.ownInserts).to.equal(1);
    });
  });
}
