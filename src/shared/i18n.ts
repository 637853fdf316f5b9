import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';

export const DEFAULT_LOCALE = 'en';

/**
 * The texts of every page and email, one JSON file per language under views/locales. English is
 * complete by definition; a key missing elsewhere falls back to English, and a key missing in
 * English is a bug that shows as the key itself (and fails the locale test).
 */
export class Messages {
  readonly #catalogs = new Map<string, Record<string, string>>();

  constructor(dir: string) {
    for (const file of readdirSync(dir)) {
      if (!file.endsWith('.json')) continue;
      this.#catalogs.set(basename(file, '.json'), JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, string>);
    }
    if (!this.#catalogs.has(DEFAULT_LOCALE)) throw new Error(`no ${DEFAULT_LOCALE}.json in ${dir}`);
  }

  get locales(): string[] {
    return [...this.#catalogs.keys()];
  }

  /** Whether English has the text, as one string or in plural forms (`key.one`, `key.other`…). */
  has(key: string): boolean {
    const english = this.#catalogs.get(DEFAULT_LOCALE)!;
    return key in english || `${key}.other` in english;
  }

  catalog(locale: string): Readonly<Record<string, string>> {
    return this.#catalogs.get(locale) ?? this.#catalogs.get(DEFAULT_LOCALE)!;
  }

  /**
   * The text of `key` in the language, with its {placeholders} filled in. A text that depends on a
   * number has plural forms instead of one string (`key.one`, `key.other`, and `few`, `many`… where
   * the language has them): the form is chosen by `Intl.PluralRules` for the `count` parameter.
   */
  t(locale: string, key: string, params: Record<string, unknown> = {}): string {
    const text = this.#text(locale, key) ?? this.#pluralText(locale, key, params.count) ?? key;
    return text.replace(/\{(\w+)\}/g, (match, name: string) => (name in params ? String(params[name]) : match));
  }

  #text(locale: string, key: string): string | undefined {
    return this.#catalogs.get(locale)?.[key] ?? this.#catalogs.get(DEFAULT_LOCALE)![key];
  }

  #pluralText(locale: string, key: string, count: unknown): string | undefined {
    if (this.#text(locale, `${key}.other`) === undefined) return undefined;
    const n = Number(count);
    const category = Number.isFinite(n) ? pluralRules(this.#catalogs.has(locale) ? locale : DEFAULT_LOCALE).select(n) : 'other';
    // a language's own form first, then its `other` (never English's `one` for another language's count)
    return this.#catalogs.get(locale)?.[`${key}.${category}`] ?? this.#catalogs.get(locale)?.[`${key}.other`]
      ?? this.#catalogs.get(DEFAULT_LOCALE)![`${key}.${category}`] ?? this.#text(DEFAULT_LOCALE, `${key}.other`);
  }

  /** The first supported language among `wanted` (BCP 47 tags, best first): `de-CH` finds `de`. */
  pick(wanted: readonly string[]): string | undefined {
    for (const tag of wanted) {
      const lower = tag.toLowerCase();
      if (this.#catalogs.has(lower)) return lower;
      const primary = lower.split('-')[0];
      if (this.#catalogs.has(primary)) return primary;
    }
    return undefined;
  }

  /**
   * The language an operator asked for by tag (`de`, `de-CH`) when it is one of ours; otherwise
   * what to say (a UsageError or a field problem). Undefined tag: English.
   */
  chosen(tag: string | undefined): { locale: string } | { problem: string } {
    if (tag === undefined) return { locale: DEFAULT_LOCALE };
    const locale = this.pick([tag.trim()]);
    return locale ? { locale } : { problem: `must be one of ${this.locales.sort().join(', ')}` };
  }

  /** "45 seconds", "3 minutes", in the language. */
  wait(locale: string, seconds: number): string {
    if (seconds < 60) return this.t(locale, 'wait.seconds', { count: Math.max(1, Math.ceil(seconds)) });
    return this.t(locale, 'wait.minutes', { count: Math.ceil(seconds / 60) });
  }
}

const rules = new Map<string, Intl.PluralRules>();

function pluralRules(locale: string): Intl.PluralRules {
  let found = rules.get(locale);
  if (!found) rules.set(locale, (found = new Intl.PluralRules(locale)));
  return found;
}
