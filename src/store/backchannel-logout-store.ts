import type { OwedLogout, OwedLogoutStore } from '../oidc/backchannel-logout.js';
import { claimDueRows } from './claim.js';
import type { Db } from './db.js';

const TABLE = 'backchannel_logouts';

export class KnexOwedLogoutStore implements OwedLogoutStore {
  constructor(private readonly db: Db) {}

  async claimDue(now: number, limit: number, leaseMs: number): Promise<OwedLogout[]> {
    const rows = await claimDueRows<{ account_id: string; client_id: string; sid: string; attempts: number }>(this.db, TABLE, ['account_id', 'client_id', 'sid', 'attempts'], now, limit, leaseMs);
    return rows.map((row) => ({ id: row.id, accountId: row.account_id, clientId: row.client_id, sid: row.sid, attempts: row.attempts }));
  }

  async finish(id: number, status: 'sent' | 'skipped' | 'failed', error?: string): Promise<void> {
    await this.db(TABLE).where({ id }).update({ status, locked_until: null, last_error: error ?? null });
  }

  async retryAt(id: number, at: number, error: string): Promise<void> {
    await this.db(TABLE).where({ id }).update({ status: 'pending', next_attempt_at: at, locked_until: null, last_error: error });
  }
}
