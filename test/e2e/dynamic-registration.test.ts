import { expect } from 'chai';
import { Browser } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { DB_KINDS } from '../support/databases.js';
import { discover, exchangeCode, expectOAuthError, client, REDIRECT_URI, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { withServer, cliEnv } from '../support/test-server.js';

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
    let initialToken: string;
    let initialTokenId: string;
    const app = { client_name: 'Self-registered', redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid email offline_access' };

    const register = (body: unknown, token: string | null = initialToken, path = '/reg') =>
      fetch(`${server.issuer}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });

    const server = withServer(kind, { REGISTRATION_ENABLED: 'true' });
    before(async () => {
      const env = cliEnv(server);
      const created = await runCli(['admin-tokens', 'create', '--name', 'self-service', '--scope', 'register', '--json'], env);
      expect(created.code, created.stderr).to.equal(0);
      ({ token: initialToken, id: initialTokenId } = JSON.parse(created.stdout) as { token: string; id: string });
    });

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

      // audited with the initial access token that registered it
      const events = await server.sesame.audit.query({ type: 'client.registered', clientId: registration.client_id });
      expect(events).to.have.length(1);
      expect(events[0]).to.include({ actor: `admin-token:${initialTokenId}` });
      expect(events[0].details).to.include({ via: 'dynamic_registration' });
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

      // each change audited once, the app itself (its registration access token) as the actor
      const trail = await server.sesame.audit.query({ clientId: registration.client_id });
      expect(trail.map((e) => `${e.type} ${e.actor}`)).to.deep.equal([
        `client.registration_deleted client:${registration.client_id}`,
        `client.registration_updated client:${registration.client_id}`,
        `client.registered admin-token:${initialTokenId}`,
      ]);
    });

    /** GET and PUT of a registration (RFC 7592); the registration access token rotates on every PUT. */
    function manager(registration: Registration) {
      let token = registration.registration_access_token;
      const call = async (method: string, body?: unknown) => {
        const response = await fetch(registration.registration_client_uri, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        const json = (await response.json()) as Record<string, unknown>;
        if (typeof json.registration_access_token === 'string') token = json.registration_access_token;
        return { status: response.status, json };
      };
      const metadataOf = (json: Record<string, unknown>) => {
        const { registration_access_token: _t, registration_client_uri: _u, client_secret_expires_at: _e, client_id_issued_at: _i, ...metadata } = json;
        return metadata;
      };
      return { call, metadataOf };
    }

    it('accepts an update that carries the app\'s current client_secret, and refuses one with another (RFC 7592 §2.2)', async () => {
      const registration = (await (await register(app)).json()) as Registration;
      const { call, metadataOf } = manager(registration);
      const current = metadataOf((await call('GET')).json);

      const withSecret = await call('PUT', { ...current, client_secret: registration.client_secret, client_name: 'Sent its secret' });
      expect(withSecret.status, JSON.stringify(withSecret.json)).to.equal(200);
      expect(withSecret.json).not.to.have.property('client_secret');
      const stored = await server.sesame.clients.get(registration.client_id);
      expect(stored.name).to.equal('Sent its secret');
      expect(server.sesame.clients.verifySecret(stored, registration.client_secret!)).to.equal(true);

      for (const wrong of [`${registration.client_secret}x`, stored.secretHash, '', 42]) {
        const refused = await call('PUT', { ...current, client_secret: wrong, client_name: 'Wrong secret' });
        expect(refused.status, String(wrong)).to.equal(400);
        expect(refused.json).to.include({ error: 'invalid_request' });
        expect(refused.json.error_description).to.include('client_secret does not match');
      }
      expect((await server.sesame.clients.get(registration.client_id)).name).to.equal('Sent its secret');

      // after an operator rotated the secret, the one from registration is not the current one any more
      const { clientSecret: rotated } = await server.sesame.clients.rotateSecret(registration.client_id);
      expect((await call('PUT', { ...current, client_secret: registration.client_secret, client_name: 'Old secret' })).status).to.equal(400);
      expect((await call('PUT', { ...current, client_secret: rotated, client_name: 'New secret' })).status).to.equal(200);

      // a body that is not JSON is refused as before, by oidc-provider or by the parser
      const broken = await fetch(registration.registration_client_uri, { method: 'PUT', headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, body: '{"client_id":' });
      expect(broken.status).to.equal(400);
      expect(await broken.text()).not.to.match(/at .*\.js:\d+/);
    });

    it('keeps the secret an operator rotated when the app updates its registration right after', async () => {
      const registration = (await (await register(app)).json()) as Registration;
      const { call, metadataOf } = manager(registration);
      // warms this instance's short client cache with the record as it is before the rotation
      const before = await call('GET');
      const oldHash = (await server.sesame.clients.get(registration.client_id)).secretHash!;
      const { clientSecret: rotated } = await server.sesame.clients.rotateSecret(registration.client_id);
      // within the cache's 2 s, oidc-provider hands the stale hash back as the "current secret"
      expect((await call('PUT', { ...metadataOf(before.json), client_name: 'After rotation' })).status).to.equal(200);
      const stored = await server.sesame.clients.get(registration.client_id);
      expect(stored.name).to.equal('After rotation');
      expect(server.sesame.clients.verifySecret(stored, rotated)).to.equal(true);
      expect(server.sesame.clients.verifySecret(stored, oldHash)).to.equal(false);
      expect(server.sesame.clients.verifySecret(stored, registration.client_secret!)).to.equal(false);
    });

    it('an update cannot undo what an operator restricted, nor widen scopes, grants or change the auth method', async () => {
      const registration = (await (await register(app)).json()) as Registration;
      const { call, metadataOf } = manager(registration);
      await server.sesame.clients.update(registration.client_id, { tokenLifetimes: { accessToken: 120 }, dpopBoundAccessTokens: true, scopes: ['openid', 'email'] });
      // past the client cache, so the app reads the restricted record
      const current = metadataOf((await call('GET')).json);
      expect(current.scope).to.equal('openid email');

      const widened = await call('PUT', { ...current, scope: 'openid email offline_access' });
      expect(widened.status).to.equal(400);
      expect(widened.json.error_description).to.include('cannot add offline_access');
      const otherMethod = await call('PUT', { ...current, token_endpoint_auth_method: 'client_secret_post' });
      expect(otherMethod.status).to.equal(400);
      expect(otherMethod.json.error_description).to.include('cannot change client_secret_basic');

      const renamed = await call('PUT', { ...current, client_name: 'Still restricted', dpop_bound_access_tokens: false });
      expect(renamed.status, JSON.stringify(renamed.json)).to.equal(200);
      const stored = await server.sesame.clients.get(registration.client_id);
      expect(stored).to.include({ name: 'Still restricted', dpopBoundAccessTokens: true });
      expect(stored.tokenLifetimes).to.deep.equal({ accessToken: 120 });
      expect(stored.scopes).to.deep.equal(['openid', 'email']);
    });

    it('a self-registered machine client cannot introspect other apps\' tokens', async () => {
      const machine = (await (await register({ client_name: 'Self-registered API', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' })).json()) as Registration;
      const { client: other, clientSecret } = await server.sesame.clients.add({ name: 'Operator machine', grantTypes: ['client_credentials'] });
      const insecure = { execute: [client.allowInsecureRequests] };
      const otherConfig = await client.discovery(new URL(server.issuer), other.clientId, undefined, client.ClientSecretBasic(clientSecret!), insecure);
      const { access_token: foreign } = await client.clientCredentialsGrant(otherConfig);
      const machineConfig = await client.discovery(new URL(server.issuer), machine.client_id, undefined, client.ClientSecretBasic(machine.client_secret!), insecure);
      expect(await client.tokenIntrospection(machineConfig, foreign)).to.deep.equal({ active: false });
      // its own tokens it may introspect
      const { access_token: own } = await client.clientCredentialsGrant(machineConfig);
      expect(await client.tokenIntrospection(machineConfig, own)).to.include({ active: true });
    });

    it('cannot take over a client registered by an operator', async () => {
      const { client: operatorClient } = await server.sesame.clients.add({ name: 'Operator', redirectUris: [REDIRECT_URI] });
      const response = await fetch(`${server.issuer}/reg/${operatorClient.clientId}`, { headers: { authorization: `Bearer ${initialToken}` } });
      expect(response.status).to.equal(401);
    });
  });
}
