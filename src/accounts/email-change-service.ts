import type { AuditEvent } from '../audit/audit.js';
import type { EmailChangeMails } from '../mail/email-change-mail.js';
import { KeyedHasher, randomToken } from '../shared/crypto.js';
import { AppError, conflict, gone, notFound } from '../shared/errors.js';
import type { Account } from './account.js';
import { normalizeEmail } from './email-address.js';
import type { EmailChange, EmailChangeStore, PendingEmailChange } from './email-change.js';

const TOKEN = 'email-change';
// the notice carries no link; it is worth sending for as long as the outbox keeps retrying
const NOTICE_TTL_MS = 24 * 3600 * 1000;

export interface EmailChangeSettings {
  readonly issuer: string;
  readonly ttlSeconds: number;
}

/** Who asked for or confirmed a change, for the audit trail, and the language of the emails. */
export interface EmailChangeActor {
  /** `cli`, `admin_api`, `link` … */
  readonly via?: string;
  readonly ip?: string;
  readonly userAgent?: string;
  readonly requestId?: string;
  /** language of the emails (English unless given) */
  readonly locale?: string;
  /** the operator who asked for the change (see AuditEvent.actor); none when the person did */
  readonly actor?: string;
}

/**
 * Changing an account's address: the new address must confirm (a single-use link, valid for a
 * while), and only then does the account move to it; the old address is told afterwards. Until the
 * confirmation nothing about the account changes: the old address still signs in, the new one does not.
 */
export class EmailChangeService {
  #onMailQueued: () => void = () => {};

  constructor(
    private readonly store: EmailChangeStore,
    private readonly accounts: { findByEmail(email: string): Promise<Account | undefined> },
    private readonly hasher: KeyedHasher,
    private readonly mails: EmailChangeMails,
    private readonly audit: { record(event: AuditEvent): Promise<void> },
    private readonly settings: EmailChangeSettings,
  ) {}

  /** Called after a mail was queued (the server wakes its outbox worker; the CLI leaves it to the server's poll). */
  onMailQueued(listener: () => void): void {
    this.#onMailQueued = listener;
  }

  /** Replaces any earlier pending change of the account and emails the new address a confirmation link. */
  async request(account: Account, newEmail: unknown, actor: EmailChangeActor = {}, now = Date.now()): Promise<PendingEmailChange> {
    const email = normalizeEmail(newEmail);
    if (email === account.email) throw new AppError('email_unchanged', 400, `${email} is already the address of this account.`);
    if (await this.accounts.findByEmail(email)) throw emailTaken(email);
    const token = randomToken(32);
    const change: EmailChange = {
      id: randomToken(16),
      accountId: account.id,
      oldEmail: account.email,
      newEmail: email,
      tokenHash: this.hasher.hash(TOKEN, token),
      state: 'pending',
      locale: actor.locale ?? 'en',
      createdAt: now,
      expiresAt: now + this.settings.ttlSeconds * 1000,
      confirmedAt: null,
    };
    const mail = this.mails.confirmation({
      to: email,
      oldEmail: account.email,
      link: `${this.settings.issuer}/account/email/confirm?token=${encodeURIComponent(token)}`,
      requestedAt: now,
      expiresAt: change.expiresAt,
      locale: change.locale,
    });
    await this.store.create(change, { ...mail, expiresAt: change.expiresAt });
    this.#onMailQueued();
    await this.audit.record({
      ...who(actor),
      type: 'account.email_change_requested',
      accountId: account.id,
      email: account.email,
      details: { via: actor.via ?? 'unknown', new_email: email, change_id: change.id, expires_at: new Date(change.expiresAt).toISOString() },
    });
    return withoutHash(change);
  }

  /** Looks a link up without changing anything (GET and HEAD of the link: mail scanners fetch links). */
  async inspect(token: unknown, now = Date.now()): Promise<PendingEmailChange> {
    const change = await this.find(token);
    assertPending(change, now);
    return withoutHash(change);
  }

  /**
   * Confirms, once: of any number of concurrent calls with one token exactly one changes the
   * address. Refused (and nothing changed) when another account took the new address meanwhile.
   */
  async confirm(token: unknown, actor: EmailChangeActor = {}, now = Date.now()): Promise<PendingEmailChange> {
    const change = await this.find(token);
    assertPending(change, now);
    const notice = this.mails.notice({ to: change.oldEmail, newEmail: change.newEmail, changedAt: now, locale: change.locale });
    const outcome = await this.store.confirm(change, now, { ...notice, expiresAt: now + NOTICE_TTL_MS });
    if (outcome === 'email_taken') throw emailTaken(change.newEmail);
    if (outcome === 'account_disabled') throw conflict('email_change_account_disabled', 'This account is disabled, so its address cannot be changed.');
    if (outcome === 'not_pending') {
      // another confirmation won the race (or the link expired just now): say which
      const current = await this.store.findByTokenHash([change.tokenHash]);
      if (current) assertPending(current, now);
      throw changeUsed();
    }
    this.#onMailQueued();
    await this.audit.record({
      ...who(actor),
      type: 'account.email_changed',
      accountId: change.accountId,
      email: change.newEmail,
      details: { via: actor.via ?? 'link', old_email: change.oldEmail, change_id: change.id },
    });
    return { ...withoutHash(change), state: 'confirmed', confirmedAt: now };
  }

  /** Tokens are 256-bit random values: guessing one is pointless, so a malformed one is refused without a look-up. */
  private async find(token: unknown): Promise<EmailChange> {
    const change = typeof token === 'string' && /^[A-Za-z0-9_-]{43}$/.test(token)
      ? await this.store.findByTokenHash(this.hasher.candidates(TOKEN, token))
      : undefined;
    if (!change) throw notFound('email_change_invalid', 'This confirmation link is not valid. Check that you copied the whole link.');
    return change;
  }
}

function assertPending(change: EmailChange, now: number): void {
  if (change.state === 'pending' && change.expiresAt > now) return;
  if (change.state === 'pending' || change.state === 'expired') throw gone('email_change_expired', 'This confirmation link has expired. Ask for the change again.');
  if (change.state === 'cancelled') throw gone('email_change_replaced', 'A newer change of this account was asked for; this link no longer works.');
  throw changeUsed();
}

function who(actor: EmailChangeActor): Pick<AuditEvent, 'ip' | 'userAgent' | 'requestId' | 'actor'> {
  return { ip: actor.ip, userAgent: actor.userAgent, requestId: actor.requestId, actor: actor.actor };
}

function withoutHash({ tokenHash: _hash, ...change }: EmailChange): PendingEmailChange {
  return change;
}

const emailTaken = (email: string) => conflict('email_taken', `Another account already uses ${email}.`);
const changeUsed = () => gone('email_change_used', 'This email address change has already been confirmed.');
