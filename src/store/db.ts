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
  const busyTimeout = Math.trunc(config.busyTimeoutMs ?? 5000);
  mkdirSync(dirname(filename), { recursive: true });
  return knex({
    client: 'sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    // requests queue for the one connection; when the database stays locked they fail (503), not hang
    acquireConnectionTimeout: busyTimeout + 5000,
    // One connection: SQLite serialises writers anyway, and one connection means a transaction
    // never waits on another connection of ours. busy_timeout covers other processes (the CLI).
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: { exec(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) {
        conn.exec(`PRAGMA journal_mode = WAL; PRAGMA busy_timeout = ${busyTimeout}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;`, (err) => done(err, conn));
      },
    },
    migrations: { directory: migrationsDir, loadExtensions: ['.js'] },
  });
}

/**
 * Applies pending migrations. Several instances may start at once: knex lets one of them hold its
 * migration lock and makes the others fail, so those wait for the holder to finish instead.
 */
export async function migrate(db: Db, { timeoutMs = 60_000 } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await db.migrate.latest();
      return;
    } catch (error) {
      if (!isMigrationLocked(error) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
      if ((await migrationsPending(db).catch(() => 1)) === 0) return;
    }
  }
}

export async function migrationsPending(db: Db): Promise<number> {
  const [, pending] = (await db.migrate.list()) as [unknown[], unknown[]];
  return pending.length;
}

function isMigrationLocked(error: unknown): boolean {
  const e = error as { name?: string; message?: string };
  return e?.name === 'MigrationLocked' || /already locked/i.test(e?.message ?? '');
}

export { isDatabaseBusy, isUniqueViolation } from '../shared/database-errors.js';
