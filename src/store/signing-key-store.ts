import { SigningKeyUnreadable, type SigningKey, type SigningKeyStore } from '../oidc/signing-keys.js';
import type { SecretBox } from '../shared/crypto.js';
import type { Db } from './db.js';

type JWK = SigningKey['jwk'];

/** The members of a JWK that are secret (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/**
 * What the `jwk` column holds: the public key in the clear (the JWKS needs nothing else) and the
 * private members sealed (see SecretBox, bound to the kid). Rows written before keys were sealed
 * hold the whole private JWK; they are read as they are and sealed at the next start (`sealOutdated`).
 */
interface StoredKey {
  public: JWK;
  sealed: string;
}

interface Row {
  kid: string;
  alg: string;
  jwk: string;
  created_at: number | string;
  activate_at: number | string | null;
}

/**
 * Signing keys, their private parts encrypted at rest with a key derived from HMAC_SECRETS: a copy
 * of the database (a backup, a replica, a leaked dump) does not let anyone sign tokens.
 */
export class KnexSigningKeyStore implements SigningKeyStore {
  constructor(private readonly db: Db, private readonly box: SecretBox) {}

  async list(): Promise<SigningKey[]> {
    return (await this.#rows()).map((row) => toKey(row, this.#open(row).jwk));
  }

  async insert(key: SigningKey): Promise<void> {
    await this.db('signing_keys').insert({
      kid: key.kid,
      alg: key.alg,
      jwk: this.#seal(key.kid, key.jwk),
      status: 'active',
      created_at: key.createdAt,
      activate_at: key.activateAt,
    });
  }

  async remove(kids: string[]): Promise<void> {
    if (kids.length) await this.db('signing_keys').whereIn('kid', kids).delete();
  }

  /**
   * Seals every key that is still in the clear, or sealed with an older secret than the newest,
   * so that an older secret can be dropped from HMAC_SECRETS once every instance has started with
   * the new one. Each row is replaced only if it is still what was read (another instance may be
   * doing the same). Returns the keys read, and how many rows it sealed.
   */
  async sealOutdated(): Promise<{ keys: SigningKey[]; resealed: number }> {
    const keys: SigningKey[] = [];
    let resealed = 0;
    for (const row of await this.#rows()) {
      const { jwk, current } = this.#open(row);
      keys.push(toKey(row, jwk));
      if (current) continue;
      resealed += await this.db('signing_keys').where({ kid: row.kid, jwk: row.jwk }).update({ jwk: this.#seal(row.kid, jwk) });
    }
    return { keys, resealed };
  }

  #rows(): Promise<Row[]> {
    return this.db('signing_keys').select('kid', 'alg', 'jwk', 'created_at', 'activate_at').orderBy([{ column: 'created_at' }, { column: 'kid' }]);
  }

  #seal(kid: string, jwk: JWK): string {
    const publicPart: Record<string, unknown> = { ...jwk };
    const privatePart: Record<string, unknown> = {};
    for (const member of PRIVATE_MEMBERS) {
      if (member in publicPart) {
        privatePart[member] = publicPart[member];
        delete publicPart[member];
      }
    }
    const stored: StoredKey = { public: publicPart as JWK, sealed: this.box.seal(JSON.stringify(privatePart), sealContext(kid)) };
    return JSON.stringify(stored);
  }

  /** The whole private JWK, and whether the row is sealed with the newest secret. */
  #open(row: Row): { jwk: JWK; current: boolean } {
    const stored = JSON.parse(row.jwk) as Partial<StoredKey> & JWK;
    if (typeof stored.sealed !== 'string' || !stored.public) return { jwk: stored, current: false };
    const opened = this.box.open(stored.sealed, sealContext(row.kid));
    if (!opened) throw new SigningKeyUnreadable(row.kid);
    return { jwk: { ...stored.public, ...(JSON.parse(opened.plaintext) as JWK) }, current: opened.secretIndex === 0 };
  }
}

function toKey(row: Row, jwk: JWK): SigningKey {
  return { kid: row.kid, alg: row.alg, jwk, createdAt: Number(row.created_at), activateAt: Number(row.activate_at ?? row.created_at) };
}

function sealContext(kid: string): string {
  return `signing key ${kid}`;
}
