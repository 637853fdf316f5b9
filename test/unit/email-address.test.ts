import { expect } from 'chai';
import { normalizeEmail } from '../../src/accounts/email-address.js';
import { AppError } from '../../src/shared/errors.js';

function refusal(input: unknown): AppError {
  try {
    normalizeEmail(input);
  } catch (error) {
    expect(error, `error for ${JSON.stringify(input)}`).to.be.instanceOf(AppError);
    return error as AppError;
  }
  expect.fail(`normalizeEmail accepted ${JSON.stringify(input)}`);
}

function expectRefused(input: unknown): void {
  const error = refusal(input);
  expect(error.code, `code for ${JSON.stringify(input)}`).to.equal('invalid_email');
  expect(error.status).to.equal(400);
  expect(error.expose).to.equal(true);
  expect(error.message).to.be.a('string').and.not.equal('');
}

describe('normalizeEmail', () => {
  describe('accepts and normalises', () => {
    it('trims surrounding whitespace and lower-cases the whole address', () => {
      expect(normalizeEmail('  Alice.Smith@Example.COM \t')).to.equal('alice.smith@example.com');
      expect(normalizeEmail('BOB+Tag@Sub.Example.org')).to.equal('bob+tag@sub.example.org');
    });

    it('stores an internationalised domain in its punycode form', () => {
      expect(normalizeEmail('user@bücher.example')).to.equal('user@xn--bcher-kva.example');
      expect(normalizeEmail('User@BÜCHER.Example')).to.equal('user@xn--bcher-kva.example');
      // the same mailbox typed in punycode normalises to the same string
      expect(normalizeEmail('user@xn--bcher-kva.example')).to.equal(normalizeEmail('user@bücher.example'));
    });

    it('keeps dot-atom specials in the local part', () => {
      expect(normalizeEmail("o'brien.x_y-z!#$%&*=?^`{|}~@example.com")).to.equal("o'brien.x_y-z!#$%&*=?^`{|}~@example.com");
    });

    it('accepts the longest allowed local part (64) and address (254)', () => {
      const local64 = 'a'.repeat(64);
      expect(normalizeEmail(`${local64}@example.com`)).to.equal(`${local64}@example.com`);
      // 64 + '@' + 63 + '.' + 63 + '.' + 57 + '.com' = 254
      const domain189 = `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`;
      const address = `${local64}@${domain189}`;
      expect(address).to.have.length(254);
      expect(normalizeEmail(address)).to.equal(address);
    });
  });

  describe('refuses with invalid_email (400)', () => {
    it('non-strings', () => {
      for (const input of [undefined, null, 42, true, {}, ['a@example.com'], { toString: () => 'a@example.com' }]) {
        expectRefused(input);
      }
    });

    it('empty or blank input', () => {
      expectRefused('');
      expectRefused('   \t ');
    });

    it('an address over 254 characters', () => {
      const address = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(58)}.com`;
      expect(address).to.have.length(255);
      expectRefused(address);
      expectRefused(`${'a'.repeat(300)}@example.com`);
    });

    it('a local part over 64 characters', () => {
      expectRefused(`${'a'.repeat(65)}@example.com`);
    });

    it('CR/LF (header injection) and NUL inside the address', () => {
      expectRefused('alice@example.com\r\nBcc: mallory@evil.example');
      expectRefused('alice@example.com\nX');
      expectRefused('alice\r@example.com');
      expectRefused('alice@exa\nmple.com');
      expectRefused('alice\0@example.com');
    });

    it('two @ signs', () => {
      expectRefused('alice@bob@example.com');
      expectRefused('alice@@example.com');
      expectRefused('@example.com');
      expectRefused('alice@');
      expectRefused('alice.example.com');
    });

    it('lists of addresses', () => {
      expectRefused('alice@example.com,bob@example.com');
      expectRefused('alice@example.com, bob@example.com');
      expectRefused('alice@example.com;bob@example.com');
      expectRefused('alice,bob@example.com');
      expectRefused('alice;bob@example.com');
      expectRefused('alice@example.com,example.org');
      expectRefused('alice@example.com;example.org');
    });

    it('display names and angle brackets', () => {
      expectRefused('Bob <bob@example.com>');
      expectRefused('<bob@example.com>');
      expectRefused('"Bob" <bob@example.com>');
    });

    it('spaces inside the address', () => {
      expectRefused('bo b@example.com');
      expectRefused('bob @example.com');
      expectRefused('bob@ example.com');
      expectRefused('bob@exam ple.com');
    });

    it('a domain without a TLD', () => {
      expectRefused('a@b');
      expectRefused('alice@localhost');
      expectRefused('alice@example.com.');
      expectRefused('alice@.example.com');
      expectRefused('alice@example..com');
    });

    it('a numeric TLD (IP-like domains)', () => {
      expectRefused('alice@example.123');
      expectRefused('alice@192.168.0.1');
      expectRefused('alice@[192.168.0.1]');
    });

    it('quoted local parts and comments', () => {
      expectRefused('"alice"@example.com');
      expectRefused('"alice smith"@example.com');
      expectRefused('"a@b"@example.com');
      expectRefused('alice(comment)@example.com');
    });

    it('leading, trailing or doubled dots in the local part', () => {
      expectRefused('.alice@example.com');
      expectRefused('alice.@example.com');
      expectRefused('al..ice@example.com');
    });

    it('domain labels starting or ending with a hyphen, or over 63 characters', () => {
      expectRefused('alice@-example.com');
      expectRefused('alice@mail.-example.com');
      expectRefused('alice@example-.com');
      expectRefused(`alice@${'a'.repeat(64)}.com`);
    });

    it('non-ASCII local parts', () => {
      expectRefused('jösé@example.com');
    });
  });
});
