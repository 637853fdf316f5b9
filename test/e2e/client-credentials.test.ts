import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { expectOAuthError, REDIRECT_URI } from '../support/relying-party.js';
import { startTestServer, withServer, type TestServer } from '../support/test-server.js';

interface ResourceServer {
  url: string;
  close(): Promise<void>;
}

/**
 * A resource server (an API) as its developers would write it: every request's bearer token is
 * introspected at Sesame with the API's own client credentials (oauth4webapi), and only an active
 * token gets an answer.
 */
async function startResourceServer(issuer: string, credentials: { clientId: string; clientSecret: string }): Promise<ResourceServer> {
  const http = { [oauth.allowInsecureRequests]: true };
  const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), http));
  const self: oauth.Client = { client_id: credentials.clientId };
  const server: Server = createServer((req, res) => {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const deny = (error: string) => res.writeHead(401, { 'www-authenticate': `Bearer error="${error}"`, 'content-type': 'application/json' }).end(JSON.stringify({ error }));
    if (!token) return void deny('invalid_request');
    oauth.introspectionRequest(as, self, oauth.ClientSecretBasic(credentials.clientSecret), token, http)
      .then((response) => oauth.processIntrospectionResponse(as, self, response))
      .then((introspection) => {
        if (!introspection.active) return deny('invalid_token');
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ caller: introspection.client_id, sub: introspection.sub ?? null, scope: introspection.scope ?? '' }));
      })
      .catch((error: unknown) => res.writeHead(502, { 'content-type': 'text/plain' }).end(String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Client credentials for a machine client (no person involved), and the token checked by an API through introspection. */
describe('client credentials and introspection by a resource server (sqlite)', function () {
  let api: ResourceServer;
  let machine: client.Configuration;
  let machineId: string;

  const discover = (clientId: string, secret: string) =>
    client.discovery(new URL(server.issuer), clientId, undefined, client.ClientSecretBasic(secret), { execute: [client.allowInsecureRequests] });
  const callApi = (token?: string) => fetch(api.url, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  const server = withServer('sqlite');
  before(async () => {
    const rs = await server.sesame.clients.add({ name: 'Orders API', grantTypes: ['client_credentials'] });
    api = await startResourceServer(server.issuer, { clientId: rs.client.clientId, clientSecret: rs.clientSecret! });
    const worker = await server.sesame.clients.add({ name: 'Billing worker', grantTypes: ['client_credentials'] });
    machineId = worker.client.clientId;
    machine = await discover(machineId, worker.clientSecret!);
  });
  after(async () => {
    await api?.close();
  });

  it('a machine client gets an access token with its secret, and the API accepts it after introspection', async () => {
    const tokens = await client.clientCredentialsGrant(machine);
    expect(tokens.token_type).to.match(/^bearer$/i);
    expect(tokens.access_token).to.be.a('string');
    expect(tokens).not.to.have.property('refresh_token');
    expect(tokens).not.to.have.property('id_token');

    const answer = await callApi(tokens.access_token);
    expect(answer.status).to.equal(200);
    // no person is behind a client credentials token
    expect(await answer.json()).to.include({ caller: machineId, sub: null });
  });

  it('the API refuses a missing, made-up or revoked token', async () => {
    expect((await callApi()).status).to.equal(401);
    expect((await callApi('made-up-token')).status).to.equal(401);
    const tokens = await client.clientCredentialsGrant(machine);
    expect((await callApi(tokens.access_token)).status).to.equal(200);
    await client.tokenRevocation(machine, tokens.access_token);
    const revoked = await callApi(tokens.access_token);
    expect(revoked.status).to.equal(401);
    expect(revoked.headers.get('www-authenticate')).to.include('invalid_token');
  });

  it('a wrong secret gets no token; a sign-in app may not use the grant; a public client cannot be registered for it', async () => {
    const wrong = await discover(machineId, 'not-the-secret');
    await expectOAuthError(client.clientCredentialsGrant(wrong), 'invalid_client');

    const app = await server.sesame.clients.add({ name: 'Sign-in App', redirectUris: [REDIRECT_URI] });
    const asApp = await discover(app.client.clientId, app.clientSecret!);
    // RFC 6749 §5.2 (oidc-provider itself would say invalid_request)
    await expectOAuthError(client.clientCredentialsGrant(asApp), 'unauthorized_client');

    let refused: unknown;
    try {
      await server.sesame.clients.add({ name: 'Public Machine', isPublic: true, grantTypes: ['client_credentials'] });
    } catch (error) {
      refused = error;
    }
    expect((refused as { code?: string })?.code).to.equal('invalid_client_metadata');
  });

  it('an app that is not a resource server cannot introspect other clients\' tokens', async () => {
    const tokens = await client.clientCredentialsGrant(machine);
    const app = await server.sesame.clients.add({ name: 'Curious App', redirectUris: [REDIRECT_URI] });
    const asApp = await discover(app.client.clientId, app.clientSecret!);
    expect((await client.tokenIntrospection(asApp, tokens.access_token)).active).to.equal(false);
    // the machine client may look at its own token
    expect((await client.tokenIntrospection(machine, tokens.access_token))).to.include({ active: true, client_id: machineId });
  });
});

/**
 * oidc-provider refuses to fetch from loopback and private addresses (SSRF) unless
 * OUTBOUND_ALLOW_PRIVATE lifts that (its default outside production): a private_key_jwt machine
 * client whose jwks_uri is on loopback authenticates in development and is refused in production.
 */
describe('outgoing requests (a client\'s jwks_uri) and the SSRF guard (sqlite)', function () {
  let keys: Server;
  let jwksUri: string;
  let privateKey: CryptoKey;
  let fetched = 0;
  const kid = 'machine-key';

  before(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' }] });
    keys = createServer((_req, res) => {
      fetched += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    });
    await new Promise<void>((resolve) => keys.listen(0, '127.0.0.1', resolve));
    jwksUri = `http://127.0.0.1:${(keys.address() as AddressInfo).port}/jwks`;
  });
  after(() => new Promise<void>((resolve) => keys.close(() => resolve())));

  async function clientCredentialsWithAssertion(server: TestServer, audience: string): Promise<Response> {
    const { client: machine } = await server.sesame.clients.add({ name: 'Signed Machine', grantTypes: ['client_credentials'], authMethod: 'private_key_jwt', jwksUri });
    const assertion = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(machine.clientId).setSubject(machine.clientId).setAudience(audience)
      .setJti(randomUUID()).setIssuedAt().setExpirationTime('1m').sign(privateKey);
    const address = `http://${new URL(server.issuer).host}`;
    return fetch(`${address}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }),
    });
  }

  it('outside production, a loopback jwks_uri is fetched', async () => {
    const server = await startTestServer('sqlite', {}, { mode: 'development' });
    try {
      const before = fetched;
      const res = await clientCredentialsWithAssertion(server, server.issuer);
      expect(res.status, await res.clone().text()).to.equal(200);
      expect(fetched).to.be.greaterThan(before);
    } finally {
      await server.close();
    }
  });

  it('in production, Sesame does not reach into loopback', async () => {
    const server = await startTestServer('sqlite', { ISSUER: 'https://id.sesame.example' }, { mode: 'production' });
    try {
      // the server listens on 127.0.0.1 whatever its issuer says; the assertion names the issuer
      const before = fetched;
      const res = await clientCredentialsWithAssertion(server, 'https://id.sesame.example');
      expect(res.status).to.equal(401);
      expect(fetched, 'the jwks_uri was fetched').to.equal(before);
      expect(((await res.json()) as { error: string }).error).to.equal('invalid_client');
    } finally {
      await server.close();
    }
  });
});
