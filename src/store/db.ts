import { createRequire } from 'node:module';
import knex, { type Knex } from 'knex';
import type { ClientBase } from 'pg';
import type { DatabaseConfig } from '../config/config.js';
import { migrationsDir } from '../shared/paths.js';
import { isPermanentSqliteFailure, prepareSqliteFile, type DatabaseSource } from './database-open.js';
import { requestScope } from './request-memo.js';

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
    return knex({
      client: 'pg',
      connection: config.url,
      log,
      // a server that does not answer: requests get 503 after this, not after knex's 60 s
      acquireConnectionTimeout: 5000,
      pool: { min: 0, max: 10 },
      migrations: { directory: migrationsDir, loadExtensions: ['.js'] },
    });
  }
  const filename = config.filename!;
  const busyTimeout = Math.trunc(config.busyTimeoutMs ?? 5000);
  prepareSqliteFile(config, source);
  const db = knex({
    client: ImmediateSqliteClient,
    connection: { filename },
    log,
    useNullAsDefault: true,
    // background work queues for a connection up to this; a request waits at most its budget (below)
    acquireConnectionTimeout: busyTimeout + 5000,
    // Several connections: in WAL mode readers never wait for each other nor for the writer, so
    // reads run in parallel on libuv's thread pool instead of queueing one by one behind a single
    // connection (which, with ~50 statements per sign-in, capped sign-ins at about 40/s). Writers
    // take SQLite's write lock in turn, waiting up to busy_timeout, exactly as separate processes
    // (WORKERS, the CLI) always have; transactions take it when they begin (BEGIN IMMEDIATE), so
    // no transaction ever fails half-way because another connection wrote after it had read.
    pool: {
      min: 1,
      max: SQLITE_CONNECTIONS,
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) {
        configureSqlite(conn, busyTimeout).then(() => done(null, conn), (err: Error) => done(err, conn));
      },
    },
    migrations: { directory: migrationsDir, loadExtensions: ['.js'] },
  });
  sqliteBusyTimeouts.set(db.client, busyTimeout);
  return db;
}

/** A value bound to a `?` placeholder. */
export type Binding = string | number | boolean | null;

/**
 * Fixed SQL with `?` placeholders, for the statements every sign-in and token request runs. Going
 * through knex's query builder and runner costs about 70 µs of CPU per statement, against about
 * 30 µs for handing the same SQL to a pooled sqlite3 connection (measured side by side, one
 * process, 20,000 selects); oidc-provider's storage alone runs 20–30 statements per sign-in. The
 * statement goes straight to a connection of knex's own pool (so the limit on SQLite connections
 * per handle, below, still holds), as a prepared statement. Inside a transaction only through
 * `writeTogether` (below); elsewhere use knex's `trx`. The SQL must come from a fixed set (no
 * values spliced in): each distinct text stays prepared on each connection.
 */
export interface FixedSql {
  rows<T>(sql: string, bindings: readonly Binding[]): Promise<T[]>;
  /** rows changed by an INSERT, UPDATE or DELETE */
  changes(sql: string, bindings: readonly Binding[]): Promise<number>;
}

const fixedSqlByDb = new WeakMap<Db, FixedSql>();

export function fixedSql(db: Db): FixedSql {
  let sql = fixedSqlByDb.get(db);
  if (!sql) {
    sql = isPostgres(db) ? postgresFixedSql(db) : sqliteFixedSql(db);
    fixedSqlByDb.set(db, sql);
  }
  return sql;
}

/**
 * On PostgreSQL each fixed statement is a named prepared statement (`$1…` for `?`, which must not
 * appear inside a literal), sent on a connection of knex's pool: the server parses and plans it
 * once per connection, and knex's query builder is not involved.
 */
function postgresFixedSql(db: Db, connection?: ClientBase): FixedSql {
  const pool = db.client as { acquireConnection(): Promise<ClientBase>; releaseConnection(conn: unknown): Promise<unknown> };
  const statementFor = (sql: string) => {
    let statement = postgresStatements.get(sql);
    if (!statement) {
      let n = 0;
      statement = { name: `sesame_fixed_${postgresStatements.size}`, text: sql.replace(/\?/g, () => `$${++n}`) };
      postgresStatements.set(sql, statement);
    }
    return statement;
  };
  const query = async (sql: string, bindings: readonly Binding[]) => {
    if (connection) return connection.query({ ...statementFor(sql), values: [...bindings] });
    const conn = await pool.acquireConnection();
    try {
      return await conn.query({ ...statementFor(sql), values: [...bindings] });
    } finally {
      await pool.releaseConnection(conn);
    }
  };
  return {
    rows: async <T>(sql: string, bindings: readonly Binding[]) => (await query(sql, bindings)).rows as T[],
    changes: async (sql: string, bindings: readonly Binding[]) => (await query(sql, bindings)).rowCount ?? 0,
  };
}

/** A statement's name is the same on every connection and every handle of the process. */
const postgresStatements = new Map<string, { name: string; text: string }>();

interface SqliteStatement {
  all(bindings: readonly Binding[], cb: (err: Error | null, rows: unknown[]) => void): void;
  run(bindings: readonly Binding[], cb: (this: { changes: number }, err: Error | null) => void): void;
  reset(cb: () => void): void;
  finalize(cb: () => void): void;
}

interface SqliteStatementConnection {
  prepare(sql: string, cb: (err: Error | null) => void): SqliteStatement;
}

/**
 * Each pooled connection keeps its fixed statements prepared: parsing and planning the SQL again
 * for every call cost as much as running it (a select joining three tables: 76 µs of CPU prepared
 * each time, 28 µs prepared once; 20,000 calls side by side). A connection is used by one caller at
 * a time, so its statements are too. They are finalized before the pool closes the connection
 * (SQLite refuses to close one with live statements).
 */
const preparedStatements = new WeakMap<object, Map<string, Promise<SqliteStatement>>>();

function prepared(conn: SqliteStatementConnection, sql: string): Promise<SqliteStatement> {
  let statements = preparedStatements.get(conn);
  if (!statements) preparedStatements.set(conn, (statements = new Map()));
  let statement = statements.get(sql);
  if (!statement) {
    statement = new Promise<SqliteStatement>((resolve, reject) => {
      const prepare = conn.prepare(sql, (err) => (err ? reject(err) : resolve(prepare)));
    });
    statements.set(sql, statement);
    // a statement that did not prepare (the database was busy reading its schema) is tried again next time
    statement.catch(() => statements.delete(sql));
  }
  return statement;
}

async function finalizeStatements(conn: object): Promise<void> {
  const statements = preparedStatements.get(conn);
  preparedStatements.delete(conn);
  const all = await Promise.allSettled([...(statements?.values() ?? [])]);
  await Promise.all(all.map((s) => (s.status === 'fulfilled' ? new Promise<void>((resolve) => s.value.finalize(resolve)) : undefined)));
}

function sqliteFixedSql(db: Db, connection?: SqliteStatementConnection): FixedSql {
  const pool = db.client as { acquireConnection(): Promise<SqliteStatementConnection>; releaseConnection(conn: unknown): Promise<unknown> };
  const onStatement = async <R>(sql: string, use: (statement: SqliteStatement, done: (err: Error | null, result?: R) => void) => void): Promise<R> => {
    const conn = connection ?? await pool.acquireConnection();
    try {
      const statement = await prepared(conn, sql);
      return await new Promise<R>((resolve, reject) => use(statement, (err, result) => {
        if (!err) return resolve(result as R);
        // A statement that failed (SQLITE_BUSY) stays active and keeps its read snapshot open until
        // it is reset: the connection's next transaction would then fail with SQLITE_BUSY too,
        // long after the lock has gone.
        statement.reset(() => reject(err));
      }));
    } finally {
      if (!connection) await pool.releaseConnection(conn);
    }
  };
  return {
    rows: <T>(sql: string, bindings: readonly Binding[]) => onStatement<T[]>(sql, (statement, done) => statement.all(bindings, (err, rows) => done(err, rows as T[]))),
    changes: (sql: string, bindings: readonly Binding[]) => onStatement<number>(sql, (statement, done) => statement.run(bindings, function changed(err) {
      done(err, err ? undefined : this.changes);
    })),
  };
}

/**
 * Connections per handle: half of libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says
 * otherwise), which runs their statements. A connection waiting for the write lock sleeps in its
 * busy handler on a pool thread; if every thread were asleep so, the connection holding the lock
 * could not run its next statement until they timed out. With half, even two handles on one file
 * in one process (tests, an in-process CLI) leave a thread for the holder.
 */
const SQLITE_CONNECTIONS = Math.max(1, Math.floor((Number(process.env.UV_THREADPOOL_SIZE) || 4) / 2));

const SqliteClient = require('knex/lib/dialects/sqlite3/index.js') as typeof Knex.Client;
const SqliteTransaction = require('knex/lib/dialects/sqlite3/execution/sqlite-transaction.js') as new (...args: unknown[]) => {
  query(conn: unknown, sql: string): Promise<unknown>;
};

/**
 * SQLite's default `BEGIN` (deferred) takes the write lock at the first write: a transaction that
 * reads and then writes (count-then-insert of the rate limits) fails with SQLITE_BUSY if another
 * connection wrote in between, without waiting. `BEGIN IMMEDIATE` takes the write lock at once
 * (waiting up to busy_timeout), so transactions on several connections and processes run one
 * after the other, as they did on one connection.
 */
class ImmediateTransaction extends SqliteTransaction {
  begin(conn: unknown) {
    return this.query(conn, 'BEGIN IMMEDIATE;');
  }
}

class ImmediateSqliteClient extends SqliteClient {
  override transaction(...args: unknown[]): Knex.Transaction {
    return new ImmediateTransaction(this, ...args) as unknown as Knex.Transaction;
  }

  override acquireConnection(): Promise<unknown> {
    return acquireWithinBudget(this, () => super.acquireConnection(), (conn) => super.releaseConnection(conn));
  }

  // the pool closes a connection here (shutdown, or one that failed): its fixed statements go first
  override async destroyRawConnection(conn: object): Promise<void> {
    await finalizeStatements(conn);
    return (SqliteClient.prototype as unknown as { destroyRawConnection(conn: object): Promise<void> }).destroyRawConnection.call(this, conn);
  }
}

/**
 * SQLite: a request waits for the database (a pooled connection, then the write lock) at most
 * SQLITE_BUSY_TIMEOUT_MS from when it began, then it fails as busy (503 with Retry-After). Each wait
 * alone was bounded, not their sum: behind a held lock a request queued for a connection (up to
 * the busy timeout + 5 s), then waited the busy timeout for the lock, and again for its next
 * write, so answers came after 20 s with a 5 s timeout. Each connection handed to a request is
 * given what is left of the budget as its busy timeout.
 */
function requestBudget(client: object): { full: number; left: number } | undefined {
  const full = sqliteBusyTimeouts.get(client);
  const startedAt = requestScope()?.startedAt;
  if (full === undefined || startedAt === undefined) return undefined;
  return { full, left: Math.max(0, startedAt + full - Date.now()) };
}

const busyTimeoutOf = new WeakMap<object, number>();

async function acquireWithinBudget(client: object, acquire: () => Promise<unknown>, release: (conn: unknown) => Promise<unknown>): Promise<unknown> {
  const budget = requestBudget(client);
  const full = sqliteBusyTimeouts.get(client);
  let conn: unknown;
  if (!budget) {
    conn = await acquire();
  } else {
    if (budget.left === 0) throw busyError('waited SQLITE_BUSY_TIMEOUT_MS');
    const acquiring = acquire();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(busyError('no connection within SQLITE_BUSY_TIMEOUT_MS')), budget.left)));
    try {
      conn = await Promise.race([acquiring, late]);
    } catch (error) {
      // the connection, should it come after all, goes straight back
      acquiring.then(release, () => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
  // what is left once the connection came (0: a write that finds the lock taken fails at once)
  setBusyTimeout(conn as object, budget ? requestBudget(client)?.left ?? 0 : full ?? 5000);
  return conn;
}

function setBusyTimeout(conn: object, ms: number): void {
  if (busyTimeoutOf.get(conn) === ms) return;
  busyTimeoutOf.set(conn, ms);
  (conn as unknown as { configure(option: 'busyTimeout', value: number): void }).configure('busyTimeout', ms);
}

function busyError(why: string): Error {
  return Object.assign(new Error(`SQLITE_BUSY: database is locked (${why})`), { code: 'SQLITE_BUSY' });
}

/** One write of a request's unit of work; `mustChange`: the error when it changes no row. */
export interface Write {
  readonly sql: string;
  readonly bindings: readonly Binding[];
  readonly mustChange?: () => Error;
}

/**
 * Runs `writes` in one transaction on one connection, in order: all are stored, or none. A write
 * whose `mustChange` changes no row (a guarded consume that another request won) rolls all back
 * and throws that error; so does any failure, COMMIT's included (then ROLLBACK is sent too: SQLite
 * keeps a transaction open when COMMIT fails with SQLITE_BUSY). On SQLite the transaction takes
 * the write lock at once (BEGIN IMMEDIATE) and the units of one process take turns before they
 * take a connection, so the waiting ones hold none that others need to read; the lock is held for
 * these statements only, not for the request that made them.
 */
export async function writeTogether(db: Db, writes: readonly Write[]): Promise<void> {
  const sqlite = !isPostgres(db);
  const release = sqlite ? await writerTurn(db.client, requestBudget(db.client)?.left ?? sqliteBusyTimeouts.get(db.client) ?? 5000) : undefined;
  try {
    const connection = await db.client.acquireConnection() as object;
    try {
      await db.raw(sqlite ? 'BEGIN IMMEDIATE' : 'BEGIN').connection(connection);
      try {
        const sql = sqlite ? sqliteFixedSql(db, connection as SqliteStatementConnection) : postgresFixedSql(db, connection as ClientBase);
        for (const write of writes) {
          const changed = await sql.changes(write.sql, write.bindings);
          if (changed === 0 && write.mustChange) throw write.mustChange();
        }
        await db.raw('COMMIT').connection(connection);
      } catch (error) {
        await db.raw('ROLLBACK').connection(connection).catch(() => undefined);
        throw error;
      }
    } finally {
      await db.client.releaseConnection(connection);
    }
  } finally {
    release?.();
  }
}

const sqliteBusyTimeouts = new WeakMap<object, number>();
const writerQueues = new WeakMap<object, Promise<void>>();

function writerTurn(client: object, timeoutMs: number): Promise<() => void> {
  const previous = writerQueues.get(client) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  writerQueues.set(client, previous.then(() => mine));
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(busyError('another request is writing'));
    }, timeoutMs);
    void previous.then(() => {
      clearTimeout(timer);
      if (timedOut) release();
      else resolve(release);
    });
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
      // another process migrating the same file passes; a file that cannot be opened or written does not
      if (Date.now() > deadline || isPermanentSqliteFailure(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
      if ((await migrationsPending(db).catch(() => 1)) === 0) return;
    }
  }
}

const MIGRATION_LOCK = 0x5e5a3e; // any constant of ours: one lock for every Sesame instance

async function migrateHoldingLock(db: Db): Promise<void> {
  const connection = await db.client.acquireConnection();
  try {
    // polled rather than waited for in one statement: a statement waiting for the lock holds a
    // snapshot, and a migration that builds an index CONCURRENTLY (in the instance holding the
    // lock) waits until every older snapshot is gone; the two would wait for each other forever
    while (!(await db.raw('select pg_try_advisory_lock(?) as locked', [MIGRATION_LOCK]).connection(connection)).rows[0].locked) {
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
    }
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
  // secure_delete: a deleted or wiped row (a sent mail's body, a spent token) is overwritten with
  // zeros, not left readable in free pages of the file
  await exec('PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;');
}

export function isPostgres(db: Db): boolean {
  return (db.client as { dialect?: string }).dialect === 'postgresql';
}

export async function migrationsPending(db: Db): Promise<number> {
  const [, pending] = (await db.migrate.list()) as [unknown[], unknown[]];
  return pending.length;
}


import { isDatabaseBusy } from '../shared/database-errors.js';

export { isDatabaseBusy, isDatabaseUnavailable, isUniqueViolation } from '../shared/database-errors.js';
