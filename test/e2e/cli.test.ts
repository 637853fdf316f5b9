import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser } from '../support/browser.js';
import { spawn } from 'node:child_process';
import { CLI, cleanEnv, runCli } from '../support/cli.js';
import { DB_KINDS } from '../support/databases.js';
import { discover, exchangeCode, expectOAuthError, REDIRECT_URI, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { createServer } from 'node:net';
import { createTestDatabase } from '../support/databases.js';
import { startTestServer, withServer, cliEnv, TEST_SECRETS } from '../support/test-server.js';

for (const kind of DB_KINDS) {
  describe(`sesame clients, run as a user would (${kind})`, function () {
    this.timeout(60_000);
    let env: Record<string, string>;

    const server = withServer(kind);
    before(async () => {
      env = cliEnv(server);
    });

    it('registers a public first-party client that a running server accepts at once', async () => {
      const added = await runCli(['clients', 'add', '--name', 'CLI App', '--redirect-uri', REDIRECT_URI, '--public', '--first-party'], env);
      expect(added.code, added.stderr).to.equal(0);
      const clientId = /^client_id: (\S+)$/m.exec(added.stdout)?.[1];
      expect(clientId).to.be.a('string');
      expect(added.stdout).not.to.include('client_secret');

      const config = await discover(server.issuer, { clientId: clientId! });
      const start = await startAuthorization(config);
      const callback = await signInWithLink(new Browser(server.issuer), server.smtp, start, 'cli@example.com');
      expect((await exchangeCode(config, start, callback)).access_token).to.be.a('string');
    });

    it('prints a confidential client secret once, lists, shows and removes clients', async () => {
      const added = await runCli(['clients', 'add', '--name', 'Backend', '--redirect-uri', 'https://app.example.com/cb', '--redirect-uri', 'com.example.app:/cb', '--json'], env);
      expect(added.code, added.stderr).to.equal(0);
      const created = JSON.parse(added.stdout) as Record<string, unknown>;
      expect(created).to.include({ client_name: 'Backend', token_endpoint_auth_method: 'client_secret_basic', first_party: false });
      expect(created.redirect_uris).to.deep.equal(['https://app.example.com/cb', 'com.example.app:/cb']);
      const secret = created.client_secret as string;
      expect(secret).to.have.length.of.at.least(43);

      const listed = await runCli(['clients', 'list', '--json'], env);
      expect(listed.stdout).to.include(created.client_id as string).and.not.include(secret);
      const shown = await runCli(['clients', 'show', created.client_id as string], env);
      expect(shown.stdout).to.include('client_name: Backend').and.not.include(secret);

      expect((await runCli(['clients', 'remove', created.client_id as string], env)).code).to.equal(0);
      const gone = await runCli(['clients', 'show', created.client_id as string], env);
      expect(gone.code).to.equal(1);
      expect(gone.stderr).to.include('no client with id');
    });

    it('updates, disables, enables and rotates the secret of a client; a running server follows within seconds', async () => {
      const added = await runCli(['clients', 'add', '--name', 'Managed', '--redirect-uri', REDIRECT_URI, '--first-party', '--json'], env);
      const { client_id: clientId, client_secret: first } = JSON.parse(added.stdout) as { client_id: string; client_secret: string };
      const withSecret = (secret: string) => discover(server.issuer, { clientId, clientSecret: secret });
      const signIn = async (config: Awaited<ReturnType<typeof withSecret>>, email: string) => {
        const start = await startAuthorization(config, { scope: 'openid', prompt: '' });
        return exchangeCode(config, start, await signInWithLink(new Browser(server.issuer), server.smtp, start, email));
      };
      await signIn(await withSecret(first), 'managed1@example.com');

      const rotated = await runCli(['clients', 'rotate-secret', clientId, '--json'], env);
      expect(rotated.code, rotated.stderr).to.equal(0);
      const second = (JSON.parse(rotated.stdout) as { client_secret: string }).client_secret;
      expect(second).not.to.equal(first);
      // an app that was not updated still uses the old secret
      const stale = await withSecret(first);
      await expectOAuthError(signIn(stale, `managed2-${Date.now()}@example.com`), 'invalid_client');
      await signIn(await withSecret(second), 'managed3@example.com');

      const authStatus = async (redirectUri = REDIRECT_URI) => {
        const url = new URL(`${server.issuer}/auth`);
        url.search = new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }).toString();
        return (await fetch(url, { redirect: 'manual' })).status;
      };
      expect((await runCli(['clients', 'disable', clientId], env)).stdout).to.include('disabled');
      expect(await authStatus()).to.equal(400);
      expect((await runCli(['clients', 'enable', clientId], env)).code).to.equal(0);
      expect(await authStatus()).to.equal(303);

      const other = 'http://127.0.0.1:9/other-callback';
      const updated = await runCli(['clients', 'update', clientId, '--name', 'Renamed', '--redirect-uri', other, '--no-first-party', '--json'], env);
      expect(updated.code, updated.stderr).to.equal(0);
      expect(JSON.parse(updated.stdout)).to.include({ client_name: 'Renamed', first_party: false });
      expect(await authStatus()).to.equal(400);
      expect(await authStatus(other)).to.equal(303);
      const invalid = await runCli(['clients', 'update', clientId, '--redirect-uri', 'http://evil.example/cb'], env);
      expect(invalid.code).to.equal(1);
      expect(invalid.stderr).to.include('http is only allowed for loopback hosts');

      const events = (await server.sesame.audit.query({ clientId })).map((e) => e.type);
      expect(events).to.include.members(['admin.client.added', 'admin.client.secret_rotated', 'admin.client.disabled', 'admin.client.enabled', 'admin.client.updated']);

      const publicClient = JSON.parse((await runCli(['clients', 'add', '--name', 'Pub', '--redirect-uri', REDIRECT_URI, '--public', '--json'], env)).stdout) as { client_id: string };
      const noSecret = await runCli(['clients', 'rotate-secret', publicClient.client_id], env);
      expect(noSecret.code, noSecret.stderr).to.equal(1);
      expect(noSecret.stderr).to.include('public client has no secret');
    });

    it('refuses bad input with a clear message and no stack trace', async () => {
      const badUri = await runCli(['clients', 'add', '--name', 'Bad', '--redirect-uri', 'https://app.example.com/cb#frag'], env);
      expect(badUri.code).to.equal(1);
      expect(badUri.stderr).to.include('must not contain a fragment');
      const noName = await runCli(['clients', 'add', '--redirect-uri', REDIRECT_URI], env);
      expect(noName.code).to.equal(2);
      expect(noName.stderr).to.include('needs --name').and.include('Usage:').and.include('clients add --name NAME');
      const unknownFlag = await runCli(['clients', 'add', '--nmae', 'x'], env);
      expect(unknownFlag.code).to.equal(2);
      const badConfig = await runCli(['clients', 'list'], { ...env, LOGIN_TTL_SECONDS: 'soon' });
      expect(badConfig.code).to.equal(2);
      expect(badConfig.stderr).to.include('LOGIN_TTL_SECONDS');
      for (const result of [badUri, noName, unknownFlag, badConfig]) expect(result.stderr).not.to.match(/\n\s+at /);
    });
  });
}

describe('sesame serve with invalid configuration', () => {
  it('stops before listening, naming each bad setting', async () => {
    const result = await runCli(['serve'], { PORT: '99999', DATABASE_URL: 'mysql://x' });
    expect(result.code).to.equal(2);
    for (const setting of ['PORT', 'DATABASE_URL', 'ISSUER']) expect(result.stderr).to.include(setting);
    expect(result.stderr).not.to.match(/\n\s+at /);
  });
});

describe('the CLI commands other than serve and dev', function () {
  this.timeout(30_000);

  it('without the secrets or development secrets to use, stop with one line naming them, and generate none', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sesame-cli-'));
    try {
      for (const args of [['clients', 'list'], ['migrate']]) {
        const result = await runCli(args, { DATA_DIR: dataDir });
        expect(result.code).to.equal(2);
        expect(result.stderr.trimEnd().split('\n'), result.stderr).to.have.length(1);
        expect(result.stderr).to.match(/^Invalid configuration: COOKIE_KEYS, HMAC_SECRETS: not set/).and.include('sesame dev');
        expect(readdirSync(dataDir), 'no secrets generated').to.deep.equal([]);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the CLI guides', function () {
  this.timeout(30_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'sesame-cli-guide-'));
  const env = { DATA_DIR: dataDir, ...TEST_SECRETS };
  before(async () => expect((await runCli(['migrate'], env)).code).to.equal(0));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('prints the usage of the command for --help and for a usage error, suggests the closest command, and tells its version', async () => {
    const help = await runCli(['clients', 'add', '--help'], env);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include('clients add --name NAME').and.not.include('accounts list').and.not.include('clients list');
    const sub = await runCli(['keys', '--help'], env);
    expect(sub.stdout).to.include('keys list').and.include('keys rotate').and.not.include('clients');

    const typo = await runCli(['clints', 'list'], env, { process: true });
    expect(typo.code).to.equal(2);
    expect(typo.stderr).to.include('unknown command "clints". Did you mean "clients"?').and.include('Usage: sesame <command>');
    expect(typo.stdout).to.equal('');
    const subTypo = await runCli(['accounts', 'delet', 'x@example.com'], env);
    expect(subTypo.code).to.equal(2);
    expect(subTypo.stderr).to.include('Did you mean "delete"?').and.include('accounts list').and.not.include('clients add');
    const badOption = await runCli(['keys', 'rotate', '--activate-after', 'soon'], env);
    expect(badOption.code).to.equal(2);
    expect(badOption.stderr).to.include('--activate-after').and.include('keys rotate').and.not.include('clients add');

    const version = await runCli(['--version'], env, { process: true });
    expect(version.code).to.equal(0);
    expect(version.stdout.trim()).to.match(/^sesame \d+\.\d+\.\d+$/);
    const usage = await runCli(['--help'], env, { process: true });
    expect(usage.code).to.equal(0);
    expect(usage.stdout).to.include('Usage: sesame <command>').and.include('clients add').and.include('audit');
  });

  it('asks before deleting an account: without a terminal and without --yes it deletes nothing', async () => {
    expect((await runCli(['accounts', 'create', 'keep-me@example.com'], env)).code).to.equal(0);
    const refused = await runCli(['accounts', 'delete', 'keep-me@example.com'], env);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.include('--yes');
    expect((await runCli(['accounts', 'show', 'keep-me@example.com'], env)).code).to.equal(0);
    expect((await runCli(['accounts', 'delete', 'keep-me@example.com', '--yes'], env)).code).to.equal(0);
    expect((await runCli(['accounts', 'show', 'keep-me@example.com'], env)).code).to.equal(1);
  });

  it('refuses an unknown audit event type with the closest one; says when a key already waits to sign', async () => {
    const audit = await runCli(['audit', '--type', 'login.complete'], env);
    expect(audit.code).to.equal(2);
    expect(audit.stderr).to.include('Did you mean "login.completed"?');
    expect((await runCli(['keys', 'rotate', '--activate-after', '3600'], env)).code).to.equal(0);
    const second = await runCli(['keys', 'rotate', '--activate-after', '3600'], env);
    expect(second.code).to.equal(0);
    expect(second.stderr).to.match(/note: key \S+ is already published and waiting to sign from/);
  });

  it('the binary stops quietly, with 0, when the reader of its output goes away (sesame audit | head)', async () => {
    const child = spawn(process.execPath, [CLI, 'audit'], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    // gone long before the command, which first loads its modules and opens the database, writes a line
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).to.equal(0);
    expect(stderr).to.match(/^sesame: database /).and.not.include('EPIPE');
  });

  it('run in the test process, a command gives the exit code of its failure and leaves the process as it was', async () => {
    const envBefore = { ...process.env };
    const exitCodeBefore = process.exitCode;
    const typo = await runCli(['clints', 'list'], env);
    expect(typo.code).to.equal(2);
    expect(typo.stderr).to.include('unknown command "clints"');
    const badConfig = await runCli(['keys', 'list'], { ...env, LOG_LEVEL: 'loud' });
    expect(badConfig.code).to.equal(2);
    expect(badConfig.stderr).to.include('LOG_LEVEL');
    const missing = await runCli(['accounts', 'show', 'nobody@example.com'], env);
    expect(missing.code, missing.stderr).to.equal(1);
    // nothing of the failed runs is kept: the same command with a good configuration works
    const listed = await runCli(['keys', 'list'], env);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(process.exitCode).to.equal(exitCodeBefore);
    expect(process.env).to.deep.equal(envBefore);
  });
});

describe('a server that cannot start', function () {
  this.timeout(30_000);

  it('exits with one clear line, and does not hang, when its port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const database = await createTestDatabase('sqlite');
    try {
      const port = (taken.address() as { port: number }).port;
      const result = await runCli(['dev'], { DATABASE_URL: database.url, DATA_DIR: database.dataDir, ...TEST_SECRETS, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'silent' });
      expect(result.code).to.equal(2);
      expect(result.stderr).to.include(`PORT: already in use (cannot listen on 127.0.0.1:${port})`);
      expect(result.stderr).not.to.match(/\n\s+at /);
    } finally {
      taken.close();
      await database.drop();
    }
  });

  it('exits naming the key when none of HMAC_SECRETS opens the stored signing key', async () => {
    const database = await createTestDatabase('sqlite', { migrated: true });
    try {
      await (await startTestServer('sqlite', {}, { database })).close();
      const env = { DATABASE_URL: database.url, DATA_DIR: database.dataDir, ...TEST_SECRETS, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent' };
      const result = await runCli(['dev'], { ...env, HMAC_SECRETS: 'not-the-secret-the-key-was-sealed-with-0123456789' });
      expect(result.code).to.equal(2);
      expect(result.stderr).to.match(/^error: signing key [\w-]+ was encrypted with a secret that is not in HMAC_SECRETS/m);
      expect(result.stderr).not.to.match(/\n\s+at /);
      // with the secret it was sealed with listed after a new one, the key opens again
      const listed = await runCli(['keys', 'list'], { ...env, HMAC_SECRETS: `not-the-secret-the-key-was-sealed-with-0123456789,${TEST_SECRETS.HMAC_SECRETS}` });
      expect(listed.code, listed.stderr).to.equal(0);
    } finally {
      await database.drop();
    }
  });
});
