import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { generatedDocs } from '../../src/docs/pages.js';
import { projectRoot } from '../../src/shared/paths.js';

/** README.md, SECURITY.md and every Markdown file under docs/. */
function markdownFiles(): string[] {
  const found = ['README.md', 'SECURITY.md'].map((name) => join(projectRoot, name));
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.md')) found.push(path);
    }
  };
  walk(join(projectRoot, 'docs'));
  return found;
}

/** The text outside code: a link in a code block or a `span` is an example, not a link. */
const prose = (markdown: string) => markdown.replace(/^(`{3,})[^\n]*\n[\s\S]*?^\1\s*$/gm, '').replace(/`[^`\n]*`/g, '');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of prose(markdown.replace(/`/g, '')).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = heading.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count ? `${slug}-${count}` : slug);
  }
  return anchors;
}


describe('docs', () => {
  it('docs/configuration.md and docs/cli.md are what the code generates', async function () {
    this.timeout(60_000);
    const stale = Object.entries(await generatedDocs())
      .filter(([path, expected]) => !existsSync(join(projectRoot, path)) || readFileSync(join(projectRoot, path), 'utf8') !== expected)
      .map(([path]) => path);
    expect(stale, `stale: ${stale.join(', ')}; run \`npm run docs\` and commit the result`).to.deep.equal([]);
  });

  it('every relative link in README.md, SECURITY.md and docs/ points to an existing file and heading', () => {
    const broken: string[] = [];
    for (const file of markdownFiles()) {
      const text = readFileSync(file, 'utf8');
      for (const [, target] of prose(text).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split('#');
        const linked = path ? resolve(dirname(file), decodeURIComponent(path)) : file;
        const where = `${relative(projectRoot, file)} → ${target}`;
        if (!existsSync(linked)) broken.push(`${where}: no such file`);
        else if (anchor && linked.endsWith('.md') && !anchorsOf(readFileSync(linked, 'utf8')).has(anchor)) broken.push(`${where}: no such heading`);
      }
    }
    expect(broken).to.deep.equal([]);
  });
});
