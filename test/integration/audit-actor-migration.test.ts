import { expect } from 'chai';
import { closeDatabase, type Db } from '../../src/store/db.js';
import { createTestDatabase, DB_KINDS } from '../support/databases.js';
import { openTestDatabase } from './migrated-database.js';

const TARGET = '20261206010000_audit_actor';

/** The name of a migration as knex lists it (pending ones are files, completed ones names). */
function nameOf(entry: unknown): string {
  const named = entry as { file?: string; name?: string } | string;
  return String(typeof named === 'string' ? named : named.file ?? named.name).replace(/\.(js|ts)$/, '');
}

/** Applies the migrations one by one until TARGET is the next to run. */
async function migrateUpTo(db: Db): Promise<void> {
  for (;;) {
    const [, pending] = (await db.migrate.list()) as [unknown[], unknown[]];
    if (pending.length === 0) throw new Error(`${TARGET} is not pending`);
    if (nameOf(pending[0]) === TARGET) return;
    await db.migrate.up();
  }
}

for (const kind of DB_KINDS) {
  describe(`migration ${TARGET}: a trail written before it (${kind})`, function () {
    this.timeout(30_000);

    it('takes the actor of administrative events from their details, and leaves the details and other events alone', async () => {
      const database = await createTestDatabase(kind);
      const db = openTestDatabase(kind, database);
      try {
        await migrateUpTo(db);
        const written: [type: string, details: Record<string, unknown> | null, actor: string | null][] = [
          ['admin.client.added', { via: 'cli', user: 'alice' }, 'cli:alice'],
          // from the CLI, tokenId is the token the event is about, not who acted
          ['admin.token.created', { via: 'cli', user: 'alice', tokenId: 'subject', tokenName: 'ci' }, 'cli:alice'],
          ['admin.account.disabled', { via: 'api', tokenId: 'tok1', tokenName: 'writer' }, 'admin-token:tok1'],
          ['account.email_change_requested', { via: 'cli', new_email: 'new@example.com' }, 'cli'],
          ['account.email_change_requested', { via: 'api', tokenId: 'tok2', tokenName: 'writer' }, 'admin-token:tok2'],
          ['login.completed', { via: 'api', tokenId: 'not-an-admin-event' }, null],
          ['admin.key.rotated', null, null],
        ];
        for (const [i, [type, details]] of written.entries()) {
          await db('audit_events').insert({ at: 1000 + i, type, details: details ? JSON.stringify(details) : null });
        }
        const before = await db('audit_events').orderBy('id').select('id', 'details');

        // this migration alone, so that `down` below undoes it and nothing after it
        await db.migrate.up();
        const after = await db('audit_events').orderBy('id').select('id', 'actor', 'details');
        expect(after.map((row) => row.actor ?? null)).to.deep.equal(written.map(([, , actor]) => actor));
        expect(after.map((row) => row.details)).to.deep.equal(before.map((row) => row.details));

        if (kind === 'postgres') {
          // built CONCURRENTLY (outside a transaction), and valid
          const index = await db.raw("select i.indisvalid as valid from pg_class c join pg_index i on i.indexrelid = c.oid where c.relname = 'audit_events_actor_at'");
          expect(index.rows).to.deep.equal([{ valid: true }]);
        }

        // and back: the column goes, the rows stay; and up again
        await db.migrate.down();
        expect(await db.schema.hasColumn('audit_events', 'actor')).to.equal(false);
        expect(await db('audit_events').count({ n: '*' }).first()).to.deep.include({ n: written.length });
        await db.migrate.latest();
        expect((await db('audit_events').orderBy('id').select('actor')).map((row) => row.actor ?? null)).to.deep.equal(written.map(([, , actor]) => actor));
      } finally {
        await closeDatabase(db);
        await database.drop();
      }
    });
  });
}
