import type { OutboxDepth, OutboxItem, OutboxStore } from '../mail/outbox.js';
import { claimDueRows, claimRow } from './claim.js';
import { fixedSql, type Db } from './db.js';

// once a message is sent, failed or stale, its body (which carries a live link) is wiped
const WIPE = { text_body: null, html_body: null };
const WIPE_SQL = Object.keys(WIPE).map((column) => `${column} = null`).join(', ');

const COLUMNS = ['login_request_id', 'attempts', 'recipient', 'subject', 'text_body', 'html_body'];

interface OutboxRow {
  id: number;
  login_request_id: string | null;
  attempts: number;
  recipient: string;
  subject: string;
  text_body: string | null;
  html_body: string | null;
}

const toItem = (row: OutboxRow): OutboxItem => ({
  id: row.id,
  loginRequestId: row.login_request_id ?? undefined,
  attempts: row.attempts,
  message: { to: row.recipient, subject: row.subject, text: row.text_body ?? '', html: row.html_body ?? '' },
});

export class KnexOutboxStore implements OutboxStore {
  // a sign-in's mail is claimed and marked sent as fixed SQL (see FixedSql)
  readonly #sql;

  constructor(private readonly db: Db) {
    this.#sql = fixedSql(db);
  }

  async claimDue(now: number, limit: number, leaseMs: number): Promise<OutboxItem[]> {
    await this.db('mail_outbox')
      .whereIn('status', ['pending', 'sending'])
      .andWhere('expires_at', '<=', now)
      .update({ status: 'expired', ...WIPE });

    return (await claimDueRows<OutboxRow>(this.db, 'mail_outbox', COLUMNS, now, limit, leaseMs)).map(toItem);
  }

  async claim(id: number, now: number, leaseMs: number): Promise<OutboxItem | undefined> {
    // no expiry check: only a message queued a moment ago is claimed by id
    const row = await claimRow<OutboxRow>(this.db, 'mail_outbox', COLUMNS, id, now, leaseMs);
    return row && toItem(row);
  }

  async depth(now: number): Promise<OutboxDepth> {
    const row = await this.db('mail_outbox')
      .whereIn('status', ['pending', 'sending'])
      .andWhere('expires_at', '>', now)
      .select(this.db.raw('count(*) as n'), this.db.raw('min(created_at) as oldest'))
      .first();
    return { pending: Number(row?.n ?? 0), oldestCreatedAt: row?.oldest == null ? undefined : Number(row.oldest) };
  }

  async markSent(id: number, now: number): Promise<void> {
    await this.#sql.changes(`update mail_outbox set status = 'sent', sent_at = ?, locked_until = null, last_error = null, ${WIPE_SQL} where id = ?`, [now, id]);
  }

  async reschedule(id: number, nextAttemptAt: number, error: string): Promise<void> {
    await this.db('mail_outbox').where({ id }).update({ status: 'pending', next_attempt_at: Math.round(nextAttemptAt), locked_until: null, last_error: error });
  }

  async markFailed(id: number, error: string): Promise<void> {
    await this.db('mail_outbox').where({ id }).update({ status: 'failed', locked_until: null, last_error: error, ...WIPE });
  }
}
