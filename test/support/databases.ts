import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ensureSigningKeys } from '../../src/oidc/signing-keys.js';
import { SecretBox } from '../../src/shared/crypto.js';
import { closeDatabase, migrate, openDatabase } from '../../src/store/db.js';
import { KnexSigningKeyStore } from '../../src/store/signing-key-store.js';
import { DEFAULT_PG_URL } from './postgres-server.js';
import { TEST_SECRETS } from './test-secrets.js';

/**
 * The PostgreSQL server the suite runs against. Read at each use, not at import: mocha loads the
 * test files before its global setup (global-fixtures.ts) sets TEST_PG_URL.
 */
export function pgAdminUrl(): string {
  return process.env.TEST_PG_URL ?? DEFAULT_PG_URL;
}

export type DbKind = 'sqlite' | 'postgres';
export const DB_KINDS: DbKind[] = ['sqlite', 'postgres'];

export interface TestDatabase {
  kind: DbKind;
  /** DATABASE_URL for Sesame */
  url: string;
  dataDir: string;
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /**
   * As a server leaves a database at its first start: every migration applied and a first signing
   * key, sealed with the test servers' HMAC_SECRETS. A copy of the run's template (see
   * `createTemplates`), so that a server started on it applies no migration and generates no RSA
   * key (about half a second of CPU each, at ~200 server starts a run). Otherwise (the default)
   * the database is empty, for tests of the migrations and of a first start.
   */
  migrated?: boolean;
}

/** The name of the SQLite file in a test database's data directory. */
const SQLITE_FILE = 'sesame.sqlite';

/**
 * Where global-fixtures.ts publishes the run's templates: environment variables, so that mocha's
 * parallel workers (child processes started after the global setup) find them too.
 */
const TEMPLATE_ENV = { sqlite: 'TEST_SQLITE_TEMPLATE', postgres: 'TEST_PG_TEMPLATE' } as const;

/** A fresh database: a SQLite file in a temp folder, or a new PostgreSQL database; empty unless `migrated`. */
export async function createTestDatabase(kind: DbKind, { migrated = false }: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sesame-test-'));
  const template = migrated ? process.env[TEMPLATE_ENV[kind]] : undefined;
  const database = kind === 'sqlite' ? sqliteDatabase(dataDir, template) : await postgresDatabase(dataDir, template);
  // no template in this process (run without global-fixtures.ts): migrate this one instead
  if (migrated && !template) await firstStart(database);
  return database;
}

function sqliteDatabase(dataDir: string, template: string | undefined): TestDatabase {
  const filename = join(dataDir, SQLITE_FILE);
  // a closed SQLite database is its one file (the WAL is checkpointed into it when the last connection closes)
  if (template) copyFileSync(template, filename);
  return { kind: 'sqlite', url: `sqlite://${filename}`, dataDir, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
}

async function postgresDatabase(dataDir: string, template: string | undefined): Promise<TestDatabase> {
  const name = `sesame_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(template ? `CREATE DATABASE ${name} TEMPLATE ${template}` : `CREATE DATABASE ${name}`);
  return {
    kind: 'postgres',
    url: databaseUrl(name),
    dataDir,
    drop: async () => {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** What a test server's first start does to an empty database: migrate it, and add a first signing key. */
async function firstStart(database: TestDatabase): Promise<void> {
  const db = openDatabase(database.kind === 'sqlite'
    ? { client: 'sqlite', filename: join(database.dataDir, SQLITE_FILE) }
    : { client: 'postgres', url: database.url });
  try {
    await migrate(db);
    await ensureSigningKeys(new KnexSigningKeyStore(db, new SecretBox([TEST_SECRETS.HMAC_SECRETS], 'signing key encryption')), []);
  } catch (error) {
    await database.drop();
    throw error;
  } finally {
    await closeDatabase(db);
  }
}

export interface Templates {
  /** the environment variables that name the templates, for this process and its children */
  env: Record<string, string>;
  drop(): Promise<void>;
}

/**
 * Migrates one database per kind and gives it a signing key, once per run, for `createTestDatabase(kind, { migrated: true })`
 * to copy: a file copy for SQLite, `CREATE DATABASE … TEMPLATE` for PostgreSQL. The PostgreSQL
 * template takes no connections once migrated: PostgreSQL copies a database only while nobody is
 * connected to it.
 */
export async function createTemplates(): Promise<Templates> {
  const [sqlite, postgres] = await Promise.all([createTestDatabase('sqlite', { migrated: true }), createPostgresTemplate()]);
  return {
    env: { [TEMPLATE_ENV.sqlite]: join(sqlite.dataDir, SQLITE_FILE), [TEMPLATE_ENV.postgres]: postgres.name },
    drop: async () => {
      await sqlite.drop();
      await postgres.drop();
    },
  };
}

async function createPostgresTemplate(): Promise<{ name: string; drop(): Promise<void> }> {
  const name = `sesame_template_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const database: TestDatabase = {
    kind: 'postgres',
    url: databaseUrl(name),
    dataDir: '',
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
  await firstStart(database);
  await adminQuery(`ALTER DATABASE ${name} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
  return {
    name,
    drop: async () => {
      await adminQuery(`ALTER DATABASE ${name} WITH IS_TEMPLATE false`);
      await adminQuery(`DROP DATABASE IF EXISTS ${name}`);
    },
  };
}

function databaseUrl(name: string): string {
  const url = new URL(pgAdminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: pgAdminUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
