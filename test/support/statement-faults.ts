import { createRequire } from 'node:module';
import type { DbKind } from './databases.js';

/**
 * Makes SQL statements fail, as a database restart, a full disk or a lost connection would. The
 * drivers' methods (sqlite3's Statement and Database#exec, pg's Client#query) are wrapped in this
 * test process, so every statement of a test server passes here, from knex and from Sesame's fixed
 * SQL alike. While armed, the statements whose text matches are counted, and the one at `failAt`
 * (1 = the first) fails without reaching the database; `failAt: 0` only counts.
 */
export interface Armed {
  match: RegExp;
  failAt: number;
  /** the error the failing statement reports (default: the database went away, per kind) */
  error?: () => Error;
  /** fail every matching statement from `failAt` on, not just that one */
  persist?: boolean;
}

interface State extends Armed {
  seen: string[];
  failed: string[];
}

let state: State | undefined;

/** Starts counting (and failing) statements; returns what was seen when disarmed. */
export function armStatementFault(armed: Armed): void {
  install();
  state = { ...armed, seen: [], failed: [] };
}

export function disarmStatementFault(): { seen: string[]; failed: string[] } {
  const done = state ?? { seen: [], failed: [] };
  state = undefined;
  return { seen: done.seen, failed: done.failed };
}

/** What a database going away looks like to each driver. */
export const outage: Record<DbKind, () => Error> = {
  sqlite: () => Object.assign(new Error('SQLITE_IOERR: disk I/O error'), { errno: 10, code: 'SQLITE_IOERR' }),
  postgres: () => Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01', severity: 'FATAL' }),
};

/** The error for this statement, or undefined to run it. */
function fault(sql: string, kind: DbKind): Error | undefined {
  if (!state || !state.match.test(sql)) return undefined;
  state.seen.push(sql.replace(/\s+/g, ' ').slice(0, 120));
  const n = state.seen.length;
  if (state.failAt === 0 || n < state.failAt || (n > state.failAt && !state.persist)) return undefined;
  state.failed.push(state.seen[n - 1]);
  return (state.error ?? outage[kind])();
}

let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  type Method = (this: unknown, ...args: unknown[]) => unknown;

  const sqlite3 = require('sqlite3') as Record<'Database' | 'Statement', { prototype: Record<string, Method> }>;
  const wrapSqlite = (prototype: Record<string, Method>, method: string, sqlOf: (self: { sql?: string }, args: unknown[]) => string) => {
    const original = prototype[method];
    prototype[method] = function faulty(this: unknown, ...args: unknown[]) {
      const callback = args[args.length - 1];
      const error = typeof callback === 'function' ? fault(sqlOf(this as { sql?: string }, args), 'sqlite') : undefined;
      if (!error) return original.apply(this, args);
      setImmediate(() => (callback as Method).call(this, error));
      return this;
    };
  };
  wrapSqlite(sqlite3.Database.prototype, 'exec', (_self, args) => String(args[0]));
  for (const method of ['all', 'run', 'get']) wrapSqlite(sqlite3.Statement.prototype, method, (self) => String(self.sql));

  const pg = require('pg') as { Client: { prototype: Record<string, Method> } };
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function faulty(this: unknown, ...args: unknown[]) {
    const first = args[0] as string | { text?: string };
    const error = fault(typeof first === 'string' ? first : String(first?.text ?? ''), 'postgres');
    if (!error) return query.apply(this, args);
    const callback = args[args.length - 1];
    if (typeof callback === 'function') {
      setImmediate(() => (callback as Method)(error));
      return undefined;
    }
    return Promise.reject(error);
  };
}
