import type { AdminScope, AdminTokenRecord, AdminTokenStore } from '../admin/admin-tokens.js';
import type { Db } from './db.js';

interface AdminTokenRow {
  id: string;
  name: string;
  scopes: string;
  token_hash: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

const toRecord = (row: AdminTokenRow): AdminTokenRecord => ({
  id: row.id,
  name: row.name,
  scopes: row.scopes.split(' ').filter(Boolean) as AdminScope[],
  tokenHash: row.token_hash,
  createdAt: Number(row.created_at),
  expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
});

export class KnexAdminTokenStore implements AdminTokenStore {
  constructor(private readonly db: Db) {}

  async insert(record: AdminTokenRecord): Promise<void> {
    await this.db('admin_tokens').insert({
      id: record.id,
      name: record.name,
      scopes: record.scopes.join(' '),
      token_hash: record.tokenHash,
      created_at: record.createdAt,
      expires_at: record.expiresAt,
      revoked_at: record.revokedAt,
      last_used_at: record.lastUsedAt,
    });
  }

  async findById(id: string): Promise<AdminTokenRecord | undefined> {
    const row = await this.db<AdminTokenRow>('admin_tokens').where({ id }).first();
    return row && toRecord(row);
  }

  async list(): Promise<AdminTokenRecord[]> {
    const rows = await this.db<AdminTokenRow>('admin_tokens').orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id' }]);
    return rows.map(toRecord);
  }

  async revoke(id: string, at: number): Promise<boolean> {
    return (await this.db('admin_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: at })) === 1;
  }

  async touch(id: string, at: number): Promise<void> {
    await this.db('admin_tokens').where({ id }).update({ last_used_at: at });
  }

  async anyActive(at: number): Promise<boolean> {
    // expired means expires_at <= now, as AdminTokens reads a row
    const row = await this.db('admin_tokens')
      .whereNull('revoked_at')
      .andWhere((active) => active.whereNull('expires_at').orWhere('expires_at', '>', at))
      .first('id');
    return row !== undefined;
  }
}
