import { insertSql, writeTogether, type Binding, type Db, type Write } from './db.js';
import { requestScope, withRequestScope } from './request-memo.js';

/**
 * One HTTP request's changes to oidc-provider's state, stored together or not at all.
 * oidc-provider changes its state in several separate writes: a refresh spends the old refresh
 * token and then saves the new one; finishing a sign-in at /auth/:uid deletes the interaction and
 * then saves the session and the code. Written one by one, a failure between them (a database
 * restart, a full disk, a lock) left the first done and the second not: the app's retry of the
 * refresh was taken for token reuse and revoked the grant, the person's retry of /auth/:uid found
 * no interaction.
 *
 * During the request the adapter's writes are collected here (and the request reads them back
 * from its memo, oidc-adapter.ts); when its answer is ready and is not a server error, they are
 * written in one short transaction before the answer goes out (http/unit-of-work.ts), otherwise
 * dropped, so a retry finds everything as it was. A transaction held open from the first write to
 * the end of the request instead would hold SQLite's one write lock across the request's own work
 * and, under load, everyone else's work between its awaits, and every writer would queue behind it
 * (docs/benchmark.md). The guarded consume stays guarded: at the write, a token another request
 * spent meanwhile changes no row, and the whole unit fails with InvalidGrant.
 */
export class UnitOfWork {
  #db: Db | undefined;
  readonly #writes: Write[] = [];
  readonly #records: LogRecord[] = [];
  #finished = false;

  /** Collects a write; false when there is nothing to collect for (the request was answered): write it now. */
  add(db: Db, write: Write): boolean {
    if (this.#finished || (this.#db && this.#db !== db)) return false;
    this.#db = db;
    this.#writes.push(write);
    return true;
  }

  /**
   * Collects a row for a log table (the audit events). When the request has writes to store, the
   * rows go with them at the end, one multi-row INSERT per table in the same transaction: no
   * statement nor transaction of their own. Otherwise (no writes, or they are dropped or fail: the
   * record of a refused or failed request matters most) each is handed back to `alone`, which
   * stores it by itself (the audit log coalesces those of concurrent requests); either way before
   * the request answers. False when nothing is being collected: write it now.
   */
  addRecord(db: Db, table: string, row: Readonly<Record<string, Binding>>, alone: () => Promise<void>): boolean {
    if (this.#finished || (this.#db && this.#db !== db)) return false;
    this.#db = db;
    this.#records.push({ table, row, alone });
    return true;
  }

  /** Whether writes are being collected (the request has not been answered). */
  get collecting(): boolean {
    return !this.#finished;
  }

  /**
   * Stores the collected writes (commit) or drops them; true when there were any. Throws what the
   * transaction threw: the request must then not answer as if it had succeeded.
   */
  async finish(commit: boolean): Promise<boolean> {
    if (this.#finished) return false;
    this.#finished = true;
    const writes = this.#writes.splice(0);
    const records = this.#records.splice(0);
    if (commit && writes.length > 0) {
      try {
        await writeTogether(this.#db!, [...writes, ...recordInserts(records)]);
        return true;
      } catch (error) {
        await storeAlone(records);
        throw error;
      }
    }
    await storeAlone(records);
    return writes.length > 0;
  }
}

interface LogRecord {
  readonly table: string;
  readonly row: Readonly<Record<string, Binding>>;
  readonly alone: () => Promise<void>;
}

/** One INSERT per table for all of its records, in the order they came. */
function recordInserts(records: readonly LogRecord[]): Write[] {
  const tables = new Map<string, Readonly<Record<string, Binding>>[]>();
  for (const { table, row } of records) tables.set(table, [...(tables.get(table) ?? []), row]);
  return [...tables].map(([table, rows]) => insertSql(table, rows));
}

/** Records whose request stored no writes with them: each goes its own way (it never throws). */
async function storeAlone(records: readonly LogRecord[]): Promise<void> {
  await Promise.all(records.map((record) => record.alone()));
}

/** The current request's unit of work, while it collects writes (none outside a request). */
export function collectingUnit(): UnitOfWork | undefined {
  const work = requestScope()?.work;
  return work?.collecting ? work : undefined;
}

/** Stores (or drops) the current request's writes; see UnitOfWork.finish. */
export function finishUnitOfWork(commit: boolean): Promise<boolean> {
  return requestScope()?.work?.finish(commit) ?? Promise.resolve(false);
}

/**
 * Runs one HTTP request with its memo and its unit of work. The HTTP layer finishes the unit
 * before it answers; writes of one it did not finish (a request that ended without passing
 * through it) are dropped here.
 */
export async function withUnitOfWork(fn: () => Promise<unknown> | unknown): Promise<void> {
  const work = new UnitOfWork();
  try {
    await withRequestScope(work, fn);
  } finally {
    await work.finish(false);
  }
}
