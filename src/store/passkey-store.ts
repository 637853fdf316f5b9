import type { ChallengePurpose, Passkey, PasskeyStore, StoredChallenge } from '../passkeys/passkey.js';
import type { Db } from './db.js';

interface PasskeyRow {
  id: string;
  account_id: string;
  credential_id: string;
  public_key: string;
  counter: number | string;
  transports: string;
  device_type: Passkey['deviceType'];
  backed_up: boolean | number;
  name: string;
  created_at: number | string;
  last_used_at: number | string | null;
}

// PostgreSQL hands bigint columns back as strings
const toPasskey = (row: PasskeyRow): Passkey => ({
  id: row.id,
  accountId: row.account_id,
  credentialId: row.credential_id,
  publicKey: row.public_key,
  counter: Number(row.counter),
  transports: row.transports.split(',').filter(Boolean),
  deviceType: row.device_type,
  backedUp: Boolean(row.backed_up),
  name: row.name,
  createdAt: Number(row.created_at),
  lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
});

/** Challenges one flow may have open at once; older ones are dropped. */
const LIVE_PER_BINDING = 4;

export class KnexPasskeyStore implements PasskeyStore {
  constructor(private readonly db: Db) {}

  async saveChallenge(challenge: StoredChallenge): Promise<void> {
    await this.db('webauthn_challenges').insert({
      id: challenge.idHash,
      purpose: challenge.purpose,
      binding: challenge.bindingHash,
      account_id: challenge.accountId ?? null,
      created_at: challenge.createdAt,
      expires_at: challenge.expiresAt,
    });
    // a few ceremonies of one flow may overlap (the email page's autofill, then its button), no more
    const older = await this.db('webauthn_challenges').where({ binding: challenge.bindingHash, purpose: challenge.purpose })
      .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id' }]).offset(LIVE_PER_BINDING).pluck('id');
    if (older.length) await this.db('webauthn_challenges').whereIn('id', older).delete();
  }

  async consumeChallenge(match: { idHashes: readonly string[]; purpose: ChallengePurpose; bindingHashes: readonly string[]; accountId?: string }, now: number): Promise<boolean> {
    const q = this.db('webauthn_challenges')
      .whereIn('id', match.idHashes)
      .andWhere({ purpose: match.purpose })
      .whereIn('binding', match.bindingHashes)
      .andWhere('expires_at', '>', now)
      // the guard that makes a challenge single-use: of two answers racing, one changes the row
      .whereNull('consumed_at');
    if (match.accountId !== undefined) q.andWhere({ account_id: match.accountId });
    return (await q.update({ consumed_at: now })) === 1;
  }

  async insert(passkey: Passkey): Promise<void> {
    await this.db('passkeys').insert({
      id: passkey.id,
      account_id: passkey.accountId,
      credential_id: passkey.credentialId,
      public_key: passkey.publicKey,
      counter: passkey.counter,
      transports: passkey.transports.join(','),
      device_type: passkey.deviceType,
      backed_up: passkey.backedUp,
      name: passkey.name,
      created_at: passkey.createdAt,
      last_used_at: passkey.lastUsedAt,
    });
  }

  async findByCredentialId(credentialId: string): Promise<Passkey | undefined> {
    const row = await this.db<PasskeyRow>('passkeys').where({ credential_id: credentialId }).first();
    return row && toPasskey(row);
  }

  async listByAccount(accountId: string): Promise<Passkey[]> {
    const rows = await this.db<PasskeyRow>('passkeys').where({ account_id: accountId }).orderBy([{ column: 'created_at' }, { column: 'id' }]);
    return rows.map(toPasskey);
  }

  async countByAccount(accountId: string): Promise<number> {
    const row = await this.db('passkeys').where({ account_id: accountId }).count({ n: '*' }).first();
    return Number(row?.n ?? 0);
  }

  async recordUse(id: string, expectedCounter: number, newCounter: number, at: number): Promise<boolean> {
    // compare-and-set on the counter: two sign-ins racing with one counter value cannot both pass
    return (await this.db('passkeys').where({ id, counter: expectedCounter }).update({ counter: newCounter, last_used_at: at })) === 1;
  }

  async rename(accountId: string, id: string, name: string): Promise<boolean> {
    return (await this.db('passkeys').where({ id, account_id: accountId }).update({ name })) === 1;
  }

  async remove(accountId: string, id: string): Promise<boolean> {
    return (await this.db('passkeys').where({ id, account_id: accountId }).delete()) === 1;
  }
}
