export type AccountStatus = 'active' | 'disabled';

export interface Account {
  /** the stable, random `sub`; never derived from the email address */
  readonly id: string;
  readonly email: string;
  readonly emailVerified: boolean;
  readonly status: AccountStatus;
  readonly createdAt: number;
  readonly lastLoginAt: number | null;
  /** how the person is called (the `name` claim under the `profile` scope); none until someone sets it */
  readonly name?: string | null;
}

export interface AccountPage {
  accounts: Account[];
  /** pass as `after` for the next page; absent on the last page */
  next?: string;
}

export interface AccountActivity {
  /** live sign-in sessions at Sesame */
  sessions: number;
  /** apps with a live grant */
  clients: string[];
}

/** The storage the accounts domain needs; `store/` implements it. */
export interface AccountStore {
  /** ordered by email; `search` matches part of the address */
  list(options: { search?: string; after?: string; limit: number }): Promise<AccountPage>;
  setStatus(id: string, status: AccountStatus, at: number): Promise<boolean>;
  /** null removes the name */
  setName(id: string, name: string | null, at: number): Promise<boolean>;
  /** disables the account and ends every session, grant and token of it, and its pending sign-in
   *  emails, in one transaction */
  disable(id: string, email: string, at: number): Promise<boolean>;
  /** the same revocation, and the account deleted, in one transaction */
  remove(id: string, email: string): Promise<boolean>;
  activity(id: string, now: number): Promise<AccountActivity>;
  findById(id: string): Promise<Account | undefined>;
  findByEmail(email: string): Promise<Account | undefined>;
  /** inserts unless an account with that email exists; returns whichever account holds the email */
  insertIfAbsent(account: Account): Promise<Account>;
  recordLogin(id: string, at: number): Promise<void>;
  /**
   * The active account with this address, its sign-in recorded, in one step; undefined when there
   * is none (no account, or a disabled one: nothing is changed then).
   */
  recordLoginByEmail(email: string, at: number): Promise<Account | undefined>;
  findConsent(accountId: string, clientId: string): Promise<string[] | undefined>;
  saveConsent(accountId: string, clientId: string, scopes: string[], at: number): Promise<void>;
}
