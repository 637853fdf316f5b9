import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Mode } from '../../src/config/config.js';
import { loadConfig } from '../../src/config/load.js';
import { createSesame, type Sesame } from '../../src/main.js';
import type { OutboxOptions } from '../../src/mail/outbox.js';
import type { Logger } from '../../src/shared/logger.js';
import { TestClock } from './clock.js';
import { createTestDatabase, type DbKind, type TestDatabase } from './databases.js';
import { SmtpSink } from './smtp-sink.js';
import { TEST_SECRETS } from './test-secrets.js';

export { TEST_SECRETS };

export interface TestServer {
  issuer: string;
  sesame: Sesame;
  smtp: SmtpSink;
  database: TestDatabase;
  /** the server's clock for its signing keys: `advance` it instead of waiting */
  clock: TestClock;
  close(): Promise<void>;
}

/**
 * The settings of every test server: a given issuer, database and SMTP sink, fixed secrets, quiet
 * logs, and rate limits off (suites sign the same address in many times a minute; the rate-limit
 * suites turn them on through `env`). SQLite waits up to 20 s for its write lock, not production's
 * 5 s: the suite runs four files at once on two cores, and a test that is not about that budget
 * must not fail because the machine was busy (sqlite-locked and outages set their own). A longer
 * wait hides no transaction that reads before it writes: SQLite refuses that one's write at once.
 */
export function testEnv(
  where: { issuer: string; database: TestDatabase; smtpUrl: string },
  env: Record<string, string> = {},
): Record<string, string> {
  return {
    ISSUER: where.issuer,
    DATABASE_URL: where.database.url,
    DATA_DIR: where.database.dataDir,
    SMTP_URL: where.smtpUrl,
    MAIL_FROM: 'Sesame Test <no-reply@sesame.test>',
    ...TEST_SECRETS,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_EMAIL: 'off',
    RATE_LIMIT_IP: 'off',
    RATE_LIMIT_MAIL: 'off',
    RATE_LIMIT_VERIFY_FAILURES_IP: 'off',
    RATE_LIMIT_EMAIL_ALL: 'off',
    RATE_LIMIT_CLIENT_AUTH_FAILURES_IP: 'off',
    RATE_LIMIT_CODE_ATTEMPTS_EMAIL: 'off',
    SQLITE_BUSY_TIMEOUT_MS: '20000',
    ...env,
  };
}

export interface TestServerOptions {
  /** share another server's database (several instances); it is then not dropped on close. Otherwise a fresh, migrated one. */
  database?: TestDatabase;
  /** the issuer's scheme; the server itself always listens on plain http */
  scheme?: 'http' | 'https';
  /** the issuer's host (default 127.0.0.1); `localhost` where an IP address will not do (WebAuthn needs a domain) */
  hostname?: string;
  /** `test` (the default: no demo app, nothing required), or as `sesame serve` / `sesame dev` run (production needs `scheme: 'https'`) */
  mode?: Extract<Mode, 'test' | 'production' | 'development'>;
  logger?: Logger;
  /** the mail worker's timings and limits (the poll and back-off are 200 ms unless given) */
  outbox?: OutboxOptions;
  /** how often the server re-reads the signing keys (KEYS_REFRESH_SECONDS unless given) */
  keyRefreshMs?: number;
}

/**
 * The whole server as `npm start` runs it (real HTTP, real database, real SMTP delivery to a sink),
 * on a free port. The issuer is the literal address the test talks to.
 */
export async function startTestServer(kind: DbKind, env: Record<string, string> = {}, options: TestServerOptions = {}): Promise<TestServer> {
  const smtp = await new SmtpSink().start();
  const database = options.database ?? (await createTestDatabase(kind, { migrated: true }));
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `${options.scheme ?? 'http'}://${options.hostname ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;
  const config = loadConfig({ env: testEnv({ issuer, database, smtpUrl: smtp.url }, env), mode: options.mode ?? 'test' });
  const clock = new TestClock();
  const sesame = await createSesame(config, {
    outbox: { pollIntervalMs: 200, baseBackoffMs: 200, ...options.outbox },
    backchannel: { pollIntervalMs: 200, baseBackoffMs: 200 },
    logger: options.logger,
    now: clock.now,
    keyRefreshMs: options.keyRefreshMs,
    // the waiting page looks often: a browser test waits a moment for an outcome, not seconds
    waitingPagePoll: { firstMs: 100, maxMs: 300 },
  });
  server.on('request', sesame.callback);
  sesame.start();
  return {
    issuer,
    sesame,
    smtp,
    database,
    clock,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sesame.close();
      await smtp.close();
      if (!options.database) await database.drop();
    },
  };
}

/** The environment for running the CLI against a test server's database, as an operator would. */
export function cliEnv(server: TestServer, env: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: server.database.url, DATA_DIR: server.database.dataDir, ...TEST_SECRETS, ...env };
}

/**
 * The usual fixture of a suite: a test server started in a `before` hook of the `describe` it is
 * called in and closed in its `after` hook. What it returns stands for that server once started
 * (read its properties inside hooks and tests, not while the suite is being declared).
 *
 *     for (const kind of DB_KINDS) {
 *       describe(`something (${kind})`, function () {
 *         const server = withServer(kind, { SIGNUP_POLICY: 'invite' });
 *         it('…', async () => { await fetch(server.issuer); });
 *       });
 *     }
 */
export function withServer(kind: DbKind, env: Record<string, string> = {}, options: TestServerOptions = {}): TestServer {
  let started: TestServer | undefined;
  before(async () => {
    started = await startTestServer(kind, env, options);
  });
  after(async () => {
    await started?.close();
    started = undefined;
  });
  const current = (): TestServer => {
    if (!started) throw new Error('withServer: the server runs only between its suite\'s before and after hooks');
    return started;
  };
  return {
    get issuer() {
      return current().issuer;
    },
    get sesame() {
      return current().sesame;
    },
    get smtp() {
      return current().smtp;
    },
    get database() {
      return current().database;
    },
    get clock() {
      return current().clock;
    },
    close: () => current().close(),
  };
}
