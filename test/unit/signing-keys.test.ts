import { expect } from 'chai';
import type { JWK } from 'oidc-provider';
import { keySet, type SigningKey } from '../../src/oidc/signing-keys.js';

const HOUR = 3_600_000;
const key = (kid: string, activateAt: number, createdAt = activateAt): SigningKey => ({ kid, alg: 'RS256', jwk: { kid } as JWK, createdAt, activateAt });
const states = (set: ReturnType<typeof keySet>) => set.entries.map((e) => `${e.key.kid}:${e.state}`);

describe('signing key states', () => {
  const t0 = Date.UTC(2026, 10, 28, 12);

  it('signs with the only key', () => {
    const set = keySet([key('a', t0)], t0 + 1, HOUR);
    expect(states(set)).to.deep.equal(['a:signing']);
    expect(set.jwks.keys.map((k) => k.kid)).to.deep.equal(['a']);
  });

  it('publishes a rotated key ahead, signs with it once active, keeps the old one published until it retires', () => {
    const keys = [key('old', t0), key('new', t0 + HOUR, t0 + 10)];
    const before = keySet(keys, t0 + 20, 2 * HOUR);
    expect(states(before)).to.deep.equal(['old:signing', 'new:next']);
    expect(before.jwks.keys.map((k) => k.kid), 'the signing key comes first').to.deep.equal(['old', 'new']);

    const after = keySet(keys, t0 + HOUR, 2 * HOUR);
    expect(states(after)).to.deep.equal(['new:signing', 'old:retiring']);
    expect(after.entries[1].retiresAt).to.equal(t0 + 3 * HOUR);
    expect(after.fingerprint).not.to.equal(before.fingerprint);

    const later = keySet(keys, t0 + 3 * HOUR, 2 * HOUR);
    expect(states(later)).to.deep.equal(['new:signing', 'old:expired']);
    expect(later.jwks.keys.map((k) => k.kid)).to.deep.equal(['new']);
  });

  it('agrees on the signing key however the rows are ordered (two keys created at once by two instances)', () => {
    const a = key('a-kid', t0);
    const b = key('b-kid', t0);
    expect(keySet([a, b], t0, HOUR).entries[0].key.kid).to.equal(keySet([b, a], t0, HOUR).entries[0].key.kid);
  });

  it('retires each older key from the moment its own successor activated', () => {
    const keys = [key('k1', t0), key('k2', t0 + HOUR), key('k3', t0 + 2 * HOUR)];
    const set = keySet(keys, t0 + 2 * HOUR + 1, 30 * 60_000);
    expect(states(set)).to.deep.equal(['k3:signing', 'k2:retiring', 'k1:expired']);
  });
});
