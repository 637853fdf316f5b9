import { expect } from 'chai';
import { bearerToken } from '../../src/shared/bearer.js';

describe('Authorization: Bearer (unit)', () => {
  it('reads the token whatever the case of the scheme and the number of spaces (RFC 6750 §2.1)', () => {
    expect(bearerToken('Bearer abc.DEF-123_~+/=')).to.equal('abc.DEF-123_~+/=');
    expect(bearerToken('bearer abc')).to.equal('abc');
    expect(bearerToken('BEARER   abc  ')).to.equal('abc');
  });

  it('reads nothing from another scheme, no token, two tokens or a missing header', () => {
    for (const header of ['Basic YWxhZGRpbjpvcGVuc2VzYW1l', 'Bearer', 'Bearer ', 'Bearer a b', 'Bearerabc', ' Bearer abc', 'Bearer\tabc', '', undefined]) {
      expect(bearerToken(header), String(header)).to.equal(undefined);
    }
  });
});
