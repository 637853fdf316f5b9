import { expect } from 'chai';
import { AuditLog, type AuditEvent, type AuditStore } from '../../src/audit/audit.js';
import type { Logger } from '../../src/shared/logger.js';
import { KnexAuditStore } from '../../src/store/audit-store.js';
import { DB_KINDS } from '../support/databases.js';
import { openMigratedDatabase, type MigratedDatabase } from './migrated-database.js';

/** Counts the store's INSERTs; `failNext` makes the next one fail. */
class CountingStore implements AuditStore {
  inserts = 0;
  failNext = false;
  constructor(private readonly inner: AuditStore) {}

  async insertMany(events: readonly { event: AuditEvent; at: number }[]): Promise<void> {
    this.inserts++;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('database gone for a moment');
    }
    return this.inner.insertMany(events);
  }

  query: AuditStore['query'] = (filter) => this.inner.query(filter);
}

function recordingLogger(): { logger: Logger; errors: unknown[] } {
  const errors: unknown[] = [];
  const logger = { error: (...args: unknown[]) => errors.push(args) } as unknown as Logger;
  return { logger, errors };
}

for (const kind of DB_KINDS) {
  describe(`the audit log's writes (${kind})`, function () {
    this.timeout(20_000);
    let migrated: MigratedDatabase;
    let store: CountingStore;

    beforeEach(async () => {
      migrated = await openMigratedDatabase(kind);
      store = new CountingStore(new KnexAuditStore(migrated.db));
    });
    afterEach(async () => {
      await migrated?.close();
    });

    const stored = async (clientId: string) => Number((await migrated.db('audit_events').where('client_id', clientId).count({ n: '*' }))[0].n);

    it('writes events recorded at once in fewer INSERTs, in order, and each record() resolves only once its own event is stored', async () => {
      const audit = new AuditLog(store, recordingLogger().logger);
      const clients = Array.from({ length: 40 }, (_, i) => `client-${String(i).padStart(2, '0')}`);
      const seenAtResolve = await Promise.all(clients.map(async (clientId) => {
        await audit.record({ type: 'login.requested', clientId, details: { n: clientId } });
        // what a request handler relies on when it answers after awaiting record()
        return stored(clientId);
      }));
      expect(seenAtResolve).to.deep.equal(clients.map(() => 1));
      expect(store.inserts).to.be.at.least(1).and.below(clients.length);
      const rows = await migrated.db('audit_events').orderBy('id', 'asc').select('client_id');
      expect(rows.map((row: { client_id: string }) => row.client_id)).to.deep.equal(clients);
    });

    it('logs a failed write without failing the action, and writes later events', async () => {
      const { logger, errors } = recordingLogger();
      const audit = new AuditLog(store, logger);
      store.failNext = true;
      await audit.record({ type: 'login.requested', clientId: 'lost' });
      expect(errors).to.have.length(1);
      await audit.record({ type: 'login.requested', clientId: 'kept' });
      expect(await stored('lost')).to.equal(0);
      expect(await stored('kept')).to.equal(1);
    });

    it('flush() waits for events recorded without waiting (as the provider events are)', async () => {
      const audit = new AuditLog(store, recordingLogger().logger);
      for (let i = 0; i < 5; i++) void audit.record({ type: 'token.revoked', clientId: 'unawaited' });
      await audit.flush();
      expect(await stored('unawaited')).to.equal(5);
    });
  });
}
