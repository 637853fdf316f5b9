import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { constantTimeEqual, CookieSigner, derivedKey, KeyedHasher, SecretBox, randomCode, randomId, randomToken } from '../../src/shared/crypto.js';

const OLD_SECRET = 'old-secret-0123456789-0123456789-abcdef';
const NEW_SECRET = 'new-secret-0123456789-0123456789-abcdef';

/** how Sesame hashed before one key per purpose */
const legacy = (secret: string, purpose: string, value: string) => createHmac('sha256', secret).update(`${purpose}\0${value}`).digest('base64url');

describe('crypto helpers', () => {
  describe('randomId', () => {
    it('carries 128 bits and never starts with "-", which a command line would read as an option', () => {
      const ids = Array.from({ length: 5000 }, () => randomId());
      for (const id of ids) expect(id).to.match(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(ids[0], 'base64url')).to.have.length(16);
      expect(new Set(ids).size).to.equal(ids.length);
    });
  });

  describe('randomToken', () => {
    it('is 43 base64url characters carrying 256 bits by default', () => {
      const token = randomToken();
      expect(token).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).to.have.length(32);
    });

    it('honours a byte count', () => {
      const token = randomToken(16);
      expect(token).to.match(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(token, 'base64url')).to.have.length(16);
    });

    it('never repeats', () => {
      const tokens = new Set(Array.from({ length: 2000 }, () => randomToken()));
      expect(tokens.size).to.equal(2000);
    });
  });

  describe('randomCode', () => {
    it('is always six digits, keeps leading zeros, and spreads over every first digit', () => {
      const samples = Array.from({ length: 20000 }, () => randomCode());
      const firstDigits = new Map<string, number>();
      let belowTenThousand = 0;
      for (const code of samples) {
        expect(code).to.match(/^\d{6}$/);
        firstDigits.set(code[0], (firstDigits.get(code[0]) ?? 0) + 1);
        if (code.startsWith('00')) belowTenThousand++;
      }
      expect([...firstDigits.keys()].sort()).to.deep.equal(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      // ~2000 each when uniform; a bias towards some digits (or dropped zeros) lands far outside this band
      for (const [digit, count] of firstDigits) {
        expect(count, `first digit ${digit}`).to.be.within(1700, 2300);
      }
      // about 1% are below 10000 and must still be six characters long
      expect(belowTenThousand).to.be.greaterThan(0);
      expect(new Set(samples).size).to.be.greaterThan(19000);
    });
  });

  describe('derivedKey', () => {
    it('is 32 bytes, the same for the same secret and purpose, different for another of either', () => {
      const key = derivedKey(NEW_SECRET, 'dpop nonce');
      expect(key).to.have.length(32);
      expect(derivedKey(NEW_SECRET, 'dpop nonce').equals(key)).to.equal(true);
      expect(derivedKey(OLD_SECRET, 'dpop nonce').equals(key)).to.equal(false);
      expect(derivedKey(NEW_SECRET, 'something else').equals(key)).to.equal(false);
      expect(key.toString('utf8')).to.not.include(NEW_SECRET.slice(0, 8));
    });
  });

  describe('SecretBox', () => {
    const box = new SecretBox([NEW_SECRET, OLD_SECRET], 'test');

    it('opens what it sealed, in its context only, and says the newest secret sealed it', () => {
      const sealed = box.seal('{"d":"private"}', 'row 1');
      expect(sealed).to.match(/^v1\.[\w-]{16}\.[\w-]+$/);
      expect(sealed).to.not.include('private');
      expect(box.open(sealed, 'row 1')).to.deep.equal({ plaintext: '{"d":"private"}', secretIndex: 0 });
      expect(box.open(sealed, 'row 2')).to.equal(undefined);
    });

    it('seals the same text differently each time (a fresh IV)', () => {
      expect(box.seal('same', 'row')).to.not.equal(box.seal('same', 'row'));
    });

    it('opens with an older secret, and tells which; not with a secret it was not given, nor for another purpose', () => {
      const sealedOld = new SecretBox([OLD_SECRET], 'test').seal('text', 'row');
      expect(box.open(sealedOld, 'row')).to.deep.equal({ plaintext: 'text', secretIndex: 1 });
      expect(new SecretBox([NEW_SECRET], 'test').open(sealedOld, 'row')).to.equal(undefined);
      expect(new SecretBox([OLD_SECRET], 'other').open(sealedOld, 'row')).to.equal(undefined);
    });

    it('refuses altered or malformed text', () => {
      const sealed = box.seal('text', 'row');
      const [version, iv, data] = sealed.split('.');
      const flipped = Buffer.from(data, 'base64url');
      flipped[0] ^= 1;
      expect(box.open(`${version}.${iv}.${flipped.toString('base64url')}`, 'row')).to.equal(undefined);
      for (const bad of ['', 'v1', 'v2.' + iv + '.' + data, `v1.${iv}.`, `v1.${iv}.AAAA`]) expect(box.open(bad, 'row'), bad).to.equal(undefined);
    });
  });

  describe('KeyedHasher', () => {
    it('needs at least one secret', () => {
      expect(() => new KeyedHasher([])).to.throw();
    });

    it('is deterministic for one secret, purpose and value', () => {
      const a = new KeyedHasher([NEW_SECRET]);
      const b = new KeyedHasher([NEW_SECRET]);
      expect(a.hash('login-link', 'value')).to.equal(a.hash('login-link', 'value'));
      expect(a.hash('login-link', 'value')).to.equal(b.hash('login-link', 'value'));
      expect(a.hash('login-link', 'value')).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(a.hash('login-link', 'value')).not.to.equal(a.hash('login-link', 'value2'));
    });

    it('differs per purpose, so a code can never match a token', () => {
      const hasher = new KeyedHasher([NEW_SECRET]);
      expect(hasher.hash('login-link', '123456')).not.to.equal(hasher.hash('login-code', '123456'));
      expect(hasher.verify('login-code', '123456', hasher.hash('login-link', '123456'))).to.equal(false);
      // the separator keeps purpose and value apart: ('ab', 'c') is not ('a', 'bc')
      expect(hasher.hash('ab', 'c')).not.to.equal(hasher.hash('a', 'bc'));
    });

    it('differs per secret', () => {
      expect(new KeyedHasher([OLD_SECRET]).hash('p', 'v')).not.to.equal(new KeyedHasher([NEW_SECRET]).hash('p', 'v'));
    });

    it('verifies what it hashed, and refuses a wrong value', () => {
      const hasher = new KeyedHasher([NEW_SECRET]);
      const stored = hasher.hash('login-link', 'the-token');
      expect(hasher.verify('login-link', 'the-token', stored)).to.equal(true);
      expect(hasher.verify('login-link', 'the-tokem', stored)).to.equal(false);
      expect(hasher.verify('login-link', '', stored)).to.equal(false);
      expect(hasher.verify('login-link', 'the-token', '')).to.equal(false);
    });

    it('still verifies a value hashed under an older secret after rotation, and hashes new values with the newest', () => {
      const before = new KeyedHasher([OLD_SECRET]);
      const stored = before.hash('login-link', 'the-token');
      const rotated = new KeyedHasher([NEW_SECRET, OLD_SECRET]);
      expect(rotated.verify('login-link', 'the-token', stored)).to.equal(true);
      expect(rotated.verify('login-link', 'another-token', stored)).to.equal(false);
      expect(rotated.hash('login-link', 'the-token')).to.equal(new KeyedHasher([NEW_SECRET]).hash('login-link', 'the-token'));
      expect(rotated.hash('login-link', 'the-token')).not.to.equal(stored);
    });

    it('refuses a hash made with a secret that is no longer configured', () => {
      const stored = new KeyedHasher([OLD_SECRET]).hash('login-link', 'the-token');
      expect(new KeyedHasher([NEW_SECRET]).verify('login-link', 'the-token', stored)).to.equal(false);
    });

    it('current() gives one hash per secret, newest first; candidates() adds the hashes of the earlier scheme', () => {
      const third = 'third-secret-0123456789-0123456789-xyz';
      const hasher = new KeyedHasher([NEW_SECRET, OLD_SECRET, third]);
      const current = [NEW_SECRET, OLD_SECRET, third].map((secret) => new KeyedHasher([secret]).hash('login-link', 'v'));
      expect(hasher.current('login-link', 'v')).to.deep.equal(current);
      const candidates = hasher.candidates('login-link', 'v');
      expect(candidates.slice(0, 3)).to.deep.equal(current);
      expect(candidates.slice(3)).to.deep.equal([NEW_SECRET, OLD_SECRET, third].map((secret) => legacy(secret, 'login-link', 'v')));
      expect(new Set(candidates).size).to.equal(6);
    });

    it('hashes with a key of its own per purpose, derived from the secret (HKDF), never with the secret itself', () => {
      const hasher = new KeyedHasher([NEW_SECRET]);
      const expected = createHmac('sha256', derivedKey(NEW_SECRET, 'hash client-secret')).update('s3cret').digest('base64url');
      expect(hasher.hash('client-secret', 's3cret')).to.equal(expected);
      expect(hasher.hash('client-secret', 's3cret')).to.not.equal(legacy(NEW_SECRET, 'client-secret', 's3cret'));
    });

    it('still verifies a value hashed by an earlier Sesame (the secret itself as the key), for its purpose only', () => {
      const hasher = new KeyedHasher([NEW_SECRET]);
      const stored = legacy(NEW_SECRET, 'admin-token', 'tok');
      expect(hasher.verify('admin-token', 'tok', stored)).to.equal(true);
      expect(hasher.verify('client-secret', 'tok', stored)).to.equal(false);
      expect(hasher.verify('admin-token', 'tok2', stored)).to.equal(false);
    });
  });

  describe('constantTimeEqual', () => {
    it('is true only for identical strings', () => {
      expect(constantTimeEqual('abc', 'abc')).to.equal(true);
      expect(constantTimeEqual('', '')).to.equal(true);
      expect(constantTimeEqual('abc', 'abd')).to.equal(false);
      expect(constantTimeEqual('abc', 'ABC')).to.equal(false);
    });

    it('returns false (and does not throw) for different lengths', () => {
      expect(constantTimeEqual('abc', 'abcd')).to.equal(false);
      expect(constantTimeEqual('abcd', 'abc')).to.equal(false);
      expect(constantTimeEqual('', 'a')).to.equal(false);
      // same character count, different byte length
      expect(constantTimeEqual('é', 'e')).to.equal(false);
    });
  });

  describe('CookieSigner', () => {
    // signatures computed with keygrip 1.1 (koa's default signer), so cookies set before the switch stay valid
    const KEYGRIP = { newKey: 'AJGRc3G1vfAVFY1I_e2agwX3rpo', oldKey: 'IYaARaL2fMo9lNTqK_Zz6lH23_c' };
    const signer = new CookieSigner(['new-key', 'old-key']);

    it('signs with the newest key exactly as keygrip does', () => {
      expect(signer.sign('_session=abc123')).to.equal(KEYGRIP.newKey);
      expect(signer.sign('sesame.csrf=Zz_-09')).to.equal('E2n0-hHGvdzoYpCwOz1Im5mUU1g');
    });

    it('tells which key signed a cookie, and refuses anything else', () => {
      expect(signer.index('_session=abc123', KEYGRIP.newKey)).to.equal(0);
      expect(signer.index('_session=abc123', KEYGRIP.oldKey), 'an old key still verifies (koa then re-signs)').to.equal(1);
      expect(new CookieSigner(['new-key']).index('_session=abc123', KEYGRIP.oldKey), 'a retired key no longer does').to.equal(-1);
      expect(signer.index('_session=abc124', KEYGRIP.newKey), 'another value').to.equal(-1);
      expect(signer.index('_session=abc123', KEYGRIP.newKey.slice(0, -1)), 'a truncated signature').to.equal(-1);
      expect(signer.index('_session=abc123', undefined as unknown as string), 'no signature cookie').to.equal(-1);
      expect(signer.verify('_session=abc123', KEYGRIP.oldKey)).to.equal(true);
    });
  });
});
