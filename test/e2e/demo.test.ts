import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, findForm } from '../support/browser.js';
import { ServerProcess } from '../support/cli.js';
import { loginDetails } from '../support/smtp-sink.js';
import { startTestServer, withServer } from '../support/test-server.js';

/** The JSON shown in one of the demo page's <pre> blocks. */
function shownJson(html: string, id: string): Record<string, unknown> {
  const match = new RegExp(`<pre class="claims" id="${id}">([\\s\\S]*?)</pre>`).exec(html);
  if (!match) throw new Error(`no #${id} in:\n${html}`);
  return JSON.parse(match[1].replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&#x3D;/g, '=').replace(/&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>')) as Record<string, unknown>;
}

/**
 * The built-in demo relying app: in development, /demo signs in against the provider over HTTP
 * (code + PKCE, through the emailed link) and shows the ID token claims and userinfo; in
 * production it does not exist.
 */
describe('the /demo relying app (sqlite)', function () {
  describe('in development', () => {
    const server = withServer('sqlite', {}, { mode: 'development' });

    it('registers its own public first-party client once, and signs in through the magic link to show the ID token claims and userinfo', async () => {
      expect(server.sesame.demoUrl).to.equal(`${server.issuer}/demo`);
      const demoClients = (await server.sesame.clients.list()).filter((c) => c.redirectUris.includes(`${server.issuer}/demo/callback`));
      expect(demoClients).to.have.length(1);
      expect(demoClients[0]).to.include({ authMethod: 'none', firstParty: true, enabled: true });

      const browser = new Browser(server.issuer);
      const home = await browser.get('/demo');
      expect(home.status).to.equal(200);
      expect(home.body).to.include(demoClients[0].clientId).and.include('href="/demo/login"');
      // the page keeps the strict policy: no inline script, nothing from elsewhere
      expect(home.headers.get('content-security-policy')).to.include("default-src 'none'").and.include("script-src 'self'");

      // /demo/login sends the browser to /auth with PKCE, like any app
      const toAuth = await browser.send('/demo/login');
      expect(toAuth.status).to.equal(302);
      const auth = new URL(toAuth.headers.get('location')!);
      expect(auth.origin + auth.pathname).to.equal(`${server.issuer}/auth`);
      expect(auth.searchParams.get('client_id')).to.equal(demoClients[0].clientId);
      expect(auth.searchParams.get('code_challenge_method')).to.equal('S256');
      expect(auth.searchParams.get('redirect_uri')).to.equal(`${server.issuer}/demo/callback`);

      const form = await browser.get(auth.href);
      await browser.submit(form, /\/email$/, { email: 'newcomer@example.com' });
      const { link } = loginDetails(await server.smtp.waitFor('newcomer@example.com'));
      const result = await browser.submit(await browser.get(link), '/login/verify');
      expect(result.url).to.match(new RegExp(`^${server.issuer}/demo/callback\\?code=`));
      expect(result.status, result.body).to.equal(200);
      expect(result.headers.get('cache-control')).to.equal('no-store');

      const claims = shownJson(result.body, 'id-token-claims');
      expect(claims).to.include({ iss: server.issuer, aud: demoClients[0].clientId });
      expect(claims.amr).to.deep.equal(['email']);
      const userinfo = shownJson(result.body, 'userinfo');
      expect(userinfo).to.include({ sub: claims.sub, email: 'newcomer@example.com', email_verified: true });

      // the callback cannot be replayed: the pending sign-in was used up
      const replay = await browser.get(result.url);
      expect(replay.status).to.equal(400);
      expect(replay.body).to.include('Sign-in did not complete');

      // sign-out through the provider comes back to /demo
      const signOut = /<a class="button secondary" href="([^"]+)">Sign out<\/a>/.exec(result.body)![1].replace(/&amp;/g, '&').replace(/&#x3D;/g, '=');
      const confirm = await browser.get(signOut);
      const done = await browser.request(new URL(findForm(confirm.body, /\/session\/end\/confirm$/).action, confirm.url).href, {
        form: { ...findForm(confirm.body, /\/session\/end\/confirm$/).fields, logout: 'yes' },
      });
      expect(done.url).to.equal(`${server.issuer}/demo`);
      expect(done.body).to.include('href="/demo/login"');
    });

    it('shows the error the provider sent back, and refuses a callback it did not start', async () => {
      const stranger = await new Browser(server.issuer).get('/demo/callback?code=forged&state=forged');
      expect(stranger.status).to.equal(400);
      expect(stranger.body).to.include('not started from /demo in this browser');

      const browser = new Browser(server.issuer);
      const auth = new URL((await browser.send('/demo/login')).headers.get('location')!);
      const state = auth.searchParams.get('state')!;
      const denied = await browser.get(`/demo/callback?error=access_denied&state=${encodeURIComponent(state)}&iss=${encodeURIComponent(server.issuer)}`);
      expect(denied.status).to.equal(400);
      expect(denied.body).to.include('Sign-in did not complete: access_denied');
    });

    it('finds its client again after a restart instead of registering another', async () => {
      const second = await startTestServer('sqlite', { ISSUER: server.issuer }, { database: server.database, mode: 'development' });
      try {
        const demoClients = (await second.sesame.clients.list()).filter((c) => c.redirectUris.includes(`${server.issuer}/demo/callback`));
        expect(demoClients).to.have.length(1);
      } finally {
        await second.close();
      }
    });
  });

  it('is named in the start-up log line of the development server', async function () {
    this.timeout(60_000);
    const dataDir = mkdtempSync(join(tmpdir(), 'sesame-demo-'));
    const process = new ServerProcess({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', ISSUER: 'http://localhost:0' });
    try {
      const { port } = await process.listening();
      const [line] = await process.waitFor(/Sesame listening[^\n]*/);
      expect(line).to.include(`try the demo app: http://localhost:${port}/demo`);
    } finally {
      await process.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  describe('in production', () => {
    const server = withServer('sqlite', {}, { scheme: 'https', mode: 'production' });

    it('is absent (404) and registers no client', async () => {
      expect(server.sesame.demoUrl).to.equal(undefined);
      const address = server.issuer.replace('https:', 'http:');
      for (const path of ['/demo', '/demo/login', '/demo/callback?code=x&state=y']) {
        const res = await fetch(`${address}${path}`, { redirect: 'manual' });
        expect(res.status, path).to.equal(404);
      }
      expect(await server.sesame.clients.list()).to.deep.equal([]);
    });
  });
});
