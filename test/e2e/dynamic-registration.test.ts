import { expect } from 'chai';
import { Browser } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { DB_KINDS } from '../support/databases.js';
import { discover, exchangeCode, expectOAuthError, client, REDIRECT_URI, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { startTestServer, TEST_SECRETS, type TestServer } from '../support/test-server.js';

interface Registration {
  client_id: string;
  client_secret?: string;
  registration_access_token: string;
  registration_client_uri: string;
  [key: string]: unknown;
}

for (const kind of DB_KINDS) {
  describe(`Dynamic Client Registration, RFC 7591/7592 (${kind})`, function () {
    this.timeout(60_000);
    let server: TestServer;
    let initialToken: string;
    const app = { client_name: 'Self-registered', redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid email offline_access' };

    const register = (body: unknown, token: string | null = initialToken, path = '/reg') =>
      fetch(`${server.issuer}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });

    before(async () => {
      server = await startTestServer(kind, { REGISTRATION_ENABLED: 'true' });
      const env = { DATABASE_URL: server.database.url, DATA_DIR: server.database.dataDir, ...TEST_SECRETS };
      const created = await runCli(['admin-tokens', 'create', '--name', 'self-service', '--scope', 'register', '--json'], env);
      expect(created.code, created.stderr).to.equal(0);
      initialToken = (JSON.parse(created.stdout) as { token: string }).token;
    });
    after(() => server?.close());

    it('refuses registration without an initial access token, with another scope, or revoked', async () => {
      const noToken = await register(app, null);
      expect(noToken.status).to.equal(401);
      expect(noToken.headers.get('www-authenticate')).to.include('Bearer');
      expect(await noToken.json()).to.include({ error: 'invalid_token' });

      expect((await register(app, 'not-a-token')).status).to.equal(401);
      // oidc-provider's router also answers these spellings of /reg
      for (const path of ['/REG', '/reg/', '/Reg/']) expect((await register(app, null, path)).status, path).to.equal(401);
      const write = await server.sesame.adminTokens.create({ name: 'writer', scopes: ['write'] });
      expect((await register(app, write.token)).status).to.equal(401);

      const revoked = await server.sesame.adminTokens.create({ name: 'short-lived', scopes: ['register'] });
      await server.sesame.adminTokens.revoke(revoked.info.id);
      expect((await register(app, revoked.token)).status).to.equal(401);
      expect(await server.sesame.clients.list()).to.have.length(0);
    });

    it('registers an app that then signs a person in, its secret stored only as a hash', async () => {
      const response = await register(app);
      expect(response.status).to.equal(201);
      const registration = (await response.json()) as Registration;
      expect(registration.client_secret).to.be.a('string');
      expect(registration).to.include({ token_endpoint_auth_method: 'client_secret_basic' });
      expect(registration).not.to.have.property('first_party');

      const stored = await server.sesame.db('clients').where({ client_id: registration.client_id }).first();
      expect(stored.secret_hash).to.be.a('string').and.not.equal(registration.client_secret);
      expect(JSON.stringify(stored)).not.to.include(registration.client_secret!);

      // never first-party: the person is asked for consent
      const config = await discover(server.issuer, { clientId: registration.client_id, clientSecret: registration.client_secret });
      const start = await startAuthorization(config);
      const callback = await signInWithLink(new Browser(server.issuer), server.smtp, start, 'dynamic@example.com', { consent: true });
      const tokens = await exchangeCode(config, start, callback);
      expect(tokens.refresh_token).to.be.a('string');

      const events = await server.sesame.db('audit_events').where({ type: 'client.registered', client_id: registration.client_id });
      expect(events).to.have.length(1);
    });

    const refused: [string, Record<string, unknown>, string][] = [
      ['an http redirect URI on a public host', { ...app, redirect_uris: ['http://app.example.com/cb'] }, 'http is only allowed for loopback hosts'],
      ['a wildcard redirect URI', { ...app, redirect_uris: ['https://*.example.com/cb'] }, 'wildcards'],
      ['making itself first-party', { ...app, first_party: true }, 'first_party is set by operators only'],
      ['choosing its token lifetimes', { ...app, sesame_token_lifetimes: { accessToken: 86400 } }, 'set by operators only'],
      ['client credentials without a secret', { client_name: 'M', grant_types: ['client_credentials'], token_endpoint_auth_method: 'none', response_types: [], redirect_uris: [] }, 'client_credentials is only for confidential clients'],
      ['no name', { redirect_uris: [REDIRECT_URI] }, 'client_name: required'],
    ];
    for (const [what, body, reason] of refused) {
      it(`refuses ${what} with the operators' rules`, async () => {
        const response = await register(body);
        expect(response.status).to.equal(400);
        const error = (await response.json()) as { error: string; error_description: string };
        expect(error.error).to.match(/^invalid_(client_metadata|redirect_uri)$/);
        expect(error.error_description).to.include(reason);
      });
    }

    it('lets the app read, update and delete its registration with its registration access token (RFC 7592)', async () => {
      const registration = (await (await register(app)).json()) as Registration;
      const manage = (method: string, body?: unknown) =>
        fetch(registration.registration_client_uri, {
          method,
          headers: { authorization: `Bearer ${registration.registration_access_token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });

      const read = await manage('GET');
      expect(read.status).to.equal(200);
      const current = (await read.json()) as Record<string, unknown>;
      expect(current).to.include({ client_id: registration.client_id, client_name: 'Self-registered' });
      // only the hash is kept, and it is not handed out
      expect(current).not.to.have.property('client_secret');

      const { registration_access_token: _rat, registration_client_uri: _uri, client_secret_expires_at: _exp, client_id_issued_at: _iat, ...metadata } = current;
      const updated = await manage('PUT', { ...metadata, client_name: 'Renamed' });
      expect(updated.status, await updated.clone().text()).to.equal(200);
      const after = (await updated.json()) as Registration;
      expect(after).not.to.have.property('client_secret');
      const newToken = after.registration_access_token;
      expect((await server.sesame.clients.get(registration.client_id)).name).to.equal('Renamed');

      // the secret from registration still works after the update
      const config = await discover(server.issuer, { clientId: registration.client_id, clientSecret: registration.client_secret });
      await expectOAuthError(client.refreshTokenGrant(config, 'no-such-token'), 'invalid_grant');

      const removed = await fetch(registration.registration_client_uri, { method: 'DELETE', headers: { authorization: `Bearer ${newToken}` } });
      expect(removed.status).to.equal(204);
      expect(await server.sesame.clients.find(registration.client_id)).to.equal(undefined);
    });

    it('cannot take over a client registered by an operator', async () => {
      const { client: operatorClient } = await server.sesame.clients.add({ name: 'Operator', redirectUris: [REDIRECT_URI] });
      const response = await fetch(`${server.issuer}/reg/${operatorClient.clientId}`, { headers: { authorization: `Bearer ${initialToken}` } });
      expect(response.status).to.equal(401);
    });
  });
}
