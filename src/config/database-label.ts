import type { DatabaseConfig } from './config.js';

/**
 * The database in words an operator can compare with the server's: the SQLite file, or
 * PostgreSQL's host:port/database (never the password, nor anything else of the URL).
 */
export function databaseLabel(database: DatabaseConfig): string {
  if (database.client === 'sqlite') return `SQLite ${database.filename}`;
  let url: URL;
  try {
    url = new URL(database.url ?? '');
  } catch {
    return 'PostgreSQL (DATABASE_URL is not a URL)';
  }
  // libpq's defaults: a socket directory given as ?host=, port 5432, the database named after the user
  const host = url.hostname || url.searchParams.get('host') || 'localhost';
  const name = decodeURIComponent(url.pathname.slice(1)) || decodeURIComponent(url.username) || 'postgres';
  return `PostgreSQL ${host}:${url.port || '5432'}/${name}`;
}

/** Which setting named the database, as an operator would look it up. */
export function databaseSetting(database: DatabaseConfig): string {
  return database.setting === 'DATA_DIR' ? 'DATA_DIR, DATABASE_URL not set' : 'DATABASE_URL';
}
