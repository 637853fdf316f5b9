import { statSync } from 'node:fs';
import type { DatabaseConfig } from '../../src/config/config.js';
import { closeDatabase, openDatabase, type Db } from '../../src/store/db.js';
import { sweepExpired } from '../../src/store/sweeper.js';
import type { TestDatabase } from '../support/databases.js';

export interface DatabaseFigures {
  /** bytes the database uses (SQLite: pages in use; PostgreSQL: pg_database_size) */
  usedBytes: number;
  /** SQLite: the file and its WAL on disk */
  fileBytes?: number;
  rows: Record<string, number>;
}

export interface SweepFigures {
  before: DatabaseFigures;
  deleted: Record<string, number>;
  after: DatabaseFigures;
}

/**
 * Runs Sesame's own sweeper (dist/src/store/sweeper.js, what the server runs every
 * SWEEP_INTERVAL_SECONDS) once against the benchmark's database, and measures before and after.
 */
export async function sweepAndMeasure(database: TestDatabase): Promise<SweepFigures> {
  const db = openDatabase(databaseConfig(database));
  try {
    const before = await measure(db, database);
    const deleted = await sweepExpired(db);
    const after = await measure(db, database);
    return { before, deleted, after };
  } finally {
    await closeDatabase(db);
  }
}

function databaseConfig(database: TestDatabase): DatabaseConfig {
  if (database.kind === 'postgres') return { client: 'postgres', url: database.url };
  return { client: 'sqlite', filename: database.url.replace(/^sqlite:\/\//, '') };
}

async function measure(db: Db, database: TestDatabase): Promise<DatabaseFigures> {
  const rows: Record<string, number> = {};
  let tables: string[];
  if (database.kind === 'sqlite') {
    tables = (await db.raw(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'knex_%'`) as { name: string }[]).map((r) => r.name);
  } else {
    tables = ((await db.raw(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT LIKE 'knex_%'`)).rows as { table_name: string }[]).map((r) => r.table_name);
  }
  for (const table of tables.sort()) {
    const [{ n }] = await db(table).count({ n: '*' }) as { n: number | string }[];
    rows[table] = Number(n);
  }
  if (database.kind === 'sqlite') {
    const pragma = async (name: string) => Number(Object.values((await db.raw(`PRAGMA ${name}`) as Record<string, number>[])[0])[0]);
    const pageSize = await pragma('page_size');
    const used = (await pragma('page_count')) - (await pragma('freelist_count'));
    const file = database.url.replace(/^sqlite:\/\//, '');
    const size = (path: string) => {
      try {
        return statSync(path).size;
      } catch {
        return 0;
      }
    };
    return { usedBytes: used * pageSize, fileBytes: size(file) + size(`${file}-wal`), rows };
  }
  const { rows: [{ size }] } = await db.raw('SELECT pg_database_size(current_database()) AS size') as { rows: { size: number | string }[] };
  return { usedBytes: Number(size), rows };
}
