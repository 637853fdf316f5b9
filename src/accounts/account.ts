export type AccountStatus = 'active' | 'disabled';

export interface Account {
  /** the stable, random `sub`; never derived from the email address */
  readonly id: string;
  readonly email: string;
  readonly emailVerified: boolean;
  readonly status: AccountStatus;
  readonly createdAt: number;
  readonly lastLoginAt: number | null;
}

/** The storage the accounts domain needs; `store/` implements it. */
export interface AccountStore {
  findById(id: string): Promise<Account | undefined>;
  findByEmail(email: string): Promise<Account | undefined>;
  /** inserts unless an account with that email exists; returns whichever account holds the email */
  insertIfAbsent(account: Account): Promise<Account>;
  recordLogin(id: string, at: number): Promise<void>;
  findConsent(accountId: string, clientId: string): Promise<string[] | undefined>;
  saveConsent(accountId: string, clientId: string, scopes: string[], at: number): Promise<void>;
}
