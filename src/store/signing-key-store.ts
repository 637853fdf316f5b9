import type { SigningKey, SigningKeyStore } from '../oidc/signing-keys.js';
import type { Db } from './db.js';

export class KnexSigningKeyStore implements SigningKeyStore {
  constructor(private readonly db: Db) {}

  async listActive(): Promise<SigningKey[]> {
    const rows = await this.db('signing_keys').where({ status: 'active' }).orderBy([{ column: 'created_at' }, { column: 'kid' }]);
    return rows.map((row) => ({ kid: row.kid, alg: row.alg, jwk: JSON.parse(row.jwk), status: 'active', createdAt: row.created_at }));
  }

  async insert(key: SigningKey): Promise<void> {
    await this.db('signing_keys').insert({ kid: key.kid, alg: key.alg, jwk: JSON.stringify(key.jwk), status: key.status, created_at: key.createdAt });
  }
}
