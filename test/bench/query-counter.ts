import { renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

/**
 * Loaded into the Sesame process with `node --import` during `--profile` runs only: counts every
 * SQL statement Sesame sends, by shape (literals and placeholders folded), with the time from
 * sending it on an acquired connection to its answer, plus the time spent waiting for a pool
 * connection, and writes them to BENCH_QUERY_COUNT_FILE on SIGUSR2 and at exit. On SQLite it
 * wraps the sqlite3 driver's statement methods (knex's query builder and Sesame's fixed SQL both
 * end there); on PostgreSQL, pg's `Client#query`. The pool wait counted is knex's only. Sesame's code is untouched.
 */
interface Tally {
  count: number;
  ms: number;
}

type Callback = (...args: unknown[]) => void;

const file = process.env.BENCH_QUERY_COUNT_FILE;
if (file) {
  const require = createRequire(`${process.cwd()}/package.json`);
  const tallies = new Map<string, Tally>();
  const waits: Tally = { count: 0, ms: 0 };
  tallies.set('(waiting for a pool connection)', waits);
  const count = (sql: string): (() => void) => {
    const shape = sql.replace(/\$\d+/g, '?').replace(/'[^']*'/g, "'…'").replace(/\b\d+\b/g, 'N').replace(/\(\?(, \?)*\)/g, '(?…)').replace(/\s+/g, ' ').slice(0, 300);
    const tally = tallies.get(shape) ?? { count: 0, ms: 0 };
    tallies.set(shape, tally);
    tally.count++;
    const started = performance.now();
    return () => {
      tally.ms += performance.now() - started;
    };
  };

  const Client = require('knex/lib/client.js') as { prototype: { acquireConnection(): Promise<unknown> } };
  const acquire = Client.prototype.acquireConnection;
  Client.prototype.acquireConnection = function acquireConnection() {
    const started = performance.now();
    const result = acquire.call(this);
    const done = () => {
      waits.count++;
      waits.ms += performance.now() - started;
    };
    result.then(done, done);
    return result;
  };
  // PostgreSQL: every statement, knex's and Sesame's fixed SQL, ends in pg's Client#query (loaded
  // only when installed and asked for: a SQLite server never loads pg)
  try {
    const pg = require('pg') as { Client: { prototype: { query(...args: unknown[]): unknown } } };
    const pgQuery = pg.Client.prototype.query;
    pg.Client.prototype.query = function counted(this: unknown, ...args: unknown[]) {
      const config = args[0] as string | { text?: string };
      const result = pgQuery.apply(this, args);
      if (result instanceof Promise) {
        const done = count(typeof config === 'string' ? config : String(config?.text ?? ''));
        result.then(done, done);
      }
      return result;
    };
  } catch {
    // no pg: SQLite only
  }

  // knex's statements (Database#all, #run…, which make a Statement and call its method) and
  // Sesame's prepared ones all end in Statement#all, #run or #get, whose SQL is the statement's
  // `sql`; Database#exec (BEGIN, PRAGMA…) is the one that does not
  const sqlite3 = require('sqlite3') as Record<'Database' | 'Statement', { prototype: Record<string, unknown> }>;
  const wrap = (prototype: Record<string, unknown>, method: string, sqlOf: (self: { sql?: string }, args: unknown[]) => string) => {
    const original = prototype[method] as (this: unknown, ...args: unknown[]) => unknown;
    prototype[method] = function counted(this: { sql?: string }, ...args: unknown[]) {
      const last = args.length - 1;
      if (typeof args[last] !== 'function') return original.apply(this, args);
      const done = count(sqlOf(this, args));
      const callback = args[last] as Callback;
      args[last] = function answered(this: unknown, ...results: unknown[]) {
        done();
        return callback.apply(this, results);
      };
      return original.apply(this, args);
    };
  };
  wrap(sqlite3.Database.prototype, 'exec', (_self, args) => String(args[0]));
  for (const method of ['all', 'run', 'get']) wrap(sqlite3.Statement.prototype, method, (self) => String(self.sql));

  // written on SIGUSR2 (the bench snapshots before and after the measured sign-ins) and at exit
  const write = () => {
    writeFileSync(`${file}.tmp`, JSON.stringify(Object.fromEntries(tallies), null, 1));
    renameSync(`${file}.tmp`, file);
  };
  process.on('SIGUSR2', write);
  process.on('exit', write);
}
