import { randomBytes } from 'node:crypto';
import type { KeyedHasher } from '../shared/crypto.js';
import { randomToken } from '../shared/crypto.js';
import { AppError, notFound } from '../shared/errors.js';

/**
 * `read`: every GET of the admin API. `write`: everything `read` may, plus changes.
 * `register`: nothing in the admin API; it is the initial access token of Dynamic Client Registration.
 */
export type AdminScope = 'read' | 'write' | 'register';
export const ADMIN_SCOPES: readonly AdminScope[] = ['read', 'write', 'register'];

export const ADMIN_TOKEN_PURPOSE = 'admin-token';

export interface AdminTokenRecord {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly AdminScope[];
  /** keyed hash of the whole token; the token itself is shown once and never stored */
  readonly tokenHash: string;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
  readonly lastUsedAt: number | null;
}

/** The storage admin tokens need; `store/` implements it. */
export interface AdminTokenStore {
  insert(record: AdminTokenRecord): Promise<void>;
  findById(id: string): Promise<AdminTokenRecord | undefined>;
  /** newest first */
  list(): Promise<AdminTokenRecord[]>;
  /** true when this call revoked it (it was not revoked before) */
  revoke(id: string, at: number): Promise<boolean>;
  touch(id: string, at: number): Promise<void>;
  /** whether a token exists that is neither revoked nor expired at `at` */
  anyActive(at: number): Promise<boolean>;
}

/** What a verified token tells the caller: who is acting, and what they may do. */
export interface AdminActor {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly AdminScope[];
}

export type AdminTokenState = 'active' | 'expired' | 'revoked';
export type AdminTokenInfo = Omit<AdminTokenRecord, 'tokenHash'> & { readonly state: AdminTokenState };

export interface NewAdminToken {
  name: string;
  scopes: readonly string[];
  /** absent: the token does not expire (until revoked) */
  expiresInSeconds?: number;
}

// `sesame_at_` makes a leaked token recognisable (secret scanners, logs); the id finds the row by
// primary key, the 256-bit secret is what makes it unguessable.
const TOKEN_FORMAT = /^sesame_at_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const MAX_EXPIRY_SECONDS = 10 * 365 * 86_400;
/** `last_used_at` is written at most once a minute per token: a read per request, rarely a write. */
const LAST_USED_RESOLUTION_MS = 60_000;

export class AdminTokens {
  constructor(private readonly store: AdminTokenStore, private readonly hasher: KeyedHasher) {}

  /** Returns the token once; only its keyed hash is stored. */
  async create(input: NewAdminToken, now = Date.now()): Promise<{ token: string; info: AdminTokenInfo }> {
    const { name, scopes, expiresInSeconds } = checkNewToken(input);
    const id = randomBytes(8).toString('hex');
    const token = `sesame_at_${id}_${randomToken(32)}`;
    const record: AdminTokenRecord = {
      id,
      name,
      scopes,
      tokenHash: this.hasher.hash(ADMIN_TOKEN_PURPOSE, token),
      createdAt: now,
      expiresAt: expiresInSeconds === undefined ? null : now + expiresInSeconds * 1000,
      revokedAt: null,
      lastUsedAt: null,
    };
    await this.store.insert(record);
    return { token, info: info(record, now) };
  }

  async list(now = Date.now()): Promise<AdminTokenInfo[]> {
    return (await this.store.list()).map((record) => info(record, now));
  }

  /** Revoking is immediate on every instance (each request reads the token). Revoking twice changes nothing. */
  async revoke(id: string, now = Date.now()): Promise<{ info: AdminTokenInfo; revoked: boolean }> {
    const revoked = await this.store.revoke(id, now);
    const record = await this.store.findById(id);
    if (!record) throw notFound('admin_token_not_found', `no admin token with id ${id}`);
    return { info: info(record, now), revoked };
  }

  /** Whether any token is active (neither revoked nor expired), read from the store every time. */
  anyActive(now = Date.now()): Promise<boolean> {
    return this.store.anyActive(now);
  }

  /** The actor behind a presented token, or undefined when it is malformed, unknown, revoked or expired. */
  async verify(presented: string, now = Date.now()): Promise<AdminActor | undefined> {
    const match = TOKEN_FORMAT.exec(presented);
    if (!match) return undefined;
    const record = await this.store.findById(match[1]);
    if (!record || !this.hasher.verify(ADMIN_TOKEN_PURPOSE, presented, record.tokenHash)) return undefined;
    if (info(record, now).state !== 'active') return undefined;
    if (record.lastUsedAt === null || now - record.lastUsedAt >= LAST_USED_RESOLUTION_MS) await this.store.touch(record.id, now);
    return { id: record.id, name: record.name, scopes: record.scopes };
  }
}

/** How the audit trail names what an admin token did (AuditEvent.actor). */
export function tokenActor(tokenId: string): string {
  return `admin-token:${tokenId}`;
}

/** Whether a token's scopes cover what a request needs: `write` includes `read`; `register` stands alone. */
export function allows(scopes: readonly AdminScope[], needed: AdminScope): boolean {
  return scopes.includes(needed) || (needed === 'read' && scopes.includes('write'));
}

function info({ tokenHash: _hash, ...record }: AdminTokenRecord, now: number): AdminTokenInfo {
  const state: AdminTokenState = record.revokedAt !== null ? 'revoked' : record.expiresAt !== null && record.expiresAt <= now ? 'expired' : 'active';
  return { ...record, state };
}

function checkNewToken(input: NewAdminToken): { name: string; scopes: AdminScope[]; expiresInSeconds?: number } {
  const problems: string[] = [];
  const name = typeof input.name === 'string' ? input.name.trim() : '';
  if (!name) problems.push('name: required');
  else if (name.length > 100) problems.push('name: at most 100 characters');
  else if (/\p{Cc}/u.test(name)) problems.push('name: no control characters');
  const scopes = [...new Set(input.scopes)];
  if (scopes.length === 0) problems.push(`scope: at least one of ${ADMIN_SCOPES.join(', ')}`);
  for (const scope of scopes) if (!ADMIN_SCOPES.includes(scope as AdminScope)) problems.push(`scope: "${scope}" is not one of ${ADMIN_SCOPES.join(', ')}`);
  const expires = input.expiresInSeconds;
  if (expires !== undefined && (!Number.isInteger(expires) || expires < 1 || expires > MAX_EXPIRY_SECONDS)) {
    problems.push(`expires_in: a whole number of seconds from 1 to ${MAX_EXPIRY_SECONDS}`);
  }
  if (problems.length) throw new AppError('invalid_admin_token', 422, problems.join('; '), { params: { details: problems.join('; ') } });
  return { name, scopes: scopes as AdminScope[], expiresInSeconds: expires };
}
