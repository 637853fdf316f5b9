import type { AuditEvent } from '../audit/audit.js';
import type { MailMessage, QueuedMail } from '../mail/message.js';
import type { KeyedHasher } from '../shared/crypto.js';
import { gone, notFound } from '../shared/errors.js';
import type { Account, AccountStore } from './account.js';
import type { Requester } from './connections.js';

const PURPOSE = 'account deletion';

export interface DeletionMailDetails {
  to: string;
  link: string;
  requestedAt: number;
  expiresAt: number;
  locale: string;
}

export interface DeletionSettings {
  readonly issuer: string;
  readonly ttlSeconds: number;
}

/**
 * Deleting an account from its own page, confirmed from the address: the page sends a link, and
 * only the link's page deletes. The link carries the account id, its address and an expiry,
 * signed with a key for this purpose alone (HKDF from HMAC_SECRETS, every configured secret still
 * verifies). Nothing is stored, so there is nothing to sweep or leak: a link works until it
 * expires, for that account at that address only (after an address change it is dead), and once:
 * the account it names is gone after the first use, and a later sign-in creates a new one.
 */
export class AccountDeletion {
  #onMailQueued: () => void = () => {};

  constructor(
    private readonly accounts: Pick<AccountStore, 'findById' | 'remove'>,
    private readonly hasher: KeyedHasher,
    private readonly mail: (details: DeletionMailDetails) => MailMessage,
    private readonly outbox: { queue(mail: QueuedMail): Promise<void> },
    private readonly audit: { record(event: AuditEvent): Promise<void> },
    private readonly settings: DeletionSettings,
  ) {}

  onMailQueued(listener: () => void): void {
    this.#onMailQueued = listener;
  }

  /** Emails the account's address the link that deletes it; returns when the link stops working. */
  async request(account: Account, who: Requester & { locale: string }, now = Date.now()): Promise<number> {
    const expiresAt = now + this.settings.ttlSeconds * 1000;
    const token = this.#token(account, expiresAt);
    const link = `${this.settings.issuer}/account/delete/confirm?token=${encodeURIComponent(token)}`;
    await this.outbox.queue({ ...this.mail({ to: account.email, link, requestedAt: now, expiresAt, locale: who.locale }), expiresAt });
    this.#onMailQueued();
    await this.audit.record({ ip: who.ip, userAgent: who.userAgent, requestId: who.requestId, type: 'account.deletion_requested', accountId: account.id, email: account.email, details: { expires_at: new Date(expiresAt).toISOString() } });
    return expiresAt;
  }

  /** The account a link would delete (GET of the link: mail scanners fetch links, nothing changes). */
  async inspect(token: unknown, now = Date.now()): Promise<Account> {
    const { accountId, expiresAt, mac } = parse(token);
    const account = await this.accounts.findById(accountId);
    // an unknown account and a wrong signature look the same; a deleted account's link is "used"
    if (!account || !this.hasher.verify(PURPOSE, signed(account, expiresAt), mac)) {
      if (!account && expiresAt > now) throw gone('account_deletion_used', 'This account has already been deleted.');
      throw invalid();
    }
    if (expiresAt <= now) throw gone('account_deletion_expired', 'This link has expired. Ask for a new one on your account page.');
    return account;
  }

  /** Deletes the account the link names: every session, grant and token first (see AccountService.remove). */
  async confirm(token: unknown, who: Requester, now = Date.now()): Promise<Account> {
    const account = await this.inspect(token, now);
    // of concurrent confirmations, the one whose DELETE removed the row wins; the others are told it is done
    if (!(await this.accounts.remove(account.id, account.email))) throw gone('account_deletion_used', 'This account has already been deleted.');
    await this.audit.record({ ...who, type: 'account.deleted', accountId: account.id, email: account.email, details: { via: 'account_page' } });
    return account;
  }

  #token(account: Account, expiresAt: number): string {
    return `${account.id}.${expiresAt}.${this.hasher.hash(PURPOSE, signed(account, expiresAt))}`;
  }
}

const signed = (account: Account, expiresAt: number) => `${account.id}\n${account.email}\n${expiresAt}`;

function parse(token: unknown): { accountId: string; expiresAt: number; mac: string } {
  const match = typeof token === 'string' ? /^([A-Za-z0-9_-]{1,64})\.(\d{13})\.([A-Za-z0-9_-]{43})$/.exec(token) : null;
  if (!match) throw invalid();
  return { accountId: match[1], expiresAt: Number(match[2]), mac: match[3] };
}

const invalid = () => notFound('account_deletion_invalid', 'This link is not valid. Check that you copied the whole link.');
