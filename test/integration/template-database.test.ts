import { readdirSync } from 'node:fs';
import { expect } from 'chai';
import { migrationsDir } from '../../src/shared/paths.js';
import { createTestDatabase, DB_KINDS } from '../support/databases.js';
import { startTestServer } from '../support/test-server.js';
import { openTestDatabase } from './migrated-database.js';

/**
 * Test servers start on a copy of one database migrated per run (test/support/databases.ts): the
 * copy must hold every migration, so that the server's own migration run (src/store/db.ts) finds
 * nothing to do, and the servers test the schema a migrated production database has.
 */
for (const kind of DB_KINDS) {
  describe(`a migrated test database, copied from the run's template (${kind})`, function () {
    this.timeout(30_000);

    it('holds every migration, and a server started on it applies none again', async () => {
      const database = await createTestDatabase(kind, { migrated: true });
      const db = openTestDatabase(kind, database);
      try {
        const applied = () => db('knex_migrations').select('name', 'batch', 'migration_time').orderBy('id');
        const copied = await applied();
        const expected = readdirSync(migrationsDir).filter((file) => file.endsWith('.js')).sort();
        expect(copied.map((row) => row.name)).to.deep.equal(expected);
        const server = await startTestServer(kind, {}, { database });
        await server.close();
        expect(await applied(), 'the migrations the server found').to.deep.equal(copied);
      } finally {
        await db.destroy();
        await database.drop();
      }
    });
  });
}
