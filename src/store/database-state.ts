import { existsSync, readdirSync } from 'node:fs';
import knex from 'knex';
import type { DatabaseConfig } from '../config/config.js';
import { migrationsDir } from '../shared/paths.js';

/** What a command finds where its settings point. */
export type DatabaseState =
  | { readonly state: 'missing' }
  | { readonly state: 'unmigrated' }
  | { readonly state: 'behind'; readonly pending: number }
  | { readonly state: 'newer'; readonly unknown: readonly string[] }
  | { readonly state: 'current' };

/**
 * Looks at the database without creating or changing anything: SQLite creates any file it is
 * asked to open, and knex's own migration listing creates its bookkeeping table, so neither is
 * used before the answer is known. A handle of its own (one connection, none of the server's
 * settings such as WAL), whose failures come back to the caller instead of being logged by knex.
 */
export async function inspectDatabase(database: DatabaseConfig): Promise<DatabaseState> {
  if (database.client === 'sqlite' && !existsSync(database.filename!)) return { state: 'missing' };
  const quiet = () => undefined;
  const db = knex({
    client: database.client === 'sqlite' ? 'sqlite3' : 'pg',
    connection: database.client === 'sqlite' ? { filename: database.filename! } : database.url!,
    useNullAsDefault: true,
    acquireConnectionTimeout: 5000,
    pool: { min: 0, max: 1 },
    log: { warn: quiet, error: quiet, deprecate: quiet, debug: quiet },
  });
  try {
    if (!(await db.schema.hasTable('knex_migrations'))) return { state: 'unmigrated' };
    const applied = (await db('knex_migrations').select('name') as { name: string }[]).map((row) => stem(row.name));
    const known = readdirSync(migrationsDir).filter((file) => file.endsWith('.js')).map(stem);
    const unknown = applied.filter((name) => !known.includes(name));
    if (unknown.length) return { state: 'newer', unknown };
    const pending = known.filter((name) => !applied.includes(name)).length;
    return pending ? { state: 'behind', pending } : { state: 'current' };
  } catch (error) {
    // PostgreSQL: the server answers, but has no database of that name
    if ((error as { code?: unknown }).code === '3D000') return { state: 'missing' };
    throw error;
  } finally {
    await db.destroy();
  }
}

const stem = (name: string) => name.replace(/\.(js|ts)$/, '');
