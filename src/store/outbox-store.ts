import { randomUUID } from 'node:crypto';
import type { QueuedMail } from '../mail/message.js';
import type { OutboxDepth, OutboxItem, OutboxStore } from '../mail/outbox.js';
import type { SecretBox } from '../shared/crypto.js';
import { claimDueRows, claimRow, type ClaimAlso } from './claim.js';
import { fixedSql, type Binding, type Db } from './db.js';

// once a message is sent, failed or stale, its body (which carries a live link) is wiped
const WIPE = { text_body: null, html_body: null };
const WIPE_SQL = Object.keys(WIPE).map((column) => `${column} = null`).join(', ');

const COLUMNS = ['login_request_id', 'attempts', 'recipient', 'subject', 'text_body', 'html_body', 'withheld', 'message_id'];

/** Seals and opens mail bodies (a body carries a live link until it is sent). */
export type MailBox = Pick<SecretBox, 'seal' | 'open'>;

interface OutboxRow {
  id: number;
  login_request_id: string | null;
  attempts: number;
  recipient: string;
  subject: string;
  text_body: string | null;
  html_body: string | null;
  withheld: boolean | number;
  message_id: string;
}

/**
 * A queued message as the row that holds it: the bodies sealed (AES-GCM, a key derived from
 * HMAC_SECRETS for mail alone) and bound to the recipient, so a copy of the database shows no
 * link and a body moved to another row does not open. A message to be withheld is sealed and
 * stored the same way (the same work and the same row size, whatever the address), and wiped
 * when the worker withholds it.
 */
export function outboxRow(box: MailBox, mail: QueuedMail, now: number): Record<string, Binding> {
  const seal = (column: string, body: string) => box.seal(body, bodyContext(mail.to, column));
  return {
    login_request_id: mail.loginRequestId ?? null,
    recipient: mail.to,
    subject: mail.subject,
    text_body: seal('text', mail.text),
    html_body: seal('html', mail.html),
    withheld: Boolean(mail.suppressed),
    status: 'pending',
    attempts: 0,
    next_attempt_at: now,
    created_at: now,
    expires_at: mail.expiresAt,
  };
}

const bodyContext = (recipient: string, column: string) => `mail ${column} ${recipient}`;

/** A row's body in the clear ('' when it has none). */
export function openBody(box: MailBox, row: Pick<OutboxRow, 'id' | 'recipient' | 'text_body' | 'html_body'>, column: 'text' | 'html'): string {
  const stored = row[`${column}_body`];
  if (stored === null) return '';
  // a body queued by a Sesame before bodies were sealed is plain text
  if (!stored.startsWith('v1.')) return stored;
  const opened = box.open(stored, bodyContext(row.recipient, column));
  if (!opened) throw new Error(`mail ${row.id}: no configured HMAC secret opens its body`);
  return opened.plaintext;
}

/** What became of a sign-in's mail, for its waiting page. */
export type MailDelivery = 'pending' | 'sending' | 'sent' | 'failed' | 'expired' | 'suppressed';

export class KnexOutboxStore implements OutboxStore {
  // a sign-in's mail is claimed and marked sent as fixed SQL (see FixedSql)
  readonly #sql;
  /**
   * The first claim of a message gives it its Message-ID, kept for every later attempt (and for a
   * row queued before the column existed): `domain` is the part after the @, our sending domain.
   */
  readonly #messageId: ClaimAlso;

  constructor(private readonly db: Db, private readonly box: MailBox, domain = 'sesame.invalid') {
    this.#sql = fixedSql(db);
    this.#messageId = { set: ', message_id = coalesce(message_id, ?)', bindings: () => [`<${randomUUID()}@${domain}>`] };
  }

  #toItem(row: OutboxRow): OutboxItem {
    return {
      id: row.id,
      loginRequestId: row.login_request_id ?? undefined,
      attempts: row.attempts,
      withheld: Boolean(row.withheld),
      message: { to: row.recipient, subject: row.subject, text: openBody(this.box, row, 'text'), html: openBody(this.box, row, 'html'), messageId: row.message_id },
    };
  }

  async claimDue(now: number, limit: number, leaseMs: number): Promise<OutboxItem[]> {
    await this.db('mail_outbox')
      .whereIn('status', ['pending', 'sending'])
      .andWhere('expires_at', '<=', now)
      .update({ status: 'expired', ...WIPE });

    return (await claimDueRows<OutboxRow>(this.db, 'mail_outbox', COLUMNS, now, limit, leaseMs, this.#messageId)).map((row) => this.#toItem(row));
  }

  async claim(id: number, now: number, leaseMs: number): Promise<OutboxItem | undefined> {
    // no expiry check: only a message queued a moment ago is claimed by id
    const row = await claimRow<OutboxRow>(this.db, 'mail_outbox', COLUMNS, id, now, leaseMs, this.#messageId);
    return row && this.#toItem(row);
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

  async markWithheld(id: number, now: number): Promise<void> {
    await this.#sql.changes(`update mail_outbox set status = 'suppressed', sent_at = ?, locked_until = null, ${WIPE_SQL} where id = ?`, [now, id]);
  }

  async reschedule(id: number, nextAttemptAt: number, error: string): Promise<void> {
    await this.db('mail_outbox').where({ id }).update({ status: 'pending', next_attempt_at: Math.round(nextAttemptAt), locked_until: null, last_error: error });
  }

  async extendLease(id: number, lockedUntil: number): Promise<void> {
    await this.#sql.changes("update mail_outbox set locked_until = ? where id = ? and status = 'sending'", [lockedUntil, id]);
  }

  async resumeWaiting(now: number): Promise<number> {
    // a message is only ever pending with a later time when a failed attempt put it off
    return this.#sql.changes("update mail_outbox set next_attempt_at = ? where status = 'pending' and next_attempt_at > ?", [now, now]);
  }

  /** The state of the latest mail queued for a login request (one per request), if any. */
  async deliveryOf(loginRequestId: string): Promise<MailDelivery | undefined> {
    return (await this.#latestOf(loginRequestId))?.status;
  }

  /**
   * What the waiting page tells of a sign-in's mail: given up (`failed`), or not sent yet although
   * it was tried and failed and was queued at least `delayedAfterMs` ago (`delayed`: the relay is
   * down or refusing us; it is still being retried).
   */
  async waitingMail(loginRequestId: string, now: number, delayedAfterMs: number): Promise<'failed' | 'delayed' | undefined> {
    const row = await this.#latestOf(loginRequestId);
    if (row?.status === 'failed') return 'failed';
    const unsent = row?.status === 'pending' || row?.status === 'sending';
    return unsent && row.last_error !== null && Number(row.created_at) <= now - delayedAfterMs ? 'delayed' : undefined;
  }

  async #latestOf(loginRequestId: string) {
    const [row] = await this.#sql.rows<{ status: MailDelivery; last_error: string | null; created_at: number }>(
      'select status, last_error, created_at from mail_outbox where login_request_id = ? order by id desc limit 1', [loginRequestId]);
    return row;
  }

  async markFailed(id: number, error: string): Promise<void> {
    await this.db('mail_outbox').where({ id }).update({ status: 'failed', locked_until: null, last_error: error, ...WIPE });
  }
}
