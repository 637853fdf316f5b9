import { join } from 'node:path';
import { closeDatabase, migrate, openDatabase, type Db } from '../../src/store/db.js';
import { createTestDatabase, type DbKind, type TestDatabase } from '../support/databases.js';

export interface MigratedDatabase {
  db: Db;
  database: TestDatabase;
  close(): Promise<void>;
}

/** A knex handle on a test database, as Sesame opens it; nothing is migrated. */
export function openTestDatabase(kind: DbKind, database: TestDatabase): Db {
  return kind === 'sqlite'
    ? openDatabase({ client: 'sqlite', filename: join(database.dataDir, 'sesame.sqlite') })
    : openDatabase({ client: 'postgres', url: database.url });
}

/** A fresh SQLite file or PostgreSQL database with Sesame's migrations applied. */
export async function openMigratedDatabase(kind: DbKind): Promise<MigratedDatabase> {
  const database = await createTestDatabase(kind);
  const db = openTestDatabase(kind, database);
  try {
    await migrate(db);
  } catch (error) {
    await closeDatabase(db);
    await database.drop();
    throw error;
  }
  return {
    db,
    database,
    close: async () => {
      await closeDatabase(db);
      await database.drop();
    },
  };
}
