import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import knex, { type Knex } from 'knex';
import pg from 'pg';
import type { DatabaseConfig } from '../config/config.js';
import { migrationsDir } from '../shared/paths.js';

export type Db = Knex;

// PostgreSQL returns BIGINT (our epoch-millisecond columns, COUNT(*)) as strings; they fit a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export function openDatabase(config: DatabaseConfig): Db {
  if (config.client === 'postgres') {
    return knex({
      client: 'pg',
      connection: config.url,
      pool: { min: 0, max: 10 },
      migrations: { directory: migrationsDir, loadExtensions: ['.js'] },
    });
  }
  const filename = config.filename!;
  mkdirSync(dirname(filename), { recursive: true });
  return knex({
    client: 'sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    // One connection: SQLite serialises writers anyway, and one connection means a transaction
    // never waits on another connection of ours. busy_timeout covers other processes (the CLI).
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: { exec(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) {
        conn.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;', (err) => done(err, conn));
      },
    },
    migrations: { directory: migrationsDir, loadExtensions: ['.js'] },
  });
}

export async function migrate(db: Db): Promise<void> {
  await db.migrate.latest();
}

export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; errno?: number };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT' || (e?.code === 'SQLITE_CONSTRAINT_UNIQUE');
}
