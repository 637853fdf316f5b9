import { fixedSql, type Binding, type Db } from './db.js';

/** More columns a claim sets, e.g. `, message_id = coalesce(message_id, ?)`: fixed SQL, fresh bindings per claim. */
export interface ClaimAlso {
  set: string;
  bindings: () => Binding[];
}

/** Rows a worker may take: `pending` and due, or `sending` under a lease that ran out (a worker died). */
const DUE = "((status = 'pending' and next_attempt_at <= ?) or (status = 'sending' and locked_until < ?))";

/**
 * Claims up to `limit` rows of a work queue (the mail outbox, owed logout tokens) for `leaseMs`.
 * Each claim is a guarded UPDATE that repeats the selection, so when several instances pick the
 * same row exactly one wins; the claimed row comes back with the update (`columns`, plus its id),
 * no second read. `table` and `columns` are our own constants, never input.
 */
export async function claimDueRows<Row>(db: Db, table: string, columns: readonly string[], now: number, limit: number, leaseMs: number, also?: ClaimAlso): Promise<(Row & { id: number })[]> {
  const candidates = await fixedSql(db).rows<{ id: number }>(`select id from ${table} where ${DUE} order by id limit ?`, [now, now, limit]);
  const claimed: (Row & { id: number })[] = [];
  for (const { id } of candidates) {
    const row = await claimRow<Row>(db, table, columns, id, now, leaseMs, also);
    if (row) claimed.push(row);
  }
  return claimed;
}

/** Claims one row by id, when it is due (as above); undefined when it is not, or another worker won. */
export async function claimRow<Row>(db: Db, table: string, columns: readonly string[], id: number, now: number, leaseMs: number, also?: ClaimAlso): Promise<(Row & { id: number }) | undefined> {
  const [row] = await fixedSql(db).rows<Row>(
    `update ${table} set status = 'sending', locked_until = ?, attempts = attempts + 1${also?.set ?? ''} where id = ? and ${DUE} returning ${columns.join(', ')}`,
    [now + leaseMs, ...(also?.bindings() ?? []), id, now, now],
  );
  return row && { ...row, id };
}
