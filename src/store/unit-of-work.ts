import { beginRequestTransaction, type Db, type RequestTransaction } from './db.js';
import { requestScope, withRequestScope } from './request-memo.js';

/**
 * One HTTP request's changes to oidc-provider's state, as one database transaction. oidc-provider
 * changes its state in several separate writes: a refresh spends the old refresh token and then
 * saves the new one; finishing a sign-in at /auth/:uid deletes the interaction and then saves the
 * session and the code. Written one by one, a failure between them (a database restart, a full
 * disk, a lock) left the first done and the second not: the app's retry of the refresh was taken
 * for token reuse and revoked the grant, the person's retry of /auth/:uid found no interaction.
 *
 * The transaction begins at the adapter's first write of the request (requests that only read,
 * most of them, begin none), every later statement of the request runs in it (db.ts), and it is
 * committed when the request's answer is not a server error, before the answer is sent, and
 * rolled back otherwise (http/unit-of-work.ts), so a retry finds everything as it was.
 */
export class UnitOfWork {
  #transaction: RequestTransaction | undefined;
  #client: object | undefined;
  #beginning: Promise<void> | undefined;
  #finished = false;

  /** Begins the transaction if the request has none yet. Outside a request, or after its answer, statements run on their own. */
  async join(db: Db): Promise<void> {
    if (this.#finished || this.#transaction) return;
    this.#beginning ??= beginRequestTransaction(db).then((transaction) => {
      this.#client = db.client;
      if (!this.#finished) {
        this.#transaction = transaction;
        return;
      }
      // the request was answered while the transaction began (a write nobody awaited)
      return transaction.rollback();
    });
    await this.#beginning;
  }

  /** Whether the transaction has begun and is not finished. */
  get open(): boolean {
    return this.#transaction !== undefined;
  }

  /** The open transaction, when it is on this knex client's database. */
  transactionOn(client: object): RequestTransaction | undefined {
    return this.#client === client ? this.#transaction : undefined;
  }

  /**
   * Commits or rolls back; true when there was a transaction. A failed commit rolls back and
   * throws: the request must then not answer as if it had succeeded.
   */
  async finish(commit: boolean): Promise<boolean> {
    if (this.#finished) return false;
    this.#finished = true;
    await this.#beginning?.catch(() => undefined);
    const transaction = this.#transaction;
    this.#transaction = undefined;
    if (!transaction) return false;
    if (commit) await transaction.commit();
    else await transaction.rollback();
    return true;
  }
}

/** Joins the current request's unit of work before a write (no-op outside a request). */
export async function joinUnitOfWork(db: Db): Promise<void> {
  await requestScope()?.work?.join(db);
}

/** Whether the current request's unit of work has begun its transaction (and not yet finished). */
export function inOpenUnitOfWork(): boolean {
  return requestScope()?.work?.open ?? false;
}

/** Commits (or rolls back) the current request's unit of work; see UnitOfWork.finish. */
export function finishUnitOfWork(commit: boolean): Promise<boolean> {
  return requestScope()?.work?.finish(commit) ?? Promise.resolve(false);
}

/**
 * Runs one HTTP request with its memo and its unit of work. The HTTP layer finishes the unit
 * before it answers; one it did not finish (a request that ended without passing through it) is
 * rolled back here, so no transaction outlives its request.
 */
export async function withUnitOfWork(fn: () => Promise<unknown> | unknown): Promise<void> {
  const work = new UnitOfWork();
  try {
    await withRequestScope(work, fn);
  } finally {
    await work.finish(false).catch(() => undefined);
  }
}
