import type { SigningKey, SigningKeyStore } from '../oidc/signing-keys.js';
import type { Db } from './db.js';

export class KnexSigningKeyStore implements SigningKeyStore {
  constructor(private readonly db: Db) {}

  async list(): Promise<SigningKey[]> {
    const rows = await this.db('signing_keys').orderBy([{ column: 'created_at' }, { column: 'kid' }]);
    return rows.map((row) => ({
      kid: row.kid,
      alg: row.alg,
      jwk: JSON.parse(row.jwk),
      createdAt: Number(row.created_at),
      activateAt: Number(row.activate_at ?? row.created_at),
    }));
  }

  async insert(key: SigningKey): Promise<void> {
    await this.db('signing_keys').insert({
      kid: key.kid,
      alg: key.alg,
      jwk: JSON.stringify(key.jwk),
      status: 'active',
      created_at: key.createdAt,
      activate_at: key.activateAt,
    });
  }

  async remove(kids: string[]): Promise<void> {
    if (kids.length) await this.db('signing_keys').whereIn('kid', kids).delete();
  }
}
