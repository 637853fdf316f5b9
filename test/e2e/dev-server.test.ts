import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { expect } from 'chai';
import { Browser } from '../support/browser.js';
import { projectRoot } from '../../src/shared/paths.js';
import { CLI, runCli, ServerProcess } from '../support/cli.js';
import { client, discover, exchangeCode, POST_LOGOUT_URI, REDIRECT_URI, startAuthorization } from '../support/relying-party.js';

/**
 * What a newcomer gets from `npm start`: the real `sesame dev` process in development mode, no
 * SMTP, the link printed to the console and kept as an .eml file, a client registered with the CLI.
 */
describe('the development server, as started by npm start', function () {
  this.timeout(60_000);
  let dataDir: string;
  let env: Record<string, string>;
  let server: ServerProcess;
  let issuer: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sesame-dev-'));
    env = { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', ISSUER: 'http://127.0.0.1:0' };
    server = new ServerProcess(env);
    ({ issuer } = await server.listening());
  });

  after(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('says first, in a banner, that it is development mode and not for production', () => {
    expect(server.output.trimStart()).to.match(/^┌─+┐\n\s*│\s+DEVELOPMENT MODE \(sesame dev\): DO NOT USE IN PRODUCTION/);
    expect(server.output.split('DEVELOPMENT MODE')).to.have.length(2);
  });

  it('signs in with a client registered by the CLI and a link read from the console, with no oidc-provider "change it" warnings', async () => {
    const added = await runCli(['clients', 'add', '--name', 'Console App', '--redirect-uri', REDIRECT_URI, '--post-logout-redirect-uri', POST_LOGOUT_URI, '--json'], env);
    expect(added.code, added.stderr).to.equal(0);
    const created = JSON.parse(added.stdout) as { client_id: string; client_secret: string };
    expect(created.client_secret).to.be.a('string');

    const config = await discover(issuer, { clientId: created.client_id, clientSecret: created.client_secret });
    const browser = new Browser(issuer);
    const start = await startAuthorization(config);
    const form = await browser.get(start.url.toString());
    await browser.submit(form, /\/email$/, { email: 'newcomer@example.com' });
    const [, link] = await server.waitFor(/development mail to newcomer@example\.com[\s\S]*?(http:\/\/\S+\/login\/verify\?t=[\w-]+)/);
    const eml = readdirSync(join(dataDir, 'mail')).filter((name) => name.endsWith('.eml'));
    expect(eml).to.have.length(1);
    expect(readFileSync(join(dataDir, 'mail', eml[0]), 'utf8')).to.include('To: newcomer@example.com');

    let page = await browser.submit(await browser.get(link), '/login/verify');
    page = await browser.submit(page, /\/consent$/);
    const tokens = await exchangeCode(config, start, page.location!);

    // touch every endpoint whose default oidc-provider asks to replace
    const cors = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { origin: 'http://127.0.0.1:9', 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${created.client_id}:${created.client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
    });
    expect(cors.status).to.equal(200);
    expect(cors.headers.get('access-control-allow-origin')).to.equal('http://127.0.0.1:9');
    expect((await client.tokenIntrospection(config, tokens.access_token)).active).to.equal(true);
    await client.tokenRevocation(config, tokens.access_token);
    const error = await browser.get(`${issuer}/auth?client_id=nobody&response_type=code`);
    expect(error.status).to.equal(400);
    const logout = await browser.get(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token! }).toString());
    const signedOut = await browser.submit(logout, /\/session\/end\/confirm$/, { logout: 'yes' });
    expect(signedOut.body).to.include('You are signed out');

    expect(server.output).not.to.match(/(MUST|SHOULD) change/);
    // the token is printed once, in the development mail; request logs carry paths without queries
    const token = new URL(link).searchParams.get('t')!;
    expect(server.output.split(token)).to.have.length(2);
  });

  it('is what the README\'s npm start runs: the build, then this server', async () => {
    // `npm start` would rebuild dist/ under the suite that runs from it: check that it is the build
    // and then this command, and run the command
    const { scripts } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(scripts.start.split(' && ')).to.deep.equal([scripts.build, 'node dist/src/cli/main.js dev']);
    expect(relative(projectRoot, CLI)).to.equal(join('dist', 'src', 'cli', 'main.js'));
    const started = new ServerProcess({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' });
    try {
      const { issuer: derived, port, origin } = await started.listening(45_000);
      expect(started.output).to.include('DEVELOPMENT MODE');
      expect(derived, 'no ISSUER: localhost on the port bound').to.equal(`http://localhost:${port}`);
      const health = await fetch(`${origin}/healthz`);
      expect(health.status).to.equal(200);
    } finally {
      await started.stop();
    }
  });

  it('stops cleanly on SIGTERM and keeps its data for the next start', async () => {
    expect(await server.stop('SIGTERM')).to.equal(0);
    expect(existsSync(join(dataDir, 'sesame.sqlite'))).to.equal(true);
    expect(existsSync(join(dataDir, 'dev-secrets.json'))).to.equal(true);
    const listed = await runCli(['clients', 'list'], env);
    expect(listed.stdout).to.include('Console App');
  });
});
