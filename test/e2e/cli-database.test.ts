import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knex, { type Knex } from 'knex';
import { runCli, ServerProcess, type CliResult } from '../support/cli.js';
import { createTestDatabase, DB_KINDS, pgAdminUrl, type TestDatabase } from '../support/databases.js';
import { TEST_SECRETS } from '../support/test-server.js';

const ISSUER = 'https://id.example.test';

/** The database as the CLI would open it, for the test to look at what a command did or did not do. */
function open(database: TestDatabase): Knex {
  return database.kind === 'sqlite'
    ? knex({ client: 'sqlite3', connection: { filename: database.url.replace(/^sqlite:\/\//, '') }, useNullAsDefault: true })
    : knex({ client: 'pg', connection: database.url });
}

async function withDb<T>(database: TestDatabase, use: (db: Knex) => Promise<T>): Promise<T> {
  const db = open(database);
  try {
    return await use(db);
  } finally {
    await db.destroy();
  }
}

/** The one line every command starts with, on stderr: stdout stays the command's own output. */
function expectAnnounced(result: CliResult, database: string): void {
  const [first] = result.stderr.split('\n');
  expect(first, result.stderr).to.equal(`sesame: database ${database}, issuer ${ISSUER}`);
}

for (const kind of DB_KINDS) {
  describe(`the CLI and its database (${kind})`, function () {
    this.timeout(60_000);
    let database: TestDatabase;
    let env: Record<string, string>;
    let label: string;

    beforeEach(async () => {
      database = await createTestDatabase(kind);
      env = { DATABASE_URL: database.url, DATA_DIR: database.dataDir, ISSUER, ...TEST_SECRETS };
      const url = new URL(database.url);
      label = kind === 'sqlite' ? `SQLite ${join(database.dataDir, 'sesame.sqlite')} (DATABASE_URL)` : `PostgreSQL ${url.hostname}:${url.port || 5432}${url.pathname} (DATABASE_URL)`;
    });
    afterEach(() => database.drop());

    it('a command on a database that was never migrated says so and changes nothing; after migrate it works, its stdout its own', async () => {
      // SQLite: a file that is not a Sesame database (PostgreSQL: the new database is empty)
      if (kind === 'sqlite') writeFileSync(join(database.dataDir, 'sesame.sqlite'), '');
      const refused = await runCli(['clients', 'list', '--json'], env);
      expect(refused.code, refused.stderr).to.equal(2);
      expectAnnounced(refused, label);
      expect(refused.stderr).to.include(`error: ${label} holds no Sesame tables: it was never migrated`).and.include('sesame migrate');
      expect(refused.stdout).to.equal('');
      expect(refused.stderr).not.to.match(/\n\s+at /);
      expect(await withDb(database, (db) => db.schema.hasTable('knex_migrations')), 'not migrated by the refused command').to.equal(false);

      const migrated = await runCli(['migrate'], env);
      expect(migrated.code, migrated.stderr).to.equal(0);
      expectAnnounced(migrated, label);
      expect(migrated.stdout).to.equal('migrations applied\n');

      // the binary itself: its stdout is only the command's output, the database line is on its stderr
      const listed = await runCli(['clients', 'list', '--json'], env, { process: true });
      expect(listed.code, listed.stderr).to.equal(0);
      expectAnnounced(listed, label);
      expect(listed.stderr.trimEnd().split('\n'), 'one line').to.have.length(1);
      expect(JSON.parse(listed.stdout)).to.deep.equal([]);
    });

    it('a database that lacks a migration of this version, or has one of a newer version, is named with what to do', async () => {
      expect((await runCli(['migrate'], env)).code).to.equal(0);
      const last = await withDb(database, async (db) => {
        const row = await db('knex_migrations').orderBy('id', 'desc').first();
        await db('knex_migrations').where({ id: row.id }).delete();
        return row.name as string;
      });
      const behind = await runCli(['accounts', 'list'], env);
      expect(behind.code, behind.stderr).to.equal(2);
      expect(behind.stderr).to.include(`error: ${label} lacks 1 migration(s) of this version of Sesame: run "sesame migrate"`);
      expect(await withDb(database, (db) => db('knex_migrations').where({ name: last }).first()), 'the command migrated nothing').to.equal(undefined);

      await withDb(database, (db) => db('knex_migrations').insert([
        { name: last, batch: 1, migration_time: new Date() },
        { name: '29991231000000_from_the_future.js', batch: 2, migration_time: new Date() },
      ]));
      for (const args of [['keys', 'list'], ['migrate']]) {
        const newer = await runCli(args, env);
        expect(newer.code, newer.stderr).to.equal(2);
        expect(newer.stderr).to.include(`error: ${label} was migrated by a newer version of Sesame (migrations unknown to this one: 29991231000000_from_the_future)`);
        expect(newer.stderr).not.to.match(/\n\s+at /);
      }
    });
  });
}

describe('the CLI never creates a database by itself', function () {
  this.timeout(60_000);
  const root = mkdtempSync(join(tmpdir(), 'sesame-cli-db-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('SQLite: a DATA_DIR without a database is named with its setting; nothing is created; migrate creates it and says so', async () => {
    const dataDir = join(root, 'elsewhere');
    const env = { DATA_DIR: dataDir, ISSUER, ...TEST_SECRETS };
    const file = join(dataDir, 'sesame.sqlite');
    for (const args of [['clients', 'list'], ['accounts', 'create', 'someone@example.com'], ['audit'], ['keys', 'rotate'], ['admin-tokens', 'list']]) {
      const result = await runCli(args, env);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).to.equal(2);
      expectAnnounced(result, `SQLite ${file} (DATA_DIR, DATABASE_URL not set)`);
      expect(result.stderr).to.include(`error: no database at SQLite ${file} (DATA_DIR, DATABASE_URL not set): check that DATA_DIR and DATABASE_URL are set as the server has them; nothing was created`);
      expect(existsSync(dataDir), `${args.join(' ')} created nothing`).to.equal(false);
    }
    // a path given in DATABASE_URL is named as that setting
    const named = await runCli(['clients', 'list'], { ...env, DATABASE_URL: `sqlite://${join(root, 'other.sqlite')}` });
    expect(named.stderr).to.include(`no database at SQLite ${join(root, 'other.sqlite')} (DATABASE_URL)`);
    expect(readdirSync(root)).to.deep.equal([]);

    const migrated = await runCli(['migrate'], env);
    expect(migrated.code, migrated.stderr).to.equal(0);
    expect(migrated.stderr).to.include(`sesame: no database at SQLite ${file} (DATA_DIR, DATABASE_URL not set) yet: creating it`);
    expect(existsSync(file)).to.equal(true);
    expect((await runCli(['clients', 'list'], env)).code).to.equal(0);
  });

  it('sesame dev on a DATA_DIR without a database says that it creates one, and that it generated new secrets', async () => {
    const dataDir = join(root, 'fresh-dev');
    const server = new ServerProcess({ DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0' });
    try {
      await server.waitFor(/Sesame listening/, 45_000);
      expect(server.output).to.include(`sesame: no database at SQLite ${join(dataDir, 'sesame.sqlite')} (DATA_DIR, DATABASE_URL not set) yet: creating it`);
      expect(server.output).to.include(`new development secrets generated and kept in ${join(dataDir, 'dev-secrets.json')}`);
    } finally {
      await server.stop();
    }
    // the next start finds both: nothing is said about creating
    const again = new ServerProcess({ DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0' });
    try {
      await again.waitFor(/Sesame listening/, 45_000);
      expect(again.output).not.to.include('creating it').and.not.include('new development secrets');
      expect(again.output).to.include(`using development secrets kept in ${join(dataDir, 'dev-secrets.json')}`);
    } finally {
      await again.stop();
    }
  });

  it('PostgreSQL: a database that does not exist is named by host, port and name, never with the password; migrate does not create it', async () => {
    const url = new URL(pgAdminUrl());
    // the server's own password where it has one (the embedded server checks it); one that must
    // not be printed either way where it takes any (trust)
    if (!url.password) {
      url.username = 'postgres';
      url.password = 'not-to-be-printed';
    }
    const password = url.password;
    url.pathname = `/sesame_absent_${Date.now()}`;
    const env = { DATABASE_URL: url.toString(), DATA_DIR: join(root, 'pg'), ISSUER, ...TEST_SECRETS };
    const label = `PostgreSQL ${url.hostname}:${url.port || 5432}${url.pathname} (DATABASE_URL)`;
    // the binary's exit status, not only the in-process runner's
    const listed = await runCli(['clients', 'list'], env, { process: true });
    expect(listed.code, listed.stderr).to.equal(2);
    expectAnnounced(listed, label);
    expect(listed.stderr).to.include(`error: no database at ${label}: check that DATABASE_URL is set as the server has it; nothing was created`);
    const migrate = await runCli(['migrate'], env);
    expect(migrate.code, migrate.stderr).to.equal(2);
    expect(migrate.stderr).to.include(`error: no database at ${label}: create it first`);
    for (const result of [listed, migrate]) {
      expect(result.stderr).not.to.include(password);
      expect(result.stderr).not.to.match(/\n\s+at /);
    }
    expect(existsSync(join(root, 'pg')), 'nothing in DATA_DIR either').to.equal(false);
  });
});
