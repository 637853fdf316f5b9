import type {
  AuthenticationResponseJSON,
  AuthenticatorTransportFuture,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Account } from '../accounts/account.js';
import { randomId, type KeyedHasher } from '../shared/crypto.js';
import { AppError, badRequest, notFound } from '../shared/errors.js';
import type { ChallengePurpose, Passkey, PasskeyStore } from './passkey.js';

/** The accounts the passkeys domain needs: find one, and let it sign in (active, sign-up rules). */
export interface PasskeyAccounts {
  findById(id: string): Promise<Account | undefined>;
  get(idOrEmail: string): Promise<Account>;
  signIn(email: string, at?: number): Promise<Account | undefined>;
}

export interface RelyingParty {
  readonly enabled: boolean;
  /** the issuer's host name */
  readonly rpId: string;
  /** the issuer's origin: the only page origin a ceremony is accepted from */
  readonly origin: string;
  /** shown by the browser and the authenticator */
  readonly name: string;
}

/** How long a ceremony may take, from the options to the answer. */
const CHALLENGE_TTL_MS = 5 * 60 * 1000;
/** Verification must have taken place on the authenticator (a PIN, a fingerprint, a face). */
const USER_VERIFICATION = 'required';
/** The keyed-hash purpose of stored challenges and bindings. */
export const CHALLENGE_HASH_PURPOSE = 'webauthn challenge';

let library: Promise<typeof import('@simplewebauthn/server')> | undefined;

/**
 * @simplewebauthn/server, loaded with the first ceremony: it is slow to load, and listing or
 * removing passkeys (the CLI, the account page) or a server no one has used a passkey on yet do
 * not need it.
 */
function webauthn(): Promise<typeof import('@simplewebauthn/server')> {
  library ??= import('@simplewebauthn/server');
  return library;
}

/** RFC 8176 `amr` values of a passkey sign-in: a synced passkey is a software key, a device-bound one a hardware key. */
export function passkeyAmr(passkey: Pick<Passkey, 'deviceType' | 'backedUp'>, userVerified: boolean): string[] {
  const key = passkey.deviceType === 'multiDevice' || passkey.backedUp ? 'swk' : 'hwk';
  return userVerified ? [key, 'user'] : [key];
}

/** Why a passkey was refused (for the audit trail; the person sees one plain message). */
export type PasskeyRefusal = 'unknown_credential' | 'bad_response' | 'challenge' | 'counter' | 'account_unavailable';

export class PasskeyRefused extends AppError {
  constructor(readonly reason: PasskeyRefusal, readonly accountId?: string, readonly passkeyId?: string) {
    super('passkey_refused', 400, 'This passkey could not sign you in.');
  }
}

/**
 * Registration and sign-in with passkeys (WebAuthn, through @simplewebauthn/server), and their
 * management. Every ceremony's challenge is bound to what asked for it (`binding`: an interaction,
 * a session at the account page), kept only as a keyed hash, and used at most once.
 */
export class PasskeyService {
  constructor(
    private readonly store: PasskeyStore,
    private readonly accounts: PasskeyAccounts,
    private readonly hasher: KeyedHasher,
    readonly rp: RelyingParty,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.rp.enabled;
  }

  async registrationOptions(account: Account, binding: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    this.#requireEnabled();
    const { generateRegistrationOptions } = await webauthn();
    const existing = await this.store.listByAccount(account.id);
    const options = await generateRegistrationOptions({
      rpName: this.rp.name,
      rpID: this.rp.rpId,
      userName: account.email,
      userDisplayName: account.name ?? account.email,
      // the user handle an authenticator returns with a discoverable credential: the random `sub`
      userID: new TextEncoder().encode(account.id),
      attestationType: 'none',
      // one passkey per authenticator: the browser says so instead of making a second one
      excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports as AuthenticatorTransportFuture[] })),
      authenticatorSelection: { residentKey: 'required', userVerification: USER_VERIFICATION },
      timeout: CHALLENGE_TTL_MS,
    });
    await this.#saveChallenge(options.challenge, 'register', binding, account.id);
    return options;
  }

  /** Verifies a new passkey of the account and stores it; the challenge must be the one issued for this binding and account. */
  async register(account: Account, binding: string, response: unknown, name?: string): Promise<Passkey> {
    this.#requireEnabled();
    const answer = credentialJson<RegistrationResponseJSON>(response);
    if (!answer) throw badRequest('passkey_invalid', 'The passkey could not be created. Try again.');
    const { verifyRegistrationResponse } = await webauthn();
    let verification;
    try {
      verification = await verifyRegistrationResponse({
        response: answer,
        expectedChallenge: (challenge) => this.#consume(challenge, 'register', binding, account.id),
        expectedOrigin: this.rp.origin,
        expectedRPID: this.rp.rpId,
        requireUserVerification: true,
      });
    } catch (error) {
      throw new AppError('passkey_invalid', 400, 'The passkey could not be created. Try again.', { cause: error });
    }
    if (!verification.verified) throw badRequest('passkey_invalid', 'The passkey could not be created. Try again.');
    const { credential, credentialDeviceType, credentialBackedUp } = verification.registrationInfo;
    const at = this.now();
    const passkey: Passkey = {
      id: randomId(),
      accountId: account.id,
      credentialId: credential.id,
      publicKey: Buffer.from(credential.publicKey).toString('base64url'),
      counter: credential.counter,
      transports: (credential.transports ?? answer.response.transports ?? []).filter((t) => /^[a-z-]{1,20}$/.test(t)),
      deviceType: credentialDeviceType,
      backedUp: credentialBackedUp,
      name: cleanName(name) || defaultName(at),
      createdAt: at,
      lastUsedAt: null,
    };
    await this.store.insert(passkey);
    return passkey;
  }

  /** Options for a sign-in with any passkey of this site (no address needed: discoverable credentials). */
  async authenticationOptions(binding: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    this.#requireEnabled();
    const { generateAuthenticationOptions } = await webauthn();
    const options = await generateAuthenticationOptions({ rpID: this.rp.rpId, userVerification: USER_VERIFICATION, timeout: CHALLENGE_TTL_MS });
    await this.#saveChallenge(options.challenge, 'authenticate', binding);
    return options;
  }

  /**
   * Checks a sign-in: the challenge issued for this binding (once), the signature by the stored
   * public key, user verification, a signature counter that went forward, and an account that may
   * sign in. Throws PasskeyRefused; returns the account, the passkey as now stored and the `amr`.
   */
  async authenticate(binding: string, response: unknown): Promise<{ account: Account; passkey: Passkey; amr: string[] }> {
    this.#requireEnabled();
    const answer = credentialJson<AuthenticationResponseJSON>(response);
    if (!answer) throw new PasskeyRefused('bad_response');
    const passkey = await this.store.findByCredentialId(answer.id);
    if (!passkey) throw new PasskeyRefused('unknown_credential');
    const { verifyAuthenticationResponse } = await webauthn();
    let consumed = false;
    let verification;
    try {
      verification = await verifyAuthenticationResponse({
        response: answer,
        expectedChallenge: async (challenge) => (consumed = await this.#consume(challenge, 'authenticate', binding)),
        expectedOrigin: this.rp.origin,
        expectedRPID: this.rp.rpId,
        credential: {
          id: passkey.credentialId,
          publicKey: new Uint8Array(Buffer.from(passkey.publicKey, 'base64url')),
          counter: passkey.counter,
          transports: passkey.transports as AuthenticatorTransportFuture[],
        },
        requireUserVerification: true,
      });
    } catch (error) {
      // the library's messages are the only way it tells a counter that went back from other failures
      const reason = !consumed ? 'challenge' : /counter/i.test(String((error as Error).message)) ? 'counter' : 'bad_response';
      throw new PasskeyRefused(reason, passkey.accountId, passkey.id);
    }
    if (!verification.verified) throw new PasskeyRefused('bad_response', passkey.accountId, passkey.id);
    // a user handle, when the authenticator returns one, must name the passkey's own account
    const { userHandle } = answer.response;
    if (userHandle && Buffer.from(userHandle, 'base64url').toString('utf8') !== passkey.accountId) {
      throw new PasskeyRefused('bad_response', passkey.accountId, passkey.id);
    }
    const at = this.now();
    const { newCounter, userVerified } = verification.authenticationInfo;
    if (!(await this.store.recordUse(passkey.id, passkey.counter, newCounter, at))) throw new PasskeyRefused('counter', passkey.accountId, passkey.id);
    const found = await this.accounts.findById(passkey.accountId);
    // the same rule as for an emailed link: a disabled account does not sign in
    const account = found && (await this.accounts.signIn(found.email, at));
    if (!account) throw new PasskeyRefused('account_unavailable', passkey.accountId, passkey.id);
    const used = { ...passkey, counter: newCounter, lastUsedAt: at };
    return { account, passkey: used, amr: passkeyAmr(used, userVerified) };
  }

  /** The account a passkey may be added to: one that exists and is active. */
  async accountOf(accountId: string): Promise<Account | undefined> {
    const account = await this.accounts.findById(accountId);
    return account?.status === 'active' ? account : undefined;
  }

  list(accountId: string): Promise<Passkey[]> {
    return this.store.listByAccount(accountId);
  }

  count(accountId: string): Promise<number> {
    return this.store.countByAccount(accountId);
  }

  async rename(accountId: string, id: string, name: string): Promise<void> {
    const cleaned = cleanName(name);
    if (!cleaned) throw badRequest('passkey_name_invalid', 'A passkey needs a name of 1 to 60 characters.');
    if (!(await this.store.rename(accountId, id, cleaned))) throw notFound('passkey_not_found', `no passkey ${id} of this account`);
  }

  /** Removes one passkey of the account; the emailed link keeps working whatever is removed. */
  async remove(accountId: string, id: string): Promise<Passkey> {
    const passkey = (await this.store.listByAccount(accountId)).find((p) => p.id === id);
    if (!passkey || !(await this.store.remove(accountId, id))) throw notFound('passkey_not_found', `no passkey ${id} of this account`);
    return passkey;
  }

  /** For operators (CLI, admin API): the account by id or address, and its passkeys. */
  async listFor(idOrEmail: string): Promise<{ account: Account; passkeys: Passkey[] }> {
    const account = await this.accounts.get(idOrEmail);
    return { account, passkeys: await this.store.listByAccount(account.id) };
  }

  async removeFor(idOrEmail: string, id: string): Promise<{ account: Account; passkey: Passkey }> {
    const account = await this.accounts.get(idOrEmail);
    return { account, passkey: await this.remove(account.id, id) };
  }

  async #saveChallenge(challenge: string, purpose: ChallengePurpose, binding: string, accountId?: string): Promise<void> {
    const at = this.now();
    await this.store.saveChallenge({
      idHash: this.hasher.hash(CHALLENGE_HASH_PURPOSE, challenge),
      purpose,
      bindingHash: this.hasher.hash(CHALLENGE_HASH_PURPOSE, `binding:${binding}`),
      accountId,
      createdAt: at,
      expiresAt: at + CHALLENGE_TTL_MS,
    });
  }

  #consume(challenge: string, purpose: ChallengePurpose, binding: string, accountId?: string): Promise<boolean> {
    return this.store.consumeChallenge({
      idHashes: this.hasher.current(CHALLENGE_HASH_PURPOSE, challenge),
      purpose,
      bindingHashes: this.hasher.current(CHALLENGE_HASH_PURPOSE, `binding:${binding}`),
      accountId,
    }, this.now());
  }

  #requireEnabled(): void {
    if (!this.rp.enabled) throw notFound('passkeys_off', 'Passkeys are not available here.');
  }
}

/** The browser's answer, if it has the shape of one (the library checks the rest). */
function credentialJson<T>(value: unknown): T | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const shaped = typeof v.id === 'string' && /^[A-Za-z0-9_-]{1,1400}$/.test(v.id) && typeof v.rawId === 'string' && v.type === 'public-key'
    && !!v.response && typeof v.response === 'object';
  return shaped ? ({ clientExtensionResults: {}, ...v } as T) : undefined;
}

function cleanName(name: string | undefined): string {
  const trimmed = (name ?? '').normalize('NFC').replace(/\p{Cc}|\p{Cf}/gu, '').trim().replace(/\s+/g, ' ');
  return trimmed.length <= 60 ? trimmed : '';
}

function defaultName(at: number): string {
  return `Passkey ${new Date(at).toISOString().slice(0, 10)}`;
}
