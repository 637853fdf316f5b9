import type { ConfirmOutcome, EmailChange, EmailChangeState, EmailChangeStore } from '../accounts/email-change.js';
import type { QueuedMail } from '../mail/message.js';
import { isUniqueViolation, type Db } from './db.js';
import { revokeAccess } from './account-store.js';
import { outboxRow, type MailBox } from './outbox-store.js';
import { forgetMemo } from './request-memo.js';

interface Row {
  id: string;
  account_id: string;
  old_email: string;
  new_email: string;
  token_hash: string;
  state: EmailChangeState;
  locale: string;
  created_at: number;
  expires_at: number;
  confirmed_at: number | null;
}

const toChange = (row: Row): EmailChange => ({
  id: row.id,
  accountId: row.account_id,
  oldEmail: row.old_email,
  newEmail: row.new_email,
  tokenHash: row.token_hash,
  state: row.state,
  locale: row.locale,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  confirmedAt: row.confirmed_at,
});

const MAX_CREATE_ATTEMPTS = 10;

/** Thrown inside a transaction to roll it back when a guard matched nothing. */
class NotPending extends Error {}

export class KnexEmailChangeStore implements EmailChangeStore {
  constructor(private readonly db: Db, private readonly box: MailBox) {}

  async create(change: EmailChange, mail: QueuedMail): Promise<void> {
    // At most one pending change per account (partial unique index). When a concurrent request for
    // the same account commits first, our transaction could not see its row to cancel it and the
    // index refuses ours: try again, now that it is visible (and gets cancelled by ours).
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#insert(change, mail);
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= MAX_CREATE_ATTEMPTS) throw error;
      }
    }
  }

  async #insert(change: EmailChange, mail: QueuedMail): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx('email_changes').where({ account_id: change.accountId, state: 'pending' }).update({ state: 'cancelled' });
      await trx('email_changes').insert({
        id: change.id,
        account_id: change.accountId,
        old_email: change.oldEmail,
        new_email: change.newEmail,
        token_hash: change.tokenHash,
        state: change.state,
        locale: change.locale,
        created_at: change.createdAt,
        expires_at: change.expiresAt,
      });
      await trx('mail_outbox').insert(outboxRow(this.box, mail, change.createdAt));
    });
  }

  async findByTokenHash(candidates: string[]): Promise<EmailChange | undefined> {
    const row = await this.db<Row>('email_changes').whereIn('token_hash', candidates).first();
    return row && toChange(row);
  }

  async confirm(change: EmailChange, now: number, notice: QueuedMail): Promise<ConfirmOutcome> {
    forgetMemo();
    try {
      await this.db.transaction(async (trx) => {
        // the state and expiry checks live in the WHERE: one statement decides, so a link
        // confirmed many times at once changes the address exactly once
        const won = await trx('email_changes')
          .where({ id: change.id, state: 'pending' })
          .andWhere('expires_at', '>', now)
          .update({ state: 'confirmed', confirmed_at: now });
        if (won !== 1) throw new NotPending();
        // the unique email column refuses an address another account took meanwhile; that error
        // rolls the whole transaction back, the change stays pending
        // a disabled account keeps its address: confirming must not be a way around the operator
        const moved = await trx('accounts')
          .where({ id: change.accountId, email: change.oldEmail, status: 'active' })
          .update({ email: change.newEmail, email_verified: true, updated_at: now });
        if (moved !== 1) {
          const account = await trx('accounts').where({ id: change.accountId }).first('status');
          throw account && account.status !== 'active' ? new AccountDisabled() : new NotPending();
        }
        // whoever held the old address's sessions and tokens keeps none of them (as when disabling)
        await revokeAccess(trx, change.accountId, change.oldEmail, now);
        await trx('mail_outbox').insert(outboxRow(this.box, notice, now));
      });
      return 'confirmed';
    } catch (error) {
      if (error instanceof NotPending) return 'not_pending';
      if (error instanceof AccountDisabled) return 'account_disabled';
      if (isUniqueViolation(error)) return 'email_taken';
      throw error;
    }
  }
}

class AccountDisabled extends Error {}
