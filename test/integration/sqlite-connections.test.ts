import { join } from 'node:path';
import { expect } from 'chai';
import { closeDatabase, openDatabase, type Db } from '../../src/store/db.js';
import { KnexRateLimitStore } from '../../src/store/rate-limit-store.js';
import { openMigratedDatabase, type MigratedDatabase } from './migrated-database.js';

/**
 * SQLite with several connections per process (store/db.ts) and several processes on one file
 * (WORKERS): a transaction that counts and then inserts (the rate limits) must still admit exactly
 * the limit, and none may fail because another connection wrote between its read and its write.
 */
describe('SQLite: transactions across connections and handles', function () {
  this.timeout(30_000);
  let migrated: MigratedDatabase;
  let second: Db;

  before(async () => {
    migrated = await openMigratedDatabase('sqlite');
    // a second handle on the same file, as a second worker process has
    second = openDatabase({ client: 'sqlite', filename: join(migrated.database.dataDir, 'sesame.sqlite') });
  });
  after(async () => {
    if (second) await closeDatabase(second);
    await migrated?.close();
  });

  it('admits exactly the limit of 40 concurrent count-then-insert transactions on two handles, with no SQLITE_BUSY', async () => {
    const stores = [new KnexRateLimitStore(migrated.db), new KnexRateLimitStore(second)];
    const rules = [{ key: 'email:race', limit: 7, windowMs: 60_000 }];
    const now = Date.now();
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => stores[i % 2].consume(rules, now)));
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String(r.reason));
    expect(failures).to.deep.equal([]);
    const allowed = results.filter((r) => r.status === 'fulfilled' && r.value.allowed).length;
    expect(allowed).to.equal(7);
    const rows = await migrated.db('rate_events').where('key', 'email:race').count({ n: '*' });
    expect(Number(rows[0].n)).to.equal(7);
  });
});
