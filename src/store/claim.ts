import type { Db } from './db.js';

/**
 * Claims up to `limit` rows of a work queue (the mail outbox, owed logout tokens) for `leaseMs`:
 * rows `pending` and due, or `sending` under a lease that ran out (a worker died). Each claim is a
 * guarded UPDATE that repeats the selection, so when several instances pick the same row exactly
 * one wins; the claimed row comes back with the update (`columns`, plus its id), no second read.
 */
export async function claimDueRows<Row>(db: Db, table: string, columns: readonly string[], now: number, limit: number, leaseMs: number): Promise<(Row & { id: number })[]> {
  const due = (q: ReturnType<Db>) => q
    .where((q2) => q2.where({ status: 'pending' }).andWhere('next_attempt_at', '<=', now))
    .orWhere((q2) => q2.where({ status: 'sending' }).andWhere('locked_until', '<', now));
  const candidates: { id: number }[] = await due(db(table).select('id')).orderBy('id').limit(limit);
  const claimed: (Row & { id: number })[] = [];
  for (const { id } of candidates) {
    const rows = (await db(table)
      .where({ id })
      .andWhere((q) => due(q))
      .update({ status: 'sending', locked_until: now + leaseMs, attempts: db.raw('attempts + 1') })
      .returning([...columns])) as Row[];
    if (rows.length === 1) claimed.push({ ...rows[0], id });
  }
  return claimed;
}
