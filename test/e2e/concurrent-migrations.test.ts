import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { loadConfig } from '../../src/config/load.js';
import { openCore, type Core } from '../../src/main.js';
import { closeDatabase, openDatabase } from '../../src/store/db.js';
import { migrationsDir } from '../../src/shared/paths.js';
import { createTestDatabase, DB_KINDS } from '../support/databases.js';
import { TEST_SECRETS } from '../support/test-server.js';

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
