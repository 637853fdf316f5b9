import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Browser } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { DB_KINDS } from '../support/databases.js';
import { eventually } from '../support/eventually.js';
import { discover, exchangeCode, REDIRECT_URI, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { withServer, type TestServer, cliEnv } from '../support/test-server.js';

/** An app's back-channel logout endpoint: records each logout token; answers with the next status in `statuses` (then 200). */
class LogoutReceiver {
  readonly tokens: string[] = [];
  readonly statuses: number[] = [];
  #server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk));
    req.on('end', () => {
      const status = this.statuses.shift() ?? 200;
      if (status === 200) this.tokens.push(new URLSearchParams(body).get('logout_token') ?? '');
      res.writeHead(status).end();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/backchannel`;
  }

  async waitForToken(timeoutMs = 10_000): Promise<string> {
    await eventually('a logout token', () => this.tokens.length > 0, timeoutMs);
    return this.tokens.shift()!;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

async function signedIn(server: TestServer, backchannelUri: string, email: string) {
  const { client: app, clientSecret } = await server.sesame.clients.add({ name: 'Listening App', redirectUris: [REDIRECT_URI], firstParty: true, backchannelLogoutUri: backchannelUri });
  const { client: quiet } = await server.sesame.clients.add({ name: 'Quiet App', redirectUris: [REDIRECT_URI], firstParty: true, isPublic: true });
  const browser = new Browser(server.issuer);
  const config = await discover(server.issuer, { clientId: app.clientId, clientSecret });
  const start = await startAuthorization(config, { prompt: '' });
  const tokens = await exchangeCode(config, start, await signInWithLink(browser, server.smtp, start, email));
  // the same session signs in to an app without a back-channel URI: it is owed nothing
  const quietConfig = await discover(server.issuer, { clientId: quiet.clientId });
  const quietStart = await startAuthorization(quietConfig, { prompt: '' });
  const silent = await browser.get(quietStart.url.toString());
  expect(silent.location, silent.body).to.match(/^http:\/\/127\.0\.0\.1:9\/callback/);
  return { app, idToken: tokens.claims()! };
}

for (const kind of DB_KINDS) {
  describe(`back-channel logout when an operator disables or deletes an account (${kind})`, function () {
    this.timeout(60_000);
    let receiver: LogoutReceiver;
    let env: Record<string, string>;
    let backchannelUri: string;

    const server = withServer(kind);
    before(async () => {
      receiver = new LogoutReceiver();
      backchannelUri = await receiver.start();
      env = cliEnv(server);
    });
    after(async () => {
      await receiver?.close();
    });

    it('sends the app a logout token it can validate when the account is disabled from the CLI', async () => {
      const { app, idToken } = await signedIn(server, backchannelUri, 'listener@example.com');
      const disabled = await runCli(['accounts', 'disable', 'listener@example.com'], env);
      expect(disabled.code, disabled.stderr).to.equal(0);

      const logoutToken = await receiver.waitForToken();
      const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
      const { payload, protectedHeader } = await jwtVerify(logoutToken, jwks, { issuer: server.issuer, audience: app.clientId, typ: 'logout+jwt' });
      expect(protectedHeader.alg).to.equal('RS256');
      expect(payload.sub).to.equal(idToken.sub);
      expect(payload.sid).to.be.a('string').and.equal(idToken.sid);
      expect(payload.events).to.deep.equal({ 'http://schemas.openid.net/event/backchannel-logout': {} });
      expect(payload).not.to.have.property('nonce');

      await eventually(async () => {
        const owed = await server.sesame.db('backchannel_logouts').where({ account_id: idToken.sub }).orderBy('id');
        expect(owed.map((row: { status: string }) => row.status).sort()).to.deep.equal(['sent', 'skipped']);
        expect(await server.sesame.db('audit_events').where({ type: 'logout.backchannel_sent', account_id: idToken.sub })).to.have.length(1);
      });
    });

    it('retries when the app does not answer 200, and delivers once it does, also when the account is deleted', async () => {
      const { idToken } = await signedIn(server, backchannelUri, 'retry@example.com');
      receiver.statuses.push(503);
      await server.sesame.accounts.remove('retry@example.com');
      const logoutToken = await receiver.waitForToken();
      expect(JSON.parse(Buffer.from(logoutToken.split('.')[1], 'base64url').toString()).sub).to.equal(idToken.sub);
      // the row is marked sent once the app's answer is back, a moment after the token arrived
      await eventually(async () => {
        const row = await server.sesame.db('backchannel_logouts').where({ account_id: idToken.sub, status: 'sent' }).first();
        expect(row?.attempts).to.equal(2);
        expect(row.last_error).to.equal(null);
      });
    });
  });
}

describe('back-channel logout in production: no calls into the private network', function () {
  this.timeout(60_000);
  let receiver: LogoutReceiver;

  const server = withServer('sqlite', { OUTBOUND_ALLOW_PRIVATE: 'false' });
  before(async () => {
    receiver = new LogoutReceiver();
  });
  after(async () => {
    await receiver?.close();
  });

  it('refuses to post a logout token to a loopback address (SSRF)', async () => {
    const { idToken } = await signedIn(server, await receiver.start(), 'guarded@example.com');
    await server.sesame.accounts.disable('guarded@example.com');
    const row = await eventually('a failed delivery recorded', (): Promise<{ status: string; last_error: string | null } | undefined> =>
      server.sesame.db('backchannel_logouts').where({ account_id: idToken.sub }).whereNotNull('last_error').first());
    expect(row.last_error).to.equal('fetch failed');
    expect(receiver.tokens).to.have.length(0);
  });
});
