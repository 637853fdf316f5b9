import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { JWK } from 'oidc-provider';

export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly jwk: JWK;
  readonly status: 'active';
  readonly createdAt: number;
}

export interface SigningKeyStore {
  /** active keys, oldest first (every instance orders them the same way) */
  listActive(): Promise<SigningKey[]>;
  insert(key: SigningKey): Promise<void>;
}

/** RS256 with a 2048-bit RSA key: the algorithm every OIDC client accepts by default. */
export function generateSigningKey(now = Date.now()): SigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const jwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid, alg: 'RS256', use: 'sig' };
  return { kid, alg: 'RS256', jwk, status: 'active', createdAt: now };
}

/**
 * Keys are generated on first start and kept in the database so that every instance signs with
 * the same key and tokens survive restarts. Returns the private JWKS for oidc-provider.
 */
export async function ensureSigningKeys(store: SigningKeyStore): Promise<{ keys: JWK[] }> {
  let keys = await store.listActive();
  if (keys.length === 0) {
    await store.insert(generateSigningKey());
    // two instances starting at once may both insert; both keys are published, and every instance
    // signs with the oldest because the list is ordered the same way everywhere
    keys = await store.listActive();
  }
  return { keys: keys.map((key) => key.jwk) };
}
