import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { CLI, cleanEnv, freePort, runCli, ServerProcess, type CliResult } from '../support/cli.js';
import { createTestDatabase, pgAdminUrl } from '../support/databases.js';
import { eventually } from '../support/eventually.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { TEST_SECRETS } from '../support/test-server.js';

/** What `sesame serve` needs besides a database, so that only the database can be wrong. */
const PRODUCTION = {
  ISSUER: 'https://id.example.test',
  SMTP_URL: 'smtp://127.0.0.1:1',
  MAIL_FROM: 'Example ID <no-reply@example.test>',
  ...TEST_SECRETS,
};

/** A server that should refuse to start: it must stop within seconds, not retry for a minute. */
async function refusedStart(env: Record<string, string>, options: { uid?: number } = {}): Promise<CliResult & { ms: number }> {
  const started = Date.now();
  // were it to start after all, on any free port
  const port = '0';
  let result: CliResult;
  if (options.uid === undefined) {
    result = await runCli(['serve'], { PORT: port, ...PRODUCTION, ...env }, { timeoutMs: 20_000 });
  } else {
    // as an unprivileged user: root writes into a directory whatever its mode says
    const child = spawnSync(process.execPath, [CLI, 'serve'], { env: cleanEnv({ PORT: port, ...PRODUCTION, ...env }), uid: options.uid, gid: options.uid, encoding: 'utf8', timeout: 20_000 });
    result = { code: child.status, stdout: child.stdout, stderr: child.stderr };
  }
  return { ...result, ms: Date.now() - started };
}

/** One line on stderr naming what it must name; no stack, no repetition; stdout holds only log lines. */
function expectOneLine(result: CliResult & { ms: number }, ...names: (string | RegExp)[]): string {
  const summary = `exit ${result.code} after ${result.ms} ms\nstderr:\n${result.stderr}\nstdout:\n${result.stdout}`;
  expect(result.code, summary).to.equal(1);
  expect(result.ms, summary).to.be.below(10_000);
  // `serve` announces the database it is about to create ("sesame: no database at … yet"), then fails
  const lines = result.stderr.split('\n').filter((line) => line && !/^sesame: no database at .* yet: creating it$/.test(line));
  expect(lines, summary).to.have.length(1);
  const [line] = lines;
  expect(line, summary).to.match(/^error: /);
  expect(line, summary).not.to.match(/\n\s+at /);
  for (const name of names) expect(line, summary).to.match(typeof name === 'string' ? new RegExp(name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : name);
  for (const out of result.stdout.split('\n').filter(Boolean)) expect(() => JSON.parse(out), `stdout line is JSON: ${out}`).not.to.throw();
  return line;
}

describe('start-up failures explain themselves in one line', function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sesame-failures-'));
    chmodSync(dir, 0o755);
  });
  afterEach(() => {
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a read-only data directory: the path, DATA_DIR and "read-only", within seconds', async () => {
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o555);
    const uid = process.getuid?.() === 0 ? 65534 : undefined;
    const line = expectOneLine(await refusedStart({ DATA_DIR: dataDir }, { uid }), 'DATA_DIR', join(dataDir, 'sesame.sqlite'), /read-only/);
    expect(line).to.include('permission denied');
  });

  it('a data directory whose parent does not exist: named, and nothing is created', async () => {
    const dataDir = join(dir, 'missing', 'data');
    expectOneLine(await refusedStart({ DATA_DIR: dataDir }), 'DATA_DIR', dataDir, /does not exist/);
    expect(existsSync(join(dir, 'missing')), 'no directory made above DATA_DIR').to.equal(false);
  });

  it('a SQLite path outside DATA_DIR in a directory that does not exist: never created', async () => {
    const file = join(dir, 'elsewhere', 'deeper', 'sesame.sqlite');
    const dataDir = join(dir, 'data');
    expectOneLine(await refusedStart({ DATA_DIR: dataDir, DATABASE_URL: `sqlite://${file}` }), 'DATABASE_URL', file, /does not exist/);
    expect(existsSync(join(dir, 'elsewhere')), 'no directory made outside DATA_DIR').to.equal(false);
  });

  it('a directory inside DATA_DIR is made as it always was', async () => {
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    const result = await runCli(['migrate'], { DATA_DIR: dataDir, DATABASE_URL: `sqlite://${join(dataDir, 'db', 'sesame.sqlite')}`, ...TEST_SECRETS });
    expect(result.code, result.stderr).to.equal(0);
    expect(existsSync(join(dataDir, 'db', 'sesame.sqlite'))).to.equal(true);
  });

  it('a full disk: the path, DATA_DIR and "full" (a small tmpfs, where the test may mount one)', async function () {
    const dataDir = join(dir, 'full');
    mkdirSync(dataDir);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', dataDir], { encoding: 'utf8' });
    if (mount.status !== 0) {
      console.log(`      (skipped: cannot mount a tmpfs here: ${(mount.stderr || mount.error?.message || '').trim()})`);
      this.skip();
    }
    try {
      // fill it: what is left cannot hold the schema
      const filler = Buffer.alloc(4096);
      try {
        for (let i = 0; i < 64; i++) writeFileSync(join(dataDir, `fill-${i}`), filler);
      } catch { /* full */ }
      expectOneLine(await refusedStart({ DATA_DIR: dataDir }), 'DATA_DIR', join(dataDir, 'sesame.sqlite'), /full/);
    } finally {
      spawnSync('umount', [dataDir]);
    }
  });

  it('an unreachable PostgreSQL: DATABASE_URL with host and port, never the password, within seconds', async () => {
    const port = await freePort();
    const line = expectOneLine(await refusedStart({ DATABASE_URL: `postgres://sesame:s3cret-pw@127.0.0.1:${port}/sesame` }), 'DATABASE_URL', `127.0.0.1:${port}`, /connection refused/, 'user sesame', 'database sesame');
    expect(line).not.to.include('s3cret-pw');
  });

  it('a PostgreSQL database that does not exist: said so', async () => {
    const url = new URL(pgAdminUrl());
    url.pathname = '/sesame_no_such_database';
    expectOneLine(await refusedStart({ DATABASE_URL: url.toString() }), 'DATABASE_URL', /does not exist/, `${url.hostname}:${url.port || 5432}`);
  });
});

describe('configuration problems: all of them in one pass, before anything opens', function () {
  this.timeout(30_000);

  it('sesame serve lists the short keys, the http ISSUER, the bad MAIL_FROM and the missing SMTP_URL together', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sesame-config-pass-'));
    try {
      const dataDir = join(dir, 'data');
      const result = await runCli(['serve'], { DATA_DIR: dataDir, ISSUER: 'http://id.example.test', COOKIE_KEYS: 'short', HMAC_SECRETS: 'short', MAIL_FROM: 'no-reply' }, { timeoutMs: 20_000 });
      expect(result.code, result.stderr).to.equal(2);
      for (const problem of [/COOKIE_KEYS\.0: each key must be at least 32 characters/, /HMAC_SECRETS\.0: each secret must be at least 32 characters/, /ISSUER: must be https in production/, /MAIL_FROM: must be an address/, /SMTP_URL: required in production/]) {
        expect(result.stderr).to.match(problem);
      }
      expect(result.stderr).not.to.match(/\n\s+at /);
      expect(existsSync(dataDir), 'nothing opened or created').to.equal(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a PostgreSQL outage at run time (sesame serve, through a proxy the test cuts)', function () {
  this.timeout(90_000);

  it('prints only JSON log lines, errors with their stack as a field, and few of them', async () => {
    const database = await createTestDatabase('postgres');
    const admin = new URL(pgAdminUrl());
    const proxy = await new TcpProxy({ host: admin.hostname, port: Number(admin.port || 5432) }).start();
    const url = new URL(database.url);
    url.port = String(proxy.port);
    const server = new ServerProcess({ ...PRODUCTION, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: url.toString(), DATA_DIR: database.dataDir }, { command: 'serve' });
    try {
      const { origin: base } = await server.listening(30_000);
      const traffic = async () => Promise.all([
        fetch(`${base}/readyz`),
        fetch(`${base}/auth?client_id=nobody&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`, { redirect: 'manual' }),
        fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&refresh_token=x&client_id=nobody' }),
      ].map((answer) => answer.then((res) => res.status, () => 0)));

      await proxy.cut();
      const before = server.output.length;
      let requests = 0;
      const statuses = new Set<number>();
      const until = Date.now() + 6_000;
      while (Date.now() < until) {
        for (const status of await traffic()) statuses.add(status);
        requests += 3;
      }
      expect([...statuses]).to.include(503);
      await proxy.restore();
      await eventually(async () => expect((await fetch(`${base}/readyz`)).status).to.equal(200), 20_000);

      // from the first line on (oidc-provider's notices at start too), not only since the cut
      for (const line of server.output.slice(0, before).split('\n').filter(Boolean)) expect(() => JSON.parse(line), `not a JSON log line: ${line}`).not.to.throw();
      const lines = server.output.slice(before).split('\n').filter(Boolean);
      const parsed = lines.map((line) => {
        try {
          return JSON.parse(line) as { level: number; msg: string; err?: { stack?: string } };
        } catch {
          throw new Error(`not a JSON log line: ${line}\n--- all output since the cut:\n${lines.join('\n')}`);
        }
      });
      console.log(`      (${lines.length} log lines for ${requests} requests from the cut until /readyz was green again)`);
      // each request its line, an error its line (not a trace of 10 lines), background work a few
      expect(lines.length, lines.join('\n')).to.be.below(requests + 40);
      const refused = parsed.filter((line) => (line as { status?: number }).status === 503 && line.msg === 'request' && (line as { path?: string }).path !== '/readyz');
      expect(refused.length).to.be.greaterThan(0);
      for (const line of refused) expect((line as { reason?: string }).reason, `the request line says why: ${JSON.stringify(line)}`).to.equal('database_unavailable');
      const errors = parsed.filter((line) => line.err);
      for (const line of errors) expect(line.err!.stack ?? '', 'a stack, inside its line').to.be.a('string');
    } finally {
      await server.stop();
      await proxy.close();
      await database.drop();
    }
  });
});
