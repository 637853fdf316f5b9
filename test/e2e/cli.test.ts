import { expect } from 'chai';
import { Browser } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { DB_KINDS } from '../support/databases.js';
import { discover, exchangeCode, REDIRECT_URI, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { startTestServer, TEST_SECRETS, type TestServer } from '../support/test-server.js';

for (const kind of DB_KINDS) {
  describe(`sesame clients, run as a user would (${kind})`, function () {
    this.timeout(60_000);
    let server: TestServer;
    let env: Record<string, string>;

    before(async () => {
      server = await startTestServer(kind);
      env = { DATABASE_URL: server.database.url, DATA_DIR: server.database.dataDir, ...TEST_SECRETS };
    });
    after(() => server?.close());

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

    it('refuses bad input with a clear message and no stack trace', async () => {
      const badUri = await runCli(['clients', 'add', '--name', 'Bad', '--redirect-uri', 'https://app.example.com/cb#frag'], env);
      expect(badUri.code).to.equal(1);
      expect(badUri.stderr).to.include('must not contain a fragment');
      const noName = await runCli(['clients', 'add', '--redirect-uri', REDIRECT_URI], env);
      expect(noName.code).to.equal(2);
      expect(noName.stderr).to.include('needs --name').and.include('Usage: sesame');
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
    const result = await runCli(['serve'], { NODE_ENV: 'production', PORT: '99999', DATABASE_URL: 'mysql://x' });
    expect(result.code).to.equal(2);
    for (const setting of ['PORT', 'ISSUER']) expect(result.stderr).to.include(setting);
    expect(result.stderr).not.to.match(/\n\s+at /);
  });
});
