import type { OwedLogout, OwedLogoutStore } from '../oidc/backchannel-logout.js';
import type { Db } from './db.js';

const TABLE = 'backchannel_logouts';

export class KnexOwedLogoutStore implements OwedLogoutStore {
  constructor(private readonly db: Db) {}

  async claimDue(now: number, limit: number, leaseMs: number): Promise<OwedLogout[]> {
    const due = (q: ReturnType<Db>) => q
      .where((q2) => q2.where({ status: 'pending' }).andWhere('next_attempt_at', '<=', now))
      .orWhere((q2) => q2.where({ status: 'sending' }).andWhere('locked_until', '<', now));
    const candidates: { id: number }[] = await due(this.db(TABLE).select('id')).orderBy('id').limit(limit);
    const claimed: OwedLogout[] = [];
    for (const { id } of candidates) {
      // the guard repeats the selection: of several instances picking one row, one update wins
      const rows: { account_id: string; client_id: string; sid: string; attempts: number }[] = await this.db(TABLE)
        .where({ id })
        .andWhere((q) => due(q))
        .update({ status: 'sending', locked_until: now + leaseMs, attempts: this.db.raw('attempts + 1') })
        .returning(['account_id', 'client_id', 'sid', 'attempts']);
      if (rows.length === 1) claimed.push({ id, accountId: rows[0].account_id, clientId: rows[0].client_id, sid: rows[0].sid, attempts: rows[0].attempts });
    }
    return claimed;
  }

  async finish(id: number, status: 'sent' | 'skipped' | 'failed', error?: string): Promise<void> {
    await this.db(TABLE).where({ id }).update({ status, locked_until: null, last_error: error ?? null });
  }

  async retryAt(id: number, at: number, error: string): Promise<void> {
    await this.db(TABLE).where({ id }).update({ status: 'pending', next_attempt_at: at, locked_until: null, last_error: error });
  }

}
