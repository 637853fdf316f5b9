import type { SignupPolicy } from '../config/config.js';
import { randomId } from '../shared/crypto.js';
import { badRequest, conflict, notFound } from '../shared/errors.js';
import type { Account, AccountActivity, AccountPage, AccountStore } from './account.js';
import { normalizeEmail } from './email-address.js';
import type { PendingEmailChange } from './email-change.js';
import type { EmailChangeActor, EmailChangeService } from './email-change-service.js';

export interface SignupRules {
  readonly policy: SignupPolicy;
  readonly domains: readonly string[];
}

export class AccountService {
  constructor(
    private readonly store: AccountStore,
    private readonly signup: SignupRules,
    private readonly emailChanges?: EmailChangeService,
  ) {}

  findById(id: string): Promise<Account | undefined> {
    return this.store.findById(id);
  }

  findByEmail(email: string): Promise<Account | undefined> {
    return this.store.findByEmail(email);
  }

  /**
   * Where a sign-in email for this (normalised) address goes, if anywhere: the stored address of
   * the matching active account, or the address itself when the sign-up policy lets it create one.
   */
  async loginRecipient(email: string): Promise<string | undefined> {
    const account = await this.store.findByEmail(email);
    if (account) return account.status === 'active' ? account.email : undefined;
    return this.maySignUp(email) ? email : undefined;
  }

  maySignUp(email: string): boolean {
    switch (this.signup.policy) {
      case 'open':
        return true;
      case 'domains':
        return this.signup.domains.includes(email.slice(email.lastIndexOf('@') + 1));
      case 'invite':
        return false;
    }
  }

  /**
   * Called once the person proved they own the address. Creates the account on first sign-in
   * when the sign-up policy allows it. Returns undefined when the address may not sign in.
   */
  async signIn(email: string, at = Date.now()): Promise<Account | undefined> {
    // the usual case, a returning person: one statement finds the account and records the sign-in
    const returning = await this.store.recordLoginByEmail(email, at);
    if (returning) return returning;
    let account = await this.store.findByEmail(email);
    if (!account) {
      if (!this.maySignUp(email)) return undefined;
      account = await this.store.insertIfAbsent({
        id: randomId(),
        email,
        emailVerified: true,
        status: 'active',
        createdAt: at,
        lastLoginAt: null,
      });
    }
    if (account.status !== 'active') return undefined;
    await this.store.recordLogin(account.id, at);
    return account;
  }

  /** Create an account ahead of its first sign-in (used by invite-only deployments and tests); an existing one is returned as is. */
  async create(email: string, at = Date.now()): Promise<Account> {
    return (await this.#insert(email, at)).account;
  }

  /** Like `create`, but an address that already has an account is a conflict (409). */
  async createNew(email: string, at = Date.now()): Promise<Account> {
    const { account, created } = await this.#insert(email, at);
    if (!created) throw conflict('account_exists', `an account with the address ${account.email} already exists`);
    return account;
  }

  async #insert(email: string, at: number): Promise<{ account: Account; created: boolean }> {
    const id = randomId();
    // the same normalisation as the login form, so the stored address is the one sign-in looks up
    const account = await this.store.insertIfAbsent({ id, email: normalizeEmail(email), emailVerified: false, status: 'active', createdAt: at, lastLoginAt: null });
    return { account, created: account.id === id };
  }

  list(options: { search?: string; after?: string; limit?: number } = {}): Promise<AccountPage> {
    return this.store.list({ ...options, limit: Math.min(Math.max(options.limit ?? 50, 1), 500) });
  }

  /** By id, or by address (normalised like the login form). */
  async get(idOrEmail: string): Promise<Account> {
    const account = idOrEmail.includes('@') ? await this.store.findByEmail(normalizeEmail(idOrEmail)) : await this.store.findById(idOrEmail);
    if (!account) throw notFound('account_not_found', `no account ${idOrEmail}`);
    return account;
  }

  async details(idOrEmail: string): Promise<{ account: Account; activity: AccountActivity }> {
    const account = await this.get(idOrEmail);
    return { account, activity: await this.store.activity(account.id, Date.now()) };
  }

  /** Disabling ends every session, grant and token at once; the address then gets no sign-in email. */
  async disable(idOrEmail: string): Promise<Account> {
    const account = await this.get(idOrEmail);
    await this.store.disable(account.id, account.email, Date.now());
    return { ...account, status: 'disabled' };
  }

  /** Sets (or, with an empty name, removes) how the person is called: the `name` claim under `profile`. */
  async setName(idOrEmail: string, name: string): Promise<Account> {
    const trimmed = name.normalize('NFC').trim().replace(/\s+/g, ' ');
    if (trimmed.length > 100) throw badRequest('invalid_name', 'a name is at most 100 characters');
    if (/\p{Cc}|\p{Cf}/u.test(trimmed)) throw badRequest('invalid_name', 'a name cannot hold control or formatting characters');
    const account = await this.get(idOrEmail);
    const stored = trimmed || null;
    await this.store.setName(account.id, stored, Date.now());
    return { ...account, name: stored };
  }

  async enable(idOrEmail: string): Promise<Account> {
    const account = await this.get(idOrEmail);
    await this.store.setStatus(account.id, 'active', Date.now());
    return { ...account, status: 'active' };
  }

  /** Deleting revokes everything first; the address may sign up again later, as a new account (new `sub`). */
  async remove(idOrEmail: string): Promise<Account> {
    const account = await this.get(idOrEmail);
    await this.store.remove(account.id, account.email);
    return account;
  }

  /**
   * Asks the new address to confirm an address change (a link by email); the account keeps its
   * address until it is confirmed (see email-change-service.ts). 409 `email_taken` when another
   * account has the address.
   */
  async requestEmailChange(idOrAccount: string | Account, newEmail: string, actor?: EmailChangeActor): Promise<PendingEmailChange> {
    if (!this.emailChanges) throw new Error('address changes are not configured');
    const account = typeof idOrAccount === 'string' ? await this.get(idOrAccount) : idOrAccount;
    return this.emailChanges.request(account, newEmail, actor);
  }

  rememberedConsent(accountId: string, clientId: string): Promise<string[] | undefined> {
    return this.store.findConsent(accountId, clientId);
  }

  async rememberConsent(accountId: string, clientId: string, scopes: string[]): Promise<void> {
    const previous = (await this.store.findConsent(accountId, clientId)) ?? [];
    await this.store.saveConsent(accountId, clientId, [...new Set([...previous, ...scopes])], Date.now());
  }
}
