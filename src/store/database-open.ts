import { accessSync, constants, existsSync, mkdirSync, statfsSync, statSync } from 'node:fs';
import { dirname, join, relative, isAbsolute } from 'node:path';
import type { DatabaseConfig } from '../config/config.js';
import { isDatabaseUnavailable } from '../shared/database-errors.js';

/**
 * The database named by the configuration cannot be opened at start: one line that names the
 * setting, where it points (never a password) and why, for the operator to fix. Printed as is;
 * no stack (the cause is kept on the error for a debugger).
 */
export class DatabaseOpenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseOpenError';
  }
}

/** Where the database is opened from: the setting that chose it and, for SQLite, DATA_DIR. */
export interface DatabaseSource {
  /** DATA_DIR resolved; directories are created only inside it (none at all when absent) */
  readonly dataDir?: string;
}

/** The setting an operator changes to move this database. */
export function databaseSetting(config: DatabaseConfig, { dataDir }: DatabaseSource): 'DATABASE_URL' | 'DATA_DIR' {
  if (config.client === 'postgres') return 'DATABASE_URL';
  return dataDir !== undefined && config.filename === join(dataDir, 'sesame.sqlite') ? 'DATA_DIR' : 'DATABASE_URL';
}

/** A PostgreSQL URL as it may be printed: user, host, port and database; never the password. */
export function redactedPostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    parsed.search = '';
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable)';
  }
}

function postgresTarget(url: string): string {
  try {
    const parsed = new URL(url);
    const user = decodeURIComponent(parsed.username) || '(default user)';
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || '(default database)';
    return `${parsed.hostname || 'localhost'}:${parsed.port || '5432'} as user ${user}, database ${database}`;
  } catch {
    return '(an unparsable URL)';
  }
}

/**
 * Makes sure a SQLite file can be created or opened before anything opens it: the directory
 * exists (created only inside DATA_DIR, and DATA_DIR itself only when its parent exists: a mistyped
 * path is reported, not made), can be written (SQLite writes its WAL and journal beside the file),
 * and its disk has room. Throws DatabaseOpenError naming the path, the setting and the cause.
 */
export function prepareSqliteFile(config: DatabaseConfig, source: DatabaseSource): void {
  const filename = config.filename!;
  const setting = databaseSetting(config, source);
  const where = setting === 'DATA_DIR' ? `DATA_DIR=${source.dataDir}` : `DATABASE_URL=sqlite://${filename}`;
  const fail = (what: string, error?: unknown): never => {
    throw new DatabaseOpenError(`${setting}: cannot open the SQLite database ${filename} (${where}): ${what}`, { cause: error });
  };
  const dir = dirname(filename);
  if (!existsSync(dir)) {
    const dataDir = source.dataDir;
    if (dataDir === undefined || !inside(dir, dataDir)) {
      fail(`directory ${dir} does not exist (Sesame creates directories only inside DATA_DIR${dataDir ? `, ${dataDir}` : ''}; create it, or correct the path)`);
    }
    if (!existsSync(dirname(dataDir!))) fail(`DATA_DIR ${dataDir} does not exist, nor its parent ${dirname(dataDir!)} (create it, or correct the path)`);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      fail(`directory ${dir} cannot be created: ${fileSystemCause(error)}`, error);
    }
  }
  if (!statSync(dir).isDirectory()) fail(`${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (error) {
    fail(`directory ${dir} is ${readOnly(error)}`, error);
  }
  if (existsSync(filename)) {
    try {
      accessSync(filename, constants.R_OK | constants.W_OK);
    } catch (error) {
      fail(`the file is ${readOnly(error)}`, error);
    }
  }
  if (diskFull(dir)) fail(`the disk holding ${dir} is full (no space left)`);
}

/**
 * What a failure to open (connect, migrate) at start means for the operator, as a
 * DatabaseOpenError; an error that is not about reaching or writing the database (a bug in a
 * migration) is returned as it is.
 */
export function explainOpenFailure(config: DatabaseConfig, source: DatabaseSource, error: unknown): unknown {
  if (error instanceof DatabaseOpenError) return error;
  const code = String((error as { code?: unknown })?.code ?? '');
  if (config.client === 'postgres') {
    const why = postgresCause(code, error);
    if (!why) return error;
    return new DatabaseOpenError(`DATABASE_URL: cannot use PostgreSQL at ${redactedPostgresUrl(config.url!)} (tried ${postgresTarget(config.url!)}): ${why}`, { cause: error });
  }
  const why = sqliteCause(code);
  if (!why) return error;
  // CANTOPEN says nothing of why: look again at the directory and file, which name the cause
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_FULL')) {
    try {
      prepareSqliteFile(config, { dataDir: undefined, ...source });
    } catch (explained) {
      if (explained instanceof DatabaseOpenError) return explained;
    }
  }
  const setting = databaseSetting(config, source);
  const where = setting === 'DATA_DIR' ? `DATA_DIR=${source.dataDir}` : `DATABASE_URL=sqlite://${config.filename}`;
  return new DatabaseOpenError(`${setting}: cannot open the SQLite database ${config.filename} (${where}): ${why} (${code})`, { cause: error });
}

function postgresCause(code: string, error: unknown): string | undefined {
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused (is PostgreSQL running, and on this host and port?)',
    ENOTFOUND: 'host name not found',
    EAI_AGAIN: 'host name could not be resolved (DNS)',
    ETIMEDOUT: 'no answer (a firewall, or the wrong host?)',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ECONNRESET: 'the connection was reset',
    '28P01': 'password authentication failed',
    '28000': 'not allowed to connect (pg_hba.conf, or the role)',
    '3D000': 'the database does not exist (create it, e.g. createdb)',
    '57P03': 'the server is starting up or shutting down',
    '53300': 'too many connections',
    '42501': 'permission denied (the role may not create the tables)',
  };
  if (known[code]) return `${known[code]} (${code})`;
  const e = error as { name?: string; message?: string };
  if (e?.name === 'KnexTimeoutError') return 'no connection within 5 s (no answer, or every connection busy)';
  if (isDatabaseUnavailable(error)) return firstLine(e?.message) ?? 'unavailable';
  return undefined;
}

function sqliteCause(code: string): string | undefined {
  if (code.startsWith('SQLITE_CANTOPEN')) return 'the file cannot be opened or created';
  if (code.startsWith('SQLITE_READONLY')) return 'read-only';
  if (code.startsWith('SQLITE_FULL')) return 'the disk is full';
  if (code.startsWith('SQLITE_IOERR')) return 'an I/O error';
  if (code === 'SQLITE_NOTADB') return 'the file is not a SQLite database';
  if (code.startsWith('SQLITE_CORRUPT')) return 'the file is damaged';
  if (code.startsWith('SQLITE_PERM') || code.startsWith('SQLITE_AUTH')) return 'permission denied';
  return undefined;
}

/** Whether a failed migration run on SQLite can succeed by trying again (another process at it), or never will. */
export function isPermanentSqliteFailure(error: unknown): boolean {
  const code = String((error as { code?: unknown })?.code ?? '');
  return (code !== '' && sqliteCause(code) !== undefined) || ['EACCES', 'EROFS', 'ENOSPC', 'ENOENT', 'EPERM'].includes(code);
}

function fileSystemCause(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC') return 'the disk is full (ENOSPC)';
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return readOnly(error);
  return firstLine((error as Error)?.message) ?? String(error);
}

function readOnly(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'EROFS') return 'read-only: on a read-only file system (EROFS)';
  if (code === 'EACCES' || code === 'EPERM') {
    const user = typeof process.getuid === 'function' ? ` for uid ${process.getuid()}` : '';
    return `read-only: not writable${user} (${code}: permission denied)`;
  }
  return `not usable (${firstLine((error as Error)?.message) ?? String(error)})`;
}

function diskFull(dir: string): boolean {
  try {
    const { bavail, bsize } = statfsSync(dir);
    // root may use the reserved blocks, everyone else sees the disk full at bavail 0
    return bavail * bsize < 64 * 1024;
  } catch {
    return false;
  }
}

function inside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function firstLine(text: string | undefined): string | undefined {
  return text?.split('\n')[0]?.trim() || undefined;
}
