/** A passkey (WebAuthn credential) an account signs in with; its public key is not a secret. */
export interface Passkey {
  /** Sesame's own id, for managing it (the credential id is the authenticator's) */
  readonly id: string;
  readonly accountId: string;
  /** base64url */
  readonly credentialId: string;
  /** base64url of the COSE public key */
  readonly publicKey: string;
  /** the authenticator's signature counter as last seen (0: the authenticator keeps none) */
  readonly counter: number;
  readonly transports: readonly string[];
  /** `multiDevice`: synced between devices (a software key), `singleDevice`: bound to one authenticator */
  readonly deviceType: 'singleDevice' | 'multiDevice';
  readonly backedUp: boolean;
  /** what the person calls it; editable */
  readonly name: string;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
}

export type ChallengePurpose = 'register' | 'authenticate';

/** A challenge handed to a browser, stored only as keyed hashes. */
export interface StoredChallenge {
  readonly idHash: string;
  readonly purpose: ChallengePurpose;
  readonly bindingHash: string;
  /** registration: the account the passkey will belong to */
  readonly accountId?: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** The storage the passkeys domain needs; `store/` implements it. */
export interface PasskeyStore {
  /** keeps only the few newest challenges of one binding and purpose (ceremonies of one flow may overlap) */
  saveChallenge(challenge: StoredChallenge): Promise<void>;
  /**
   * Marks the challenge used, in one guarded update: true only for the first caller, and only while
   * it is unexpired and was issued for this purpose, binding (and account). Several hashes: one
   * per configured HMAC secret, so a rotation during a ceremony does not break it.
   */
  consumeChallenge(match: { idHashes: readonly string[]; purpose: ChallengePurpose; bindingHashes: readonly string[]; accountId?: string }, now: number): Promise<boolean>;
  insert(passkey: Passkey): Promise<void>;
  findByCredentialId(credentialId: string): Promise<Passkey | undefined>;
  listByAccount(accountId: string): Promise<Passkey[]>;
  countByAccount(accountId: string): Promise<number>;
  /**
   * Records a use: only if the counter is still the one the signature was checked against, so two
   * uses of one cloned authenticator at the same moment cannot both pass.
   */
  recordUse(id: string, expectedCounter: number, newCounter: number, at: number): Promise<boolean>;
  rename(accountId: string, id: string, name: string): Promise<boolean>;
  remove(accountId: string, id: string): Promise<boolean>;
}
