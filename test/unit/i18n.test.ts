import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Messages } from '../../src/shared/i18n.js';
import { localesDir } from '../../src/shared/paths.js';

describe('i18n: plural forms by Intl.PluralRules', () => {
  const messages = new Messages(localesDir);

  it('says "1 try left" and "2 tries left", in English and German', () => {
    expect(messages.t('en', 'error.code_invalid', { count: 1 })).to.equal('That code is not right. 1 try left.');
    expect(messages.t('en', 'error.code_invalid', { count: 2 })).to.equal('That code is not right. 2 tries left.');
    expect(messages.t('en', 'error.code_invalid', { count: 0 })).to.equal('That code is not right. 0 tries left.');
    expect(messages.t('de', 'error.code_invalid', { count: 1 })).to.equal('Dieser Code ist nicht richtig. Noch 1 Versuch.');
    expect(messages.t('de', 'error.code_invalid', { count: 4 })).to.equal('Dieser Code ist nicht richtig. Noch 4 Versuche.');
  });

  it('waits in seconds and minutes with the right form', () => {
    expect(messages.wait('en', 1)).to.equal('1 second');
    expect(messages.wait('en', 45)).to.equal('45 seconds');
    expect(messages.wait('en', 60)).to.equal('1 minute');
    expect(messages.wait('de', 61)).to.equal('2 Minuten');
    expect(messages.wait('de', 1)).to.equal('1 Sekunde');
  });

  it('a language with more forms picks its own, and falls back to its `other`, never to English', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sesame-i18n-'));
    writeFileSync(join(dir, 'en.json'), JSON.stringify({ 'x.one': '{count} apple', 'x.other': '{count} apples' }));
    // Polish: 1 → one, 2–4 → few, 5 → many
    writeFileSync(join(dir, 'pl.json'), JSON.stringify({ 'x.one': '{count} jabłko', 'x.few': '{count} jabłka', 'x.other': '{count} jabłek' }));
    const custom = new Messages(dir);
    expect(custom.t('pl', 'x', { count: 1 })).to.equal('1 jabłko');
    expect(custom.t('pl', 'x', { count: 3 })).to.equal('3 jabłka');
    expect(custom.t('pl', 'x', { count: 5 })).to.equal('5 jabłek');
    expect(custom.has('x')).to.equal(true);
    expect(custom.t('en', 'x', { count: 1 })).to.equal('1 apple');
  });
});
