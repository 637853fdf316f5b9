/**
 * mocha's global fixtures (loaded by .mocharc.cjs's `require`): once per run, before any test,
 * choose the PostgreSQL server and publish it as TEST_PG_URL, which databases.ts and any child
 * process a test spawns read, migrate one template database per kind for the servers to copy
 * (databases.ts), and find (maybe unpack) the browser; after the last test, drop the templates and
 * stop the server if we started it.
 *
 * In a parallel run (`--parallel`) these run once, in mocha's main process, before it starts its
 * workers: the workers inherit the environment set here.
 */
import { prepareChromium } from './chromium-executable.js';
import { createTemplates, type Templates } from './databases.js';
import { postgresForTests, type PostgresForTests } from './postgres-server.js';

let postgres: PostgresForTests | undefined;
let templates: Templates | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  postgres = await postgresForTests();
  process.env.TEST_PG_URL = postgres.url;
  console.log(postgres.description);
  try {
    // no browser to be had fails the browser tests, each saying why, not the whole run
    [templates] = await Promise.all([createTemplates(), prepareChromium().catch(() => undefined)]);
  } catch (error) {
    // mocha runs no teardown after a failed setup
    await postgres.stop();
    throw error;
  }
  Object.assign(process.env, templates.env);
}

export async function mochaGlobalTeardown(): Promise<void> {
  await templates?.drop();
  await postgres?.stop();
}

/**
 * `TEST_FILE_TIMES=path npm test`: each test file's time (from its first hook to its last) is
 * appended to `path` as `<ms> <file>`, to see which files the run waits for. Root hooks run once
 * per file in a parallel run.
 */
const fileTimes = process.env.TEST_FILE_TIMES;
let fileStarted = 0;
export const mochaHooks = fileTimes
  ? {
      beforeAll(this: Mocha.Context) {
        fileStarted = Date.now();
      },
      async afterAll(this: Mocha.Context) {
        const { appendFileSync } = await import('node:fs');
        const file = this.test?.parent?.suites[0]?.file ?? this.test?.parent?.file ?? 'unknown';
        appendFileSync(fileTimes, `${Date.now() - fileStarted} ${file.replace(/^.*\/dist\//, '')}\n`);
      },
    }
  : {};
