import { createRequire } from 'node:module';
import knex, { type Knex } from 'knex';
import type { DatabaseConfig } from '../config/config.js';
import { migrationsDir } from '../shared/paths.js';
import { isPermanentSqliteFailure, prepareSqliteFile, type DatabaseSource } from './database-open.js';
import { postgresDriverSql, sqliteDriverSql, type Binding, type DriverSql, type FixedSql } from './driver-sql.js';

export type { Binding, FixedSql } from './driver-sql.js';

export type Db = Knex;

const require = createRequire(import.meta.url);

/**
 * The PostgreSQL driver is loaded only for PostgreSQL (knex loads it the same way): a server on
 * SQLite does not carry it. PostgreSQL returns BIGINT (our epoch-millisecond columns, COUNT(*))
 * as strings; they fit a double.
 */
function loadPostgresDriver(): void {
  const { types } = require('pg') as typeof import('pg');
  types.setTypeParser(types.builtins.INT8, (value: string) => Number(value));
}

export interface OpenOptions extends DatabaseSource {
  /** what knex prints on its own (pool warnings, deprecations): to our logger, not console.log */
  log?: Knex.Logger;
}

/**
 * A knex handle on the configured database. A SQLite file is checked first (see
 * prepareSqliteFile): a directory that cannot hold it fails here, at once, with the path, the
 * setting and the cause, instead of every connection attempt failing alike.
 */
export function openDatabase(config: DatabaseConfig, { log, ...source }: OpenOptions = {}): Db {
  if (config.client === 'postgres') {
    loadPostgresDriver();
    const db = knex({
      client: 'pg',
      connection: config.url,
      log,
      // a server that does not answer: requests get 503 after this, not after knex's 60 s
      acquireConnectionTimeout: 5000,
      pool: { min: 0, max: 5 },
      migrations: { directory: migrationsDir, loadExtensions: ['.js'] },
    });
    handles.set(db, { kind: 'postgres', sql: postgresDriverSql(config.url!, { connections: 5, connectTimeoutMs: 5000 }) });
    return db;
  }
  const filename = config.filename!;
  const busyTimeout = Math.trunc(config.busyTimeoutMs ?? 5000);
  prepareSqliteFile(config, source);
  const db = knex({
    client: 'sqlite3',
    connection: { filename },
    log,
    useNullAsDefault: true,
    acquireConnectionTimeout: busyTimeout + 5000,
    // knex's query builder serves the rarer statements (CLI, admin, sweeps); the hot paths and every
    // transaction that must begin IMMEDIATE use the fixed-SQL connections below
    pool: {
      min: 0,
      max: 1,
      afterCreate(conn: SqliteDatabase, done: (err: Error | null, conn: unknown) => void) {
        configureSqlite(conn, busyTimeout).then(() => done(null, conn), (err: Error) => done(err, conn));
      },
    },
    migrations: { directory: migrationsDir, loadExtensions: ['.js'] },
  });
  handles.set(db, {
    kind: 'sqlite',
    filename,
    sql: sqliteDriverSql({ filename, busyTimeoutMs: busyTimeout, connections: SQLITE_CONNECTIONS, configure: (conn) => configureSqlite(conn, busyTimeout) }),
  });
  return db;
}

/**
 * Per knex handle: which database, and the driver-level connections for fixed SQL and
 * transactions (driver-sql.ts). Kept beside the handle rather than read from knex's client, whose
 * internals are not a documented API.
 */
interface Handle {
  kind: 'sqlite' | 'postgres';
  filename?: string;
  sql: DriverSql;
}

const handles = new WeakMap<Db, Handle>();

function handleOf(db: Db): Handle {
  const handle = handles.get(db);
  if (!handle) throw new Error('not a handle made by openDatabase');
  return handle;
}

/** Closes both pools of a handle: the fixed-SQL connections and knex's. */
export async function closeDatabase(db: Db): Promise<void> {
  await handles.get(db)?.sql.close();
  await db.destroy();
}

/**
 * SQLite connections for fixed SQL per handle: half of libuv's thread pool (4 threads unless
 * UV_THREADPOOL_SIZE says otherwise), which runs their statements; knex has one more. A connection
 * waiting for the write lock sleeps in its busy handler on a pool thread; if every thread were
 * asleep so, the connection holding the lock could not run its next statement until they timed
 * out. Writers of one handle take turns before they take a connection (driver-sql.ts), so at most
 * one of these sleeps so at a time. In WAL mode readers never wait for each other nor for the writer.
 */
const SQLITE_CONNECTIONS = Math.max(1, Math.floor((Number(process.env.UV_THREADPOOL_SIZE) || 4) / 2));

/** Fixed SQL (see `FixedSql`) on this handle's own driver connections. */
export function fixedSql(db: Db): FixedSql {
  return handleOf(db).sql;
}

/** Runs `work` in one transaction on one connection (see `DriverSql.transaction`). */
export function transaction<T>(db: Db, work: (sql: FixedSql) => Promise<T>): Promise<T> {
  return handleOf(db).sql.transaction(work);
}

/**
 * An INSERT of `rows` (all with the keys of the first, in its order) as fixed SQL: the text depends
 * only on the table, the columns and the number of rows. `table` and the keys are our own constants.
 */
export function insertSql(table: string, rows: readonly Readonly<Record<string, Binding>>[], suffix = ''): { sql: string; bindings: Binding[] } {
  const columns = Object.keys(rows[0]);
  const row = `(${columns.map(() => '?').join(', ')})`;
  return {
    sql: `insert into ${table} (${columns.join(', ')}) values ${rows.map(() => row).join(', ')}${suffix}`,
    bindings: rows.flatMap((r) => columns.map((column) => r[column])),
  };
}

/** One write of a request's unit of work; `mustChange`: the error when it changes no row. */
export interface Write {
  readonly sql: string;
  readonly bindings: readonly Binding[];
  readonly mustChange?: () => Error;
}

/**
 * Runs `writes` in one transaction, in order: all are stored, or none. A write whose `mustChange`
 * changes no row (a guarded consume that another request won) rolls all back and throws that
 * error; so does any failure, COMMIT's included. On SQLite the lock is held for these statements
 * only, not for the request that made them.
 */
export async function writeTogether(db: Db, writes: readonly Write[]): Promise<void> {
  if (writes.length === 1) {
    // one statement is atomic by itself: BEGIN and COMMIT around it would add two statements and
    // nothing else (an authorization request's interaction, a client_credentials token)
    const [write] = writes;
    const changed = await fixedSql(db).changes(write.sql, write.bindings);
    if (changed === 0 && write.mustChange) throw write.mustChange();
    return;
  }
  await transaction(db, async (sql) => {
    for (const write of writes) {
      const changed = await sql.changes(write.sql, write.bindings);
      if (changed === 0 && write.mustChange) throw write.mustChange();
    }
  });
}

/**
 * Applies pending migrations; several instances may start at once. knex's own migration lock
 * does not cover the creation of its bookkeeping tables on a fresh database, so on PostgreSQL the
 * whole run holds a session advisory lock, and on SQLite (where another process may be migrating
 * the same file) a failed run is retried until the schema is current.
 */
export async function migrate(db: Db, { timeoutMs = 60_000 } = {}): Promise<void> {
  if (isPostgres(db)) return migrateHoldingLock(db);
  // several handles on one file in this process (tests, a CLI inside a server): one at a time,
  // so that a run interrupted by another's lock cannot leave knex's lock row set behind it
  const file = String(handleOf(db).filename);
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
      // another process migrating the same file passes; a file that cannot be opened or written does not
      if (Date.now() > deadline || isPermanentSqliteFailure(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
      if ((await migrationsPending(db).catch(() => 1)) === 0) return;
    }
  }
}

const MIGRATION_LOCK = 0x5e5a3e; // any constant of ours: one lock for every Sesame instance

async function migrateHoldingLock(db: Db): Promise<void> {
  await handleOf(db).sql.session(async (session) => {
    // polled rather than waited for in one statement: a statement waiting for the lock holds a
    // snapshot, and a migration that builds an index CONCURRENTLY (in the instance holding the
    // lock) waits until every older snapshot is gone; the two would wait for each other forever
    while (!(await session.rows<{ locked: boolean }>('select pg_try_advisory_lock(?) as locked', [MIGRATION_LOCK]))[0].locked) {
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
    }
    try {
      await db.migrate.latest();
    } finally {
      await session.rows('select pg_advisory_unlock(?)', [MIGRATION_LOCK]);
    }
  });
}

interface SqliteDatabase {
  exec(sql: string, cb: (err: Error | null) => void): void;
}

async function configureSqlite(conn: SqliteDatabase, busyTimeout: number): Promise<void> {
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
  // secure_delete: a deleted or wiped row (a sent mail's body, a spent token) is overwritten with
  // zeros, not left readable in free pages of the file
  await exec('PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;');
}

export function isPostgres(db: Db): boolean {
  return handleOf(db).kind === 'postgres';
}

export async function migrationsPending(db: Db): Promise<number> {
  const [, pending] = (await db.migrate.list()) as [unknown[], unknown[]];
  return pending.length;
}


import { isDatabaseBusy } from '../shared/database-errors.js';

export { isDatabaseBusy, isDatabaseUnavailable, isUniqueViolation } from '../shared/database-errors.js';
