import { expect } from 'chai';
import { closestName, levenshtein } from '../../src/config/did-you-mean.js';
import { settingNames } from '../../src/config/settings.js';

describe('levenshtein', () => {
  const cases: [string, string, number][] = [
    ['', '', 0],
    ['', 'abc', 3],
    ['abc', '', 3],
    ['PORT', 'PORT', 0],
    ['PORTT', 'PORT', 1], // insertion
    ['POT', 'PORT', 1], // deletion
    ['PIRT', 'PORT', 1], // substitution
    ['HOME', 'HOST', 2],
    ['kitten', 'sitting', 3],
    ['flaw', 'lawn', 2],
    ['RATE_LIMIT_EMAL', 'RATE_LIMIT_EMAIL', 1],
    ['RATE_LIMIT_IP', 'RATE_LIMIT_MAIL', 3],
  ];
  for (const [a, b, distance] of cases) {
    it(`"${a}" → "${b}" is ${distance}, and the same the other way round`, () => {
      expect(levenshtein(a, b)).to.equal(distance);
      expect(levenshtein(b, a)).to.equal(distance);
    });
  }
});

describe('closestName', () => {
  it('names the setting one or two edits away, by the length of the name', () => {
    expect(closestName('PORTT', settingNames)).to.equal('PORT');
    expect(closestName('RATE_LIMIT_EMAL', settingNames)).to.equal('RATE_LIMIT_EMAIL');
    expect(closestName('HMAC_SECRET', settingNames)).to.equal('HMAC_SECRETS');
    expect(closestName('COOKIE_KEY', settingNames)).to.equal('COOKIE_KEYS');
    expect(closestName('ISUER', settingNames)).to.equal('ISSUER');
    expect(closestName('MAIL_FORM', settingNames), 'a swap is two edits').to.equal('MAIL_FROM');
  });

  it('suggests nothing further away, for a setting itself, or for names with lower-case letters', () => {
    expect(closestName('HOME', settingNames), 'HOME is two edits from HOST').to.equal(undefined);
    expect(closestName('PRTT', settingNames), 'two edits, short name').to.equal(undefined);
    expect(closestName('RATE_LIMT_EMAL', settingNames)).to.equal('RATE_LIMIT_EMAIL');
    expect(closestName('RATE_LMT_EMAL', settingNames), 'three edits').to.equal(undefined);
    expect(closestName('PORT', settingNames)).to.equal(undefined);
    expect(closestName('port', settingNames)).to.equal(undefined);
    expect(closestName('Portt', settingNames)).to.equal(undefined);
  });
});
