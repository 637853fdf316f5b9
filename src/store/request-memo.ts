import { AsyncLocalStorage } from 'node:async_hooks';
import type { UnitOfWork } from './unit-of-work.js';

/**
 * Rows read during one HTTP request, by table (or oidc-provider model), look-up column and value;
 * `undefined` records that there was no row. The stores answer a repeated read within the request
 * from the first, and a store that writes a table forgets that table's rows, so a request always
 * sees its own writes. Nothing outlives the request: another request (or instance) always reads
 * the database. Outside a request (CLI, workers, tests) there is no memo and every read is a read.
 */
export type RequestMemo = Map<string, unknown>;

/** What one HTTP request keeps while it runs: its memo, and its unit of work (see unit-of-work.ts). */
export interface RequestScope {
  readonly memo: RequestMemo;
  readonly work?: UnitOfWork;
  /** when the request began (ms): it waits for the database at most SQLITE_BUSY_TIMEOUT_MS from then */
  readonly startedAt?: number;
}

const storage = new AsyncLocalStorage<RequestScope>();

/** Runs one HTTP request with its own memo. */
export function withRequestMemo<T>(fn: () => T): T {
  return storage.run({ memo: new Map() }, fn);
}

/** Runs one HTTP request with its own memo and unit of work. */
export function withRequestScope<T>(work: UnitOfWork, fn: () => T): T {
  return storage.run({ memo: new Map(), work, startedAt: Date.now() }, fn);
}

/** The current request's scope, if there is one. */
export function requestScope(): RequestScope | undefined {
  return storage.getStore();
}

/** The current request's memo, if there is one. */
export function requestMemo(): RequestMemo | undefined {
  return storage.getStore()?.memo;
}

export function memoKey(table: string, column: string, value: string): string {
  return `${table}\0${column}\0${value}`;
}

/** Forgets the current request's rows of one table, or all of them. */
export function forgetMemo(table?: string): void {
  const memo = storage.getStore()?.memo;
  if (!memo) return;
  if (table === undefined) return memo.clear();
  const prefix = `${table}\0`;
  for (const key of memo.keys()) if (key.startsWith(prefix)) memo.delete(key);
}
