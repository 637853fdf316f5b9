import { generateKeyPair, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { JWK } from 'oidc-provider';

export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly jwk: JWK;
  readonly createdAt: number;
  /** from this moment the key signs (the newest activated key does) */
  readonly activateAt: number;
}

export interface SigningKeyStore {
  list(): Promise<SigningKey[]>;
  insert(key: SigningKey): Promise<void>;
  remove(kids: string[]): Promise<void>;
  /**
   * Re-encrypts keys stored in the clear or with an older secret; gives every key (as `list`
   * does, from the same read) and how many it re-encrypted
   */
  sealOutdated(): Promise<{ keys: SigningKey[]; resealed: number }>;
}

/** A stored key that none of the configured HMAC_SECRETS can decrypt: a configuration problem. */
export class SigningKeyUnreadable extends Error {
  constructor(readonly kid: string) {
    super(`signing key ${kid} was encrypted with a secret that is not in HMAC_SECRETS; add that secret back (after the newest) and start again`);
    this.name = 'SigningKeyUnreadable';
  }
}

export type KeyState = 'next' | 'signing' | 'retiring' | 'expired';

export interface KeySetEntry {
  key: SigningKey;
  state: KeyState;
  /** retiring keys: when they stop being published */
  retiresAt?: number;
}

export interface KeySet {
  /** what oidc-provider gets: the signing key first (it signs with the first key of the algorithm) */
  jwks: { keys: JWK[] };
  entries: KeySetEntry[];
  /** changes whenever the published keys or the signing key change */
  fingerprint: string;
}

const generateRsa = promisify(generateKeyPair);

/**
 * RS256 with a 2048-bit RSA key: the algorithm every OIDC client accepts by default. Generated on
 * libuv's thread pool: finding the primes takes 0.1-1.5 s of CPU, which a running server (key
 * rotation through the admin API) must not spend on its event loop.
 */
export async function generateSigningKey(now = Date.now(), activateAt = now): Promise<SigningKey> {
  const { privateKey } = await generateRsa('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const jwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid, alg: 'RS256', use: 'sig' };
  return { kid, alg: 'RS256', jwk, createdAt: now, activateAt };
}

/**
 * The state of every key at `now`, computed from timestamps alone, so every instance reaches the
 * same answer without coordination: the newest activated key signs; keys not yet active are
 * published ahead (relying parties fetch them before they see a token signed with them); an older
 * key stays published for `retireAfterMs` after its successor activated, so that the tokens it
 * signed still verify; after that it is expired and can be deleted.
 */
export function keySet(keys: readonly SigningKey[], now: number, retireAfterMs: number): KeySet {
  const order = (a: SigningKey, b: SigningKey) => b.activateAt - a.activateAt || b.createdAt - a.createdAt || (a.kid < b.kid ? -1 : 1);
  const activated = keys.filter((k) => k.activateAt <= now).sort(order);
  const pending = keys.filter((k) => k.activateAt > now).sort(order);
  const entries: KeySetEntry[] = pending.map((key) => ({ key, state: 'next' }));
  activated.forEach((key, index) => {
    if (index === 0) return entries.unshift({ key, state: 'signing' });
    const retiresAt = activated[index - 1].activateAt + retireAfterMs;
    entries.push({ key, state: retiresAt > now ? 'retiring' : 'expired', retiresAt });
  });
  const published = entries.filter((e) => e.state !== 'expired');
  return {
    jwks: { keys: published.map((e) => e.key.jwk) },
    entries,
    fingerprint: published.map((e) => `${e.key.kid}:${e.state === 'signing' ? 's' : 'p'}`).join(','),
  };
}

/**
 * Keys are generated on first start and kept in the database so that every instance signs with
 * the same key and tokens survive restarts. `stored`: the keys just read from the store.
 */
export async function ensureSigningKeys(store: SigningKeyStore, stored: SigningKey[]): Promise<SigningKey[]> {
  if (stored.length > 0) return stored;
  await store.insert(await generateSigningKey());
  // two instances starting at once may both insert; both keys are published, and every instance
  // signs with the same one because keySet orders them the same way everywhere
  return store.list();
}

/** `sesame keys rotate`: a new key, published now, signing after the delay. */
export async function rotateSigningKey(store: SigningKeyStore, activateAfterSeconds: number, now = Date.now()): Promise<SigningKey> {
  const key = await generateSigningKey(now, now + activateAfterSeconds * 1000);
  await store.insert(key);
  return key;
}
