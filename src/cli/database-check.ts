import type { DatabaseConfig } from '../config/config.js';
import { databaseLabel, databaseSetting } from '../config/database-label.js';
import { inspectDatabase, type DatabaseState } from '../store/database-state.js';
import { DatabaseNotReady } from './database-not-ready.js';

/**
 * The commands that read and change what the server uses: only a database that `sesame migrate`
 * (or a server) has brought up to this version will do. A missing one is never created here: a
 * DATA_DIR or DATABASE_URL that differs from the server's would otherwise give a fresh, empty
 * database whose changes the server never sees.
 */
export async function requireReadyDatabase(database: DatabaseConfig): Promise<void> {
  const found = await inspect(database);
  const where = `${databaseLabel(database)} (${databaseSetting(database)})`;
  const sameAsServer = `check that ${database.setting === 'DATA_DIR' ? 'DATA_DIR and DATABASE_URL are' : 'DATABASE_URL is'} set as the server has ${database.setting === 'DATA_DIR' ? 'them' : 'it'}`;
  switch (found.state) {
    case 'current':
      return;
    case 'missing':
      throw new DatabaseNotReady(`no database at ${where}: ${sameAsServer}; nothing was created (a new database is set up by "sesame migrate" or by starting the server)`);
    case 'unmigrated':
      throw new DatabaseNotReady(`${where} holds no Sesame tables: it was never migrated. ${capitalized(sameAsServer)}, or run "sesame migrate" to set it up`);
    case 'behind':
      throw new DatabaseNotReady(`${where} lacks ${found.pending} migration(s) of this version of Sesame: run "sesame migrate" (starting the new server does it too), then this command`);
    case 'newer':
      throw new DatabaseNotReady(newerMessage(where, found.unknown));
  }
}

/**
 * `sesame migrate`: creates a missing SQLite file (and says so), but a PostgreSQL database has to
 * exist (creating one takes rights the server should not have); says what it will do on stderr.
 */
export async function prepareMigration(database: DatabaseConfig, note: (line: string) => void): Promise<void> {
  const found = await inspect(database);
  const where = `${databaseLabel(database)} (${databaseSetting(database)})`;
  if (found.state === 'newer') throw new DatabaseNotReady(newerMessage(where, found.unknown));
  if (found.state === 'missing' && database.client === 'postgres') {
    throw new DatabaseNotReady(`no database at ${where}: create it first (CREATE DATABASE, or createdb), then run "sesame migrate" again`);
  }
  if (found.state === 'missing') note(`no database at ${where} yet: creating it`);
}

/** A database that cannot be reached or read is named with the reason, in one line. */
async function inspect(database: DatabaseConfig): Promise<DatabaseState> {
  try {
    return await inspectDatabase(database);
  } catch (error) {
    const e = error as { code?: unknown; message?: string };
    const why = typeof e.code === 'string' ? `${e.code}: ${e.message ?? ''}` : String(e.message ?? error);
    throw new DatabaseNotReady(`cannot read ${databaseLabel(database)} (${databaseSetting(database)}): ${why.trim()}`, { cause: error });
  }
}

const newerMessage = (where: string, unknown: readonly string[]) =>
  `${where} was migrated by a newer version of Sesame (migrations unknown to this one: ${unknown.join(', ')}): use that version's sesame command`;

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
