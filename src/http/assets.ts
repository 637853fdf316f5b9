import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import Router from '@koa/router';

const TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml' };

export interface Assets {
  router: Router;
  /** `/assets/<name>?v=<hash>`: a URL that changes when the file does, so it can be cached for a year */
  urls: Record<string, string>;
}

/** Static files under views/assets, read once at start, plus files generated from configuration. */
export function assets(dir: string, generated: Record<string, string> = {}): Assets {
  const files = new Map<string, { body: Buffer; type: string; version: string }>();
  const urls: Record<string, string> = {};
  const sources: [string, Buffer][] = [
    ...readdirSync(dir).map((name): [string, Buffer] => [name, readFileSync(join(dir, name))]),
    ...Object.entries(generated).map(([name, text]): [string, Buffer] => [name, Buffer.from(text)]),
  ];
  for (const [name, body] of sources) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const version = createHash('sha256').update(body).digest('base64url').slice(0, 10);
    files.set(name, { body, type, version });
    urls[name.replace(/[^A-Za-z0-9]/g, '_')] = `/assets/${name}?v=${version}`;
  }
  const router = new Router();
  router.get('/assets/:name', (ctx) => {
    const file = files.get(ctx.params.name);
    if (!file) return;
    ctx.type = file.type;
    ctx.set('Cache-Control', ctx.query.v === file.version ? 'public, max-age=31536000, immutable' : 'no-cache');
    ctx.body = file.body;
  });
  return { router, urls };
}

/** The deployment's accent colour as CSS, with a text colour on it that keeps WCAG AA contrast. */
export function brandCss(color: string): string {
  const onAccent = contrast(color, '#ffffff') >= 4.5 ? '#ffffff' : '#000000';
  return `:root { --accent: ${color}; --on-accent: ${onAccent}; }\n`;
}

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * The browser half of @simplewebauthn (its UMD bundle, the global SimpleWebAuthnBrowser), served
 * from node_modules as our own static asset: the pages' CSP allows scripts of this origin only.
 */
export function webauthnBrowserScript(): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve('@simplewebauthn/browser'));
  // the package's own root (its script/ and esm/ folders hold package.json files of their own)
  while (!isPackageRoot(dir, '@simplewebauthn/browser')) dir = dirname(dir);
  return readFileSync(join(dir, 'dist', 'bundle', 'index.umd.min.js'), 'utf8').replace(/\n\/\/# sourceMappingURL=.*$/m, '\n');
}

function isPackageRoot(dir: string, name: string): boolean {
  const file = join(dir, 'package.json');
  if (dirname(dir) === dir) throw new Error(`${name} is not installed`);
  return existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === name;
}
