import { renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

/**
 * Loaded into the Sesame process with `node --import` during `--profile` runs only: counts every
 * SQL statement knex sends, by shape (literals and placeholders folded), with the time from
 * sending it on an acquired connection to its answer, plus the time spent waiting for a pool
 * connection (SQLite has one), and writes them to BENCH_QUERY_COUNT_FILE on SIGUSR2 and at exit.
 * Sesame's code is untouched.
 */
interface Tally {
  count: number;
  ms: number;
}

const file = process.env.BENCH_QUERY_COUNT_FILE;
if (file) {
  const require = createRequire(`${process.cwd()}/package.json`);
  const Client = require('knex/lib/client.js') as { prototype: { query(connection: unknown, query: unknown): Promise<unknown>; acquireConnection(): Promise<unknown> } };
  const original = Client.prototype.query;
  const acquire = Client.prototype.acquireConnection;
  const tallies = new Map<string, Tally>();
  const waits: Tally = { count: 0, ms: 0 };
  tallies.set('(waiting for a pool connection)', waits);
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
  Client.prototype.query = function query(connection: unknown, queryParam: unknown) {
    const sql = typeof queryParam === 'string' ? queryParam : String((queryParam as { sql?: string }).sql ?? '');
    const shape = sql.replace(/\$\d+/g, '?').replace(/'[^']*'/g, "'…'").replace(/\b\d+\b/g, 'N').replace(/\(\?(, \?)*\)/g, '(?…)').slice(0, 300);
    const tally = tallies.get(shape) ?? { count: 0, ms: 0 };
    tallies.set(shape, tally);
    tally.count++;
    const started = performance.now();
    const done = () => {
      tally.ms += performance.now() - started;
    };
    const result = original.call(this, connection, queryParam);
    result.then(done, done);
    return result;
  };
  // written on SIGUSR2 (the bench snapshots before and after the measured sign-ins) and at exit
  const write = () => {
    writeFileSync(`${file}.tmp`, JSON.stringify(Object.fromEntries(tallies), null, 1));
    renameSync(`${file}.tmp`, file);
  };
  process.on('SIGUSR2', write);
  process.on('exit', write);
}
