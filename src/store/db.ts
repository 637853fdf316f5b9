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
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) {
        configureSqlite(conn, busyTimeout).then(() => done(null, conn), (err: Error) => done(err, conn));
      },
    },
    migrations: { directory: migrationsDir, loadExtensions: ['.js'] },
  });
}

/**
 * Applies pending migrations; several instances may start at once. knex's own migration lock
 * does not cover the creation of its bookkeeping tables on a fresh database, so on PostgreSQL the
 * whole run holds a session advisory lock, and on SQLite (where another process may be migrating
 * the same file) a failed run is retried until the schema is current.
 */
export async function migrate(db: Db, { timeoutMs = 60_000 } = {}): Promise<void> {
  if (db.client.config.client === 'pg') return migrateHoldingLock(db);
  // several handles on one file in this process (tests, a CLI inside a server): one at a time,
  // so that a run interrupted by another's lock cannot leave knex's lock row set behind it
  const file = String((db.client.config.connection as { filename?: string }).filename);
  const previous = sqliteMigrations.get(file) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => migrateSqlite(db, timeoutMs));
  sqliteMigrations.set(file, run);
  return run;
}

const sqliteMigrations = new Map<string, Promise<void>>();

async function migrateSqlite(db: Db, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await db.migrate.latest();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
      if ((await migrationsPending(db).catch(() => 1)) === 0) return;
    }
  }
}

const MIGRATION_LOCK = 0x5e5a3e; // any constant of ours: one lock for every Sesame instance

async function migrateHoldingLock(db: Db): Promise<void> {
  const connection = await db.client.acquireConnection();
  try {
    await db.raw('select pg_advisory_lock(?)', [MIGRATION_LOCK]).connection(connection);
    try {
      await db.migrate.latest();
    } finally {
      await db.raw('select pg_advisory_unlock(?)', [MIGRATION_LOCK]).connection(connection);
    }
  } finally {
    await db.client.releaseConnection(connection);
  }
}

interface SqliteConnection {
  exec(sql: string, cb: (err: Error | null) => void): void;
}

async function configureSqlite(conn: SqliteConnection, busyTimeout: number): Promise<void> {
  const exec = (sql: string) => new Promise<void>((resolve, reject) => conn.exec(sql, (err) => (err ? reject(err) : resolve())));
  await exec(`PRAGMA busy_timeout = ${busyTimeout}`);
  // Switching a fresh file to WAL needs it to itself for a moment, and SQLite does not wait (the
  // busy handler is not used here) when another process opens the same file at the same time.
  for (let attempt = 1; ; attempt++) {
    try {
      await exec('PRAGMA journal_mode = WAL');
      break;
    } catch (error) {
      if (!isDatabaseBusy(error) || attempt >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 80));
    }
  }
  await exec('PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;');
}

export async function migrationsPending(db: Db): Promise<number> {
  const [, pending] = (await db.migrate.list()) as [unknown[], unknown[]];
  return pending.length;
}


import { isDatabaseBusy } from '../shared/database-errors.js';

export { isDatabaseBusy, isUniqueViolation } from '../shared/database-errors.js';
