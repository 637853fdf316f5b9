/**
 * mocha's global fixtures (loaded by .mocharc.json's `require`): once per run, before any test,
 * choose the PostgreSQL server and publish it as TEST_PG_URL, which databases.ts and any child
 * process a test spawns read; after the last test, stop it if we started it.
 */
import { postgresForTests, type PostgresForTests } from './postgres-server.js';

let postgres: PostgresForTests | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  postgres = await postgresForTests();
  process.env.TEST_PG_URL = postgres.url;
  console.log(postgres.description);
}

export async function mochaGlobalTeardown(): Promise<void> {
  await postgres?.stop();
}
