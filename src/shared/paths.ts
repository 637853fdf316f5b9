import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
  return dir;
}

/** The checkout's root, whether we run from src/ (tsx) or from dist/src/ (compiled). */
export const projectRoot = findRoot(dirname(fileURLToPath(import.meta.url)));
export const viewsDir = join(projectRoot, 'views');
export const migrationsDir = join(projectRoot, 'dist', 'migrations');
export const assetsDir = join(projectRoot, 'views', 'assets');
export const localesDir = join(projectRoot, 'views', 'locales');
/** the admin API's OpenAPI document, kept in the repository and served as is */
export const adminOpenApiPath = join(projectRoot, 'src', 'admin', 'openapi.json');
