import type { QueuedMail } from '../mail/message.js';

/**
 * pending ──the new address confirms (POST)──▶ confirmed
 *    └──▶ cancelled (a newer change of the same account replaced it), expired (time; set by the sweeper)
 */
export type EmailChangeState = 'pending' | 'confirmed' | 'cancelled' | 'expired';

export interface EmailChange {
  readonly id: string;
  readonly accountId: string;
  /** the account's address when the change was asked for: it gets the notice once the change is done */
  readonly oldEmail: string;
  readonly newEmail: string;
  /** keyed hash of the emailed token; the token itself is never stored */
  readonly tokenHash: string;
  readonly state: EmailChangeState;
  /** language of the emails */
  readonly locale: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly confirmedAt: number | null;
}

/** What callers (CLI, admin API) get back: the change without its token hash. */
export type PendingEmailChange = Omit<EmailChange, 'tokenHash'>;

export type ConfirmOutcome = 'confirmed' | 'not_pending' | 'email_taken' | 'account_disabled';

/** The storage the email change needs; `store/` implements it. */
export interface EmailChangeStore {
  /** Cancels the account's pending change, if any, inserts this one and queues its mail, in one transaction. */
  create(change: EmailChange, mail: QueuedMail): Promise<void>;
  findByTokenHash(candidates: string[]): Promise<EmailChange | undefined>;
  /**
   * In one transaction: pending → confirmed (only while unexpired: a guarded update that one caller
   * wins), the account's address replaced and marked verified, and the notice to the old address
   * queued. `not_pending` when the guard matched nothing, `email_taken` when another account holds the
   * new address; either way nothing has changed.
   */
  confirm(change: EmailChange, now: number, notice: QueuedMail): Promise<ConfirmOutcome>;
}
