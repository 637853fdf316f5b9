import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { localesDir, projectRoot } from '../../src/shared/paths.js';

/**
 * The texts of every page and email (views/locales/*.json). English is the reference: every other
 * language has exactly its keys, the same {placeholders} in each text, and nothing empty. And the
 * other way round: every key the templates and src/ name statically exists in English, so no
 * page ever shows a bare key.
 */

const SRC_DIR = join(projectRoot, 'src');
const VIEWS_DIR = join(projectRoot, 'views');

/**
 * Keys the code names that en.json does not define yet, each with why it has not shown up as a
 * bare key so far. Add the text to en.json (and every other locale) and remove the entry here:
 * the test fails while an entry is stale, so this list can only shrink.
 */
/** Keys src/ uses that en.json does not define yet, with why; this list may only shrink. */
const KNOWN_MISSING: Readonly<Record<string, string>> = {};

/** The HTTP status of each helper in src/shared/errors.ts. */
const HELPER_STATUS: Readonly<Record<string, number>> = { badRequest: 400, notFound: 404, gone: 410, forbidden: 403, conflict: 409 };

type Catalog = Record<string, string>;

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith(suffix))
    .map((name) => join(dir, name))
    .sort();
}

function readCatalog(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** The {name} placeholders of a text, as src/shared/i18n.ts interpolates them. */
function placeholders(text: string): string[] {
  return [...new Set([...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1]))].sort();
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

/** A key named somewhere, and where. */
interface KeyUse {
  key: string;
  where: string;
}

/** `{{t "key" …}}`, `{{t 'key'}}` and `(t "key")`; `{{t notice}}` and `{{t this}}` cannot be resolved statically and are skipped. */
function templateKeys(): KeyUse[] {
  const uses: KeyUse[] = [];
  for (const file of filesUnder(VIEWS_DIR, '.hbs')) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:\{\{~?|\()\s*t\s+(["'])([^"']+)\1/g)) {
      uses.push({ key: match[2], where: `${relative(projectRoot, file)}:${lineOf(text, match.index)}` });
    }
  }
  return uses;
}

/**
 * Keys src/ names with a literal: the key argument of a t() call, any quoted `namespace.key`
 * whose namespace en.json uses ('error.…', 'mail.unknown_device', `key: 'error.…'`, …), and
 * `error.<code>` for every AppError a person can see (status below 500) built with a literal
 * code, since that is its default key. Template literals with ${…} cannot be resolved and are skipped.
 */
function sourceKeys(namespaces: ReadonlySet<string>): KeyUse[] {
  const uses: KeyUse[] = [];
  for (const file of filesUnder(SRC_DIR, '.ts')) {
    // the list of audit event types holds 'email.sent' and the like, which are not locale keys
    const text = readFileSync(file, 'utf8').replace(/AUDIT_TYPES = \[[^\]]*\]/, (list) => list.replace(/[^\n]/g, ' '));
    const at = (index: number) => `${relative(projectRoot, file)}:${lineOf(text, index)}`;

    // t(ctx, templates, 'key'), messages.t(locale, 'key'), this.t(locale, 'key', …): a literal among the arguments before it
    for (const match of text.matchAll(/\bt\((?:(?:[^'"`;()\n]|\([^()'"`\n]*\))*?,\s*)?(['"`])([\w.-]+)\1/g)) {
      if (match[2].includes('.')) uses.push({ key: match[2], where: at(match.index) });
    }
    // 'error.title', key: 'error.rate_limited.verify', 'email.notice.stale', …
    // (audit event types such as 'email.sent' share the shape: `type: '…'`, `case '…'` and union members are not keys)
    for (const match of text.matchAll(/(['"`])([a-z_]+(?:\.[a-z0-9_]+)+)\1/g)) {
      const before = text.slice(Math.max(0, match.index - 12), match.index);
      if (/(type:\s*|case\s+|\|\s*)$/.test(before)) continue;
      if (namespaces.has(match[2].split('.')[0])) uses.push({ key: match[2], where: at(match.index) });
    }
    // new AppError('code', 400, …): the default key is error.<code>
    for (const match of text.matchAll(/\bnew\s+AppError\(\s*(['"`])([\w-]+)\1\s*,\s*(\d{3})\b/g)) {
      if (Number(match[3]) < 500) uses.push({ key: `error.${match[2]}`, where: at(match.index) });
    }
    // badRequest('code', …), notFound, gone, forbidden, conflict: all 4xx
    for (const match of text.matchAll(/\b(badRequest|notFound|gone|forbidden|conflict)\(\s*(['"`])([\w-]+)\2/g)) {
      if (HELPER_STATUS[match[1]] < 500) uses.push({ key: `error.${match[3]}`, where: at(match.index) });
    }
  }
  return uses;
}

const localeFiles = readdirSync(localesDir).filter((name) => name.endsWith('.json')).sort();
const english = readCatalog(join(localesDir, 'en.json')) as Catalog;
const englishKeys = Object.keys(english);
/** A key the code names is defined as one text or in plural forms (`key.other` and its siblings, see i18n.ts). */
const defined = (key: string) => key in english || `${key}.other` in english;

describe('locales', () => {
  it('has English, and German', () => {
    expect(localeFiles).to.include('en.json');
    expect(localeFiles).to.include('de.json');
  });

  for (const name of localeFiles) {
    describe(name, () => {
      const file = join(localesDir, name);

      it('is a flat object of string values', () => {
        const catalog = readCatalog(file);
        expect(catalog, `${name} is a JSON object`).to.be.an('object').and.not.be.an('array');
        const notStrings = Object.entries(catalog as object).filter(([, value]) => typeof value !== 'string').map(([key]) => key);
        expect(notStrings, `${name}: keys whose value is not a string`).to.deep.equal([]);
      });

      it('has exactly the keys of en.json', () => {
        const keys = Object.keys(readCatalog(file) as Catalog);
        const missing = englishKeys.filter((key) => !keys.includes(key));
        const extra = keys.filter((key) => !(key in english));
        expect(missing, `${name} is missing ${missing.join(', ')}`).to.deep.equal([]);
        expect(extra, `${name} has keys that en.json does not: ${extra.join(', ')}`).to.deep.equal([]);
      });

      it('keeps the {placeholders} of every English text, adding none', () => {
        const catalog = readCatalog(file) as Catalog;
        const wrong = englishKeys
          .filter((key) => typeof catalog[key] === 'string')
          .filter((key) => placeholders(catalog[key]).join() !== placeholders(english[key]).join())
          .map((key) => `${key}: {${placeholders(catalog[key]).join('}, {')}} instead of {${placeholders(english[key]).join('}, {')}}`);
        expect(wrong, `${name}:\n  ${wrong.join('\n  ')}`).to.deep.equal([]);
      });

      it('has no empty text', () => {
        const catalog = readCatalog(file) as Catalog;
        const empty = Object.entries(catalog).filter(([, value]) => typeof value === 'string' && value.trim() === '').map(([key]) => key);
        expect(empty, `${name}: empty texts`).to.deep.equal([]);
      });
    });
  }

  it('de.json is really translated: at least 90% of its texts differ from English', () => {
    const german = readCatalog(join(localesDir, 'de.json')) as Catalog;
    const same = englishKeys.filter((key) => german[key] === english[key]);
    const translated = englishKeys.length - same.length;
    expect(translated / englishKeys.length, `de.json keeps the English text of ${same.join(', ')}`).to.be.at.least(0.9);
  });

  describe('every key the code uses is defined in en.json', () => {
    const namespaces = new Set(englishKeys.map((key) => key.split('.')[0]));

    it('the templates under views/ (found some, to prove the scan works)', () => {
      const uses = templateKeys();
      expect(uses.map((use) => use.key)).to.include.members(['layout.footer', 'email.submit', 'mail.subject', 'logout.yes']);
      const missing = uses.filter((use) => !defined(use.key)).map((use) => `${use.where} ${use.key}`);
      expect(missing, `keys not in en.json:\n  ${missing.join('\n  ')}`).to.deep.equal([]);
    });

    it('src/: t() keys, error keys and the error.<code> of every 4xx AppError with a literal code', () => {
      const uses = sourceKeys(namespaces);
      // proof the scan reaches each kind: a t() key, a key: option, a headingKey, an AppError code, a helper's code
      expect(uses.map((use) => use.key)).to.include.members([
        'verify.title',
        'error.rate_limited.verify',
        'error.interaction_expired.title',
        'error.client_unavailable',
        'error.csrf_failed',
      ]);
      const missing = uses
        .filter((use) => !defined(use.key) && !(use.key in KNOWN_MISSING))
        .map((use) => `${use.where} ${use.key}`);
      expect(missing, `keys not in en.json:\n  ${missing.join('\n  ')}`).to.deep.equal([]);

      // KNOWN_MISSING can only shrink: an entry now defined, or no longer used, must be removed
      const used = new Set(uses.map((use) => use.key));
      const stale = Object.keys(KNOWN_MISSING).filter((key) => defined(key) || !used.has(key));
      expect(stale, `remove from KNOWN_MISSING: ${stale.join(', ')}`).to.deep.equal([]);
    });
  });
});
