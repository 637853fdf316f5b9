import { createRequire } from 'node:module';
import type { Pool, PoolClient } from 'pg';
import type { Database, Statement } from 'sqlite3';
import { isDatabaseUnavailable } from '../shared/database-errors.js';
import { requestScope } from './request-memo.js';

const require = createRequire(import.meta.url);

/** A value bound to a `?` placeholder. */
export type Binding = string | number | boolean | null;

/**
 * Fixed SQL with `?` placeholders, for the statements every sign-in and token request runs, sent
 * through the database drivers' own documented APIs (sqlite3's `Database`/`Statement`, pg's `Pool`
 * with named statements) on a small pool of this module's connections: knex's query builder and
 * runner are not on these paths (see docs/benchmark.md for what that saves). The SQL must come from
 * a fixed set (no values spliced in): each distinct text stays prepared on each connection.
 */
export interface FixedSql {
  rows<T>(sql: string, bindings: readonly Binding[]): Promise<T[]>;
  /** rows changed by an INSERT, UPDATE or DELETE */
  changes(sql: string, bindings: readonly Binding[]): Promise<number>;
}

export interface DriverSql extends FixedSql {
  /**
   * Runs `work` on one connection between BEGIN and COMMIT (ROLLBACK, and its error rethrown, when
   * it throws; also when COMMIT fails). On SQLite the transaction is `BEGIN IMMEDIATE`: it takes the
   * write lock at once (waiting up to the busy timeout), so one that reads and then writes (the rate
   * limits' count-then-insert) never fails half-way because another connection wrote in between;
   * and the transactions of one process take turns before they take a connection, so the waiting
   * ones hold none that readers need.
   */
  transaction<T>(work: (sql: FixedSql) => Promise<T>): Promise<T>;
  /** PostgreSQL: one connection for `work` alone (a session advisory lock lives as long as it). */
  session<T>(work: (sql: FixedSql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface SqliteOptions {
  filename: string;
  /** how long a request waits for the database, counted from when it began (SQLITE_BUSY_TIMEOUT_MS) */
  busyTimeoutMs: number;
  connections: number;
  /** what every new connection runs first (pragmas), shared with knex's connections */
  configure(conn: Database): Promise<void>;
}

export function busyError(why: string): Error {
  return Object.assign(new Error(`SQLITE_BUSY: database is locked (${why})`), { code: 'SQLITE_BUSY' });
}

/** A FIFO pool of at most `max` connections, made on demand. */
class SimplePool<C> {
  readonly #idle: C[] = [];
  readonly #all = new Set<C>();
  readonly #waiting: ((conn: C) => void)[] = [];
  #opening = 0;
  #closed = false;

  constructor(private readonly max: number, private readonly open: () => Promise<C>, private readonly destroy: (conn: C) => Promise<void>) {}

  /** A connection, or the rejection of `late` if that comes first (then the connection, should it come, goes back). */
  async acquire(late?: Promise<never>): Promise<C> {
    if (this.#closed) throw new Error('the database handle is closed');
    const idle = this.#idle.pop();
    if (idle) return idle;
    const coming = this.#all.size + this.#opening < this.max ? this.#create() : new Promise<C>((resolve) => this.#waiting.push(resolve));
    if (!late) return coming;
    try {
      return await Promise.race([coming, late]);
    } catch (error) {
      coming.then((conn) => this.release(conn), () => undefined);
      throw error;
    }
  }

  async #create(): Promise<C> {
    this.#opening++;
    try {
      const conn = await this.open();
      this.#all.add(conn);
      return conn;
    } finally {
      this.#opening--;
    }
  }

  release(conn: C): void {
    const next = this.#waiting.shift();
    if (next) next(conn);
    else this.#idle.push(conn);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#idle.length = 0;
    const all = [...this.#all];
    this.#all.clear();
    await Promise.allSettled(all.map((conn) => this.destroy(conn)));
  }
}

// ── SQLite ────────────────────────────────────────────────────────────────────────────────────

interface SqliteConnection {
  db: Database;
  statements: Map<string, Promise<Statement>>;
  busyTimeout: number;
}

/**
 * Each connection keeps its fixed statements prepared: parsing and planning the SQL again for every
 * call cost about as much as running it. A connection is used by one caller at a time, so its
 * statements are too. They are finalized before the connection closes (SQLite refuses to close one
 * with live statements).
 */
function prepared(conn: SqliteConnection, sql: string): Promise<Statement> {
  let statement = conn.statements.get(sql);
  if (!statement) {
    statement = new Promise<Statement>((resolve, reject) => {
      const made: Statement = conn.db.prepare(sql, (err) => (err ? reject(err) : resolve(made)));
    });
    conn.statements.set(sql, statement);
    // a statement that did not prepare (the database was busy reading its schema) is tried again next time
    statement.catch(() => conn.statements.delete(sql));
  }
  return statement;
}

function sqliteStatements(conn: SqliteConnection): FixedSql {
  const run = async <R>(sql: string, use: (statement: Statement, done: (err: Error | null, result?: R) => void) => void): Promise<R> => {
    const statement = await prepared(conn, sql);
    return new Promise<R>((resolve, reject) => use(statement, (err, result) => {
      if (!err) return resolve(result as R);
      // A statement that failed (SQLITE_BUSY) stays active and keeps its read snapshot open until
      // it is reset: the connection's next transaction would then fail with SQLITE_BUSY too.
      statement.reset(() => reject(err));
    }));
  };
  return {
    rows: <T>(sql: string, bindings: readonly Binding[]) => run<T[]>(sql, (s, done) => s.all([...bindings], (err: Error | null, rows: unknown[]) => done(err, rows as T[]))),
    changes: (sql: string, bindings: readonly Binding[]) => run<number>(sql, (s, done) => s.run([...bindings], function changed(this: { changes: number }, err: Error | null) {
      done(err, err ? undefined : this.changes);
    })),
  };
}

/**
 * SQLite through the sqlite3 driver. A request waits for the database (a connection, then the
 * write lock) at most the busy timeout counted from when it began, then fails as busy (503 with
 * Retry-After): each connection handed to a request gets what is left of that budget as its busy
 * timeout (sqlite3's documented `configure('busyTimeout')`). Outside a request the full timeout holds.
 */
export function sqliteDriverSql(options: SqliteOptions): DriverSql {
  const sqlite3 = require('sqlite3') as typeof import('sqlite3');
  const pool = new SimplePool<SqliteConnection>(
    options.connections,
    async () => {
      const db = await new Promise<Database>((resolve, reject) => {
        const opened: Database = new sqlite3.Database(options.filename, (err) => (err ? reject(err) : resolve(opened)));
      });
      try {
        await options.configure(db);
      } catch (error) {
        await new Promise<void>((resolve) => db.close(() => resolve()));
        throw error;
      }
      return { db, statements: new Map(), busyTimeout: options.busyTimeoutMs };
    },
    async (conn) => {
      const all = await Promise.allSettled([...conn.statements.values()]);
      await Promise.all(all.map((s) => (s.status === 'fulfilled' ? new Promise<void>((resolve) => s.value.finalize(() => resolve())) : undefined)));
      await new Promise<void>((resolve) => conn.db.close(() => resolve()));
    },
  );

  const left = (): number | undefined => {
    const startedAt = requestScope()?.startedAt;
    return startedAt === undefined ? undefined : Math.max(0, startedAt + options.busyTimeoutMs - Date.now());
  };

  const acquire = async (): Promise<SqliteConnection> => {
    const budget = left();
    let conn: SqliteConnection;
    if (budget === undefined) {
      conn = await pool.acquire();
    } else {
      if (budget === 0) throw busyError('waited SQLITE_BUSY_TIMEOUT_MS');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(busyError('no connection within SQLITE_BUSY_TIMEOUT_MS')), budget)));
      try {
        conn = await pool.acquire(late);
      } finally {
        clearTimeout(timer);
      }
    }
    // what is left once the connection came (0: a write that finds the lock taken fails at once)
    const busyTimeout = budget === undefined ? options.busyTimeoutMs : left() ?? 0;
    if (conn.busyTimeout !== busyTimeout) {
      conn.db.configure('busyTimeout', busyTimeout);
      conn.busyTimeout = busyTimeout;
    }
    return conn;
  };

  const withConnection = async <T>(work: (conn: SqliteConnection) => Promise<T>): Promise<T> => {
    const conn = await acquire();
    try {
      return await work(conn);
    } finally {
      pool.release(conn);
    }
  };

  const exec = (conn: SqliteConnection, sql: string) => new Promise<void>((resolve, reject) => conn.db.exec(sql, (err) => (err ? reject(err) : resolve())));

  let writers: Promise<void> = Promise.resolve();
  /** The transactions of this handle take turns here, before they take a connection. */
  const writerTurn = (): Promise<() => void> => {
    const previous = writers;
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    writers = previous.then(() => mine);
    const timeoutMs = left() ?? options.busyTimeoutMs;
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
  };

  return {
    rows: (sql, bindings) => withConnection((conn) => sqliteStatements(conn).rows(sql, bindings)),
    changes: (sql, bindings) => withConnection((conn) => sqliteStatements(conn).changes(sql, bindings)),
    async transaction<T>(work: (sql: FixedSql) => Promise<T>): Promise<T> {
      const release = await writerTurn();
      try {
        return await withConnection(async (conn) => {
          await exec(conn, 'BEGIN IMMEDIATE');
          try {
            const result = await work(sqliteStatements(conn));
            await exec(conn, 'COMMIT');
            return result;
          } catch (error) {
            // SQLite keeps a transaction open when COMMIT fails with SQLITE_BUSY
            await exec(conn, 'ROLLBACK').catch(() => undefined);
            throw error;
          }
        });
      } finally {
        release();
      }
    },
    session: (work) => withConnection((conn) => work(sqliteStatements(conn))),
    close: () => pool.close(),
  };
}

// ── PostgreSQL ────────────────────────────────────────────────────────────────────────────────

/** A statement's name is the same on every connection and every pool of the process. */
const postgresStatements = new Map<string, { name: string; text: string }>();

function statementFor(sql: string): { name: string; text: string } {
  let statement = postgresStatements.get(sql);
  if (!statement) {
    let n = 0;
    statement = { name: `sesame_fixed_${postgresStatements.size}`, text: sql.replace(/\?/g, () => `$${++n}`) };
    postgresStatements.set(sql, statement);
  }
  return statement;
}

/**
 * On PostgreSQL each fixed statement is a named prepared statement (pg's documented
 * `{ name, text, values }`; `$1…` for `?`, which must not appear inside a literal): the server
 * parses and plans it once per connection.
 */
function postgresFixedSql(on: Pool | PoolClient): FixedSql {
  const query = (sql: string, bindings: readonly Binding[]) => on.query({ ...statementFor(sql), values: [...bindings] });
  return {
    rows: async <T>(sql: string, bindings: readonly Binding[]) => (await query(sql, bindings)).rows as T[],
    changes: async (sql: string, bindings: readonly Binding[]) => (await query(sql, bindings)).rowCount ?? 0,
  };
}

export function postgresDriverSql(url: string, options: { connections: number; connectTimeoutMs: number }): DriverSql {
  const pg = require('pg') as typeof import('pg');
  const pool = new pg.Pool({
    connectionString: url,
    max: options.connections,
    connectionTimeoutMillis: options.connectTimeoutMs,
    // a handle nobody closed does not keep the process alive
    allowExitOnIdle: true,
  });
  // an idle connection the server dropped (a restart) is replaced on next use; nothing to answer here
  pool.on('error', () => undefined);
  const plain = postgresFixedSql(pool);
  const onClient = async <T>(work: (client: PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      return await work(client);
    } catch (error) {
      broken = error as Error;
      throw error;
    } finally {
      // a connection that failed mid-transaction is not handed to anyone else
      client.release(broken && isDatabaseUnavailable(broken) ? broken : undefined);
    }
  };
  return {
    rows: plain.rows,
    changes: plain.changes,
    transaction: <T>(work: (sql: FixedSql) => Promise<T>) => onClient(async (client) => {
      await client.query('BEGIN');
      try {
        const result = await work(postgresFixedSql(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    }),
    session: (work) => onClient((client) => work(postgresFixedSql(client))),
    close: () => pool.end(),
  };
}
