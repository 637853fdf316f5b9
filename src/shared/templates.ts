import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import type Handlebars from 'handlebars';
import { DEFAULT_LOCALE, type Messages } from './i18n.js';

type Template = Handlebars.TemplateDelegate;

const require = createRequire(import.meta.url);

/**
 * Every `.hbs` file under one folder, compiled once, at the first use or when `load` is called
 * (the server does at start): a CLI command that renders nothing loads neither handlebars nor the
 * files. Names are paths without the extension (`login/email`, `mail/login/subject`). Pages are
 * wrapped in `layout`; partials live under `partials/` and are registered by their base name.
 */
export class Templates {
  #templates: Map<string, Template> | undefined;

  #globals: Record<string, unknown> = {};

  constructor(private readonly dir: string, readonly messages: Messages) {}

  /** Reads and compiles the templates, if that has not happened yet. */
  load(): void {
    this.#loaded();
  }

  #loaded(): Map<string, Template> {
    if (this.#templates) return this.#templates;
    const { dir, messages } = this;
    const hbs = (require('handlebars') as typeof Handlebars).create();
    const templates = new Map<string, Template>();
    for (const file of walk(dir)) {
      if (!file.endsWith('.hbs')) continue;
      const name = relative(dir, file).slice(0, -'.hbs'.length).split('\\').join('/');
      const source = readFileSync(file, 'utf8');
      if (name.startsWith('partials/')) {
        hbs.registerPartial(name.slice('partials/'.length), source);
      } else {
        templates.set(name, hbs.compile(source, { strict: false }));
      }
    }
    hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
    // {{initial name}}: the first letter (grapheme) of a name, for a mark where a logo is missing
    hbs.registerHelper('initial', (name: unknown) => {
      const first = new Intl.Segmenter().segment(String(name ?? '').trim())[Symbol.iterator]().next().value;
      return first ? first.segment.toLocaleUpperCase() : '';
    });
    // {{t "key" name=value}}: the text in the page's language (`locale` in the data); the result is
    // escaped like any other value, parameters included
    hbs.registerHelper('t', (key: string, options: Handlebars.HelperOptions) => {
      const root = options.data?.root as { locale?: string } | undefined;
      return messages.t(root?.locale ?? DEFAULT_LOCALE, key, options.hash as Record<string, unknown>);
    });
    this.#templates = templates;
    return templates;
  }

  render(name: string, data: Record<string, unknown>): string {
    const template = this.#loaded().get(name);
    if (!template) throw new Error(`no template ${name}`);
    return template({ ...this.#globals, ...data });
  }

  /** Values every template sees (product name, asset URLs), set once by the composition root. */
  setGlobals(globals: Record<string, unknown>): void {
    this.#globals = { ...globals };
  }

  page(name: string, data: Record<string, unknown> & { title?: string }): string {
    return this.render('layout', { ...data, body: this.render(name, data) });
  }

  has(name: string): boolean {
    return this.#loaded().has(name);
  }
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}
