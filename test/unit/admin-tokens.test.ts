import { expect } from 'chai';
import { AdminTokens, allows, type AdminTokenRecord, type AdminTokenStore } from '../../src/admin/admin-tokens.js';
import { parseDurationMs, parseWhen } from '../../src/admin/time.js';
import { KeyedHasher } from '../../src/shared/crypto.js';
import { AppError } from '../../src/shared/errors.js';

class MemoryStore implements AdminTokenStore {
  readonly rows = new Map<string, AdminTokenRecord>();
  touches = 0;
  async insert(record: AdminTokenRecord) {
    this.rows.set(record.id, record);
  }
  async findById(id: string) {
    return this.rows.get(id);
  }
  async list() {
    return [...this.rows.values()];
  }
  async revoke(id: string, at: number) {
    const row = this.rows.get(id);
    if (!row || row.revokedAt !== null) return false;
    this.rows.set(id, { ...row, revokedAt: at });
    return true;
  }
  async touch(id: string, at: number) {
    this.touches++;
    this.rows.set(id, { ...this.rows.get(id)!, lastUsedAt: at });
  }
  async anyActive(at: number) {
    return [...this.rows.values()].some((row) => row.revokedAt === null && (row.expiresAt === null || row.expiresAt > at));
  }
}

const SECRET = 'unit-test-secret-0123456789abcdefghijkl';

describe('admin tokens', () => {
  const t0 = Date.UTC(2026, 10, 28, 12);
  let store: MemoryStore;
  let tokens: AdminTokens;
  beforeEach(() => {
    store = new MemoryStore();
    tokens = new AdminTokens(store, new KeyedHasher([SECRET]));
  });

  it('verifies the token it created, and only that token', async () => {
    const { token, info } = await tokens.create({ name: ' ops ', scopes: ['read', 'read'] }, t0);
    expect(info).to.include({ name: 'ops', state: 'active', expiresAt: null });
    expect(info.scopes).to.deep.equal(['read']);
    expect(await tokens.verify(token, t0)).to.deep.equal({ id: info.id, name: 'ops', scopes: ['read'] });
    const secret = token.slice(-43);
    const other = secret[0] === 'A' ? 'B' : 'A';
    expect(await tokens.verify(`${token.slice(0, -43)}${other}${secret.slice(1)}`, t0)).to.equal(undefined);
    expect(await tokens.verify(token.replace(info.id, 'ffffffffffffffff'), t0)).to.equal(undefined);
    expect(await tokens.verify('', t0)).to.equal(undefined);
    expect(JSON.stringify([...store.rows.values()])).not.to.include(secret);
  });

  it('keeps verifying after the HMAC secret rotates (older secrets still verify)', async () => {
    const { token } = await tokens.create({ name: 'ops', scopes: ['write'] }, t0);
    const rotated = new AdminTokens(store, new KeyedHasher(['a-newer-secret-0123456789abcdefghijklmn', SECRET]));
    expect(await rotated.verify(token, t0)).to.not.equal(undefined);
    expect(await new AdminTokens(store, new KeyedHasher(['a-newer-secret-0123456789abcdefghijklmn'])).verify(token, t0)).to.equal(undefined);
  });

  it('stops verifying once revoked or expired', async () => {
    const expiring = await tokens.create({ name: 'short', scopes: ['read'], expiresInSeconds: 60 }, t0);
    expect(await tokens.verify(expiring.token, t0 + 59_999)).to.not.equal(undefined);
    expect(await tokens.verify(expiring.token, t0 + 60_000)).to.equal(undefined);
    const revoked = await tokens.create({ name: 'gone', scopes: ['read'] }, t0);
    expect((await tokens.revoke(revoked.info.id, t0 + 1)).revoked).to.equal(true);
    expect((await tokens.revoke(revoked.info.id, t0 + 2)).revoked).to.equal(false);
    expect(await tokens.verify(revoked.token, t0 + 3)).to.equal(undefined);
    const states = Object.fromEntries((await tokens.list(t0 + 60_000)).map((t) => [t.name, t.state]));
    expect(states).to.deep.equal({ short: 'expired', gone: 'revoked' });
  });

  it('writes last use at most once a minute', async () => {
    const { token } = await tokens.create({ name: 'busy', scopes: ['read'] }, t0);
    for (const at of [t0, t0 + 1000, t0 + 59_000, t0 + 60_000, t0 + 61_000]) await tokens.verify(token, at);
    expect(store.touches).to.equal(2);
  });

  it('refuses a token without a name, with unknown or no scopes, or a bad expiry, naming each problem', async () => {
    try {
      await tokens.create({ name: '', scopes: ['admin'], expiresInSeconds: 0 });
      expect.fail('expected a refusal');
    } catch (error) {
      expect(error).to.be.instanceOf(AppError);
      expect((error as AppError).status).to.equal(422);
      expect((error as AppError).message).to.include('name: required').and.include('"admin" is not one of').and.include('expires_in');
    }
    await tokens.create({ name: 'x', scopes: [] }).then(() => expect.fail('expected a refusal'), (error: AppError) => expect(error.message).to.include('scope: at least one'));
  });

  it('write includes read; register stands alone', () => {
    expect(allows(['write'], 'read')).to.equal(true);
    expect(allows(['read'], 'write')).to.equal(false);
    expect(allows(['register'], 'read')).to.equal(false);
    expect(allows(['write'], 'register')).to.equal(false);
    expect(allows(['register'], 'register')).to.equal(true);
  });
});

describe('admin time values', () => {
  const now = Date.UTC(2026, 10, 28, 12);
  it('reads durations and points in time', () => {
    expect(parseDurationMs('90s')).to.equal(90_000);
    expect(parseDurationMs('30d')).to.equal(30 * 86_400_000);
    expect(parseDurationMs('soon')).to.equal(undefined);
    expect(parseWhen('15m', now)).to.equal(now - 900_000);
    expect(parseWhen('2026-11-28', now)).to.equal(Date.UTC(2026, 10, 28));
    expect(parseWhen('2026-11-28T18:00:00Z', now)).to.equal(Date.UTC(2026, 10, 28, 18));
    for (const bad of ['yesterday', '1', 'March 7', '']) expect(parseWhen(bad, now), bad).to.equal(undefined);
  });
});
