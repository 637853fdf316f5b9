import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import Router from '@koa/router';

const TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml' };

export interface Assets {
  router: Router;
  /** `/assets/<name>?v=<hash>`: a URL that changes when the file does, so it can be cached for a year */
  urls: Record<string, string>;
}

/** Static files under views/assets, read once at start. */
export function assets(dir: string): Assets {
  const files = new Map<string, { body: Buffer; type: string; version: string }>();
  const urls: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
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
