import { expect } from 'chai';
import * as jose from 'jose';
import { Browser } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { client, discover, exchangeCode, expectOAuthError, REDIRECT_URI, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { withServer, cliEnv } from '../support/test-server.js';

/** Per-client settings operators choose: grant types, auth method, scopes, token lifetimes. */
describe('per-client settings', function () {
  this.timeout(60_000);
  let env: Record<string, string>;
  const insecure = { execute: [client.allowInsecureRequests] };

  const server = withServer('sqlite');
  before(async () => {
    env = cliEnv(server);
  });

  it('a machine client registered with the CLI gets client-credentials tokens and introspects them; a sign-in client may not', async () => {
    const added = await runCli(['clients', 'add', '--name', 'Worker', '--grant-type', 'client_credentials', '--access-token-ttl', '300', '--json'], env);
    expect(added.code, added.stderr).to.equal(0);
    const machine = JSON.parse(added.stdout) as { client_id: string; client_secret: string; grant_types: string[]; redirect_uris: string[] };
    expect(machine.grant_types).to.deep.equal(['client_credentials']);
    expect(machine.redirect_uris).to.deep.equal([]);

    const config = await client.discovery(new URL(server.issuer), machine.client_id, undefined, client.ClientSecretBasic(machine.client_secret), insecure);
    const tokens = await client.clientCredentialsGrant(config);
    expect(tokens.access_token).to.be.a('string');
    expect(tokens.expires_in).to.equal(300);
    const introspected = await client.tokenIntrospection(config, tokens.access_token);
    expect(introspected).to.include({ active: true, client_id: machine.client_id });

    const webApp = await server.sesame.clients.add({ name: 'Web', redirectUris: [REDIRECT_URI] });
    const webConfig = await discover(server.issuer, { clientId: webApp.client.clientId, clientSecret: webApp.clientSecret });
    // RFC 6749 §5.2 (oidc-provider itself would say invalid_request)
    await expectOAuthError(client.clientCredentialsGrant(webConfig), 'unauthorized_client');
  });

  it('a machine client introspects another app\'s access token but never its refresh token', async () => {
    const { client: api, clientSecret } = await server.sesame.clients.add({ name: 'Resource server', grantTypes: ['client_credentials'] });
    const apiConfig = await client.discovery(new URL(server.issuer), api.clientId, undefined, client.ClientSecretBasic(clientSecret!), insecure);
    const { client: spa } = await server.sesame.clients.add({ name: 'SPA', redirectUris: [REDIRECT_URI], isPublic: true, firstParty: true });
    const spaConfig = await discover(server.issuer, { clientId: spa.clientId });
    const start = await startAuthorization(spaConfig, { prompt: 'consent' });
    const tokens = await exchangeCode(spaConfig, start, await signInWithLink(new Browser(server.issuer), server.smtp, start, 'introspected@example.com'));
    expect(await client.tokenIntrospection(apiConfig, tokens.access_token)).to.include({ active: true, client_id: spa.clientId });
    expect(await client.tokenIntrospection(apiConfig, tokens.refresh_token!)).to.deep.equal({ active: false });
  });

  it('refuses client credentials for a public client, naming the rule', async () => {
    const added = await runCli(['clients', 'add', '--name', 'SPA', '--public', '--redirect-uri', REDIRECT_URI, '--grant-type', 'authorization_code', '--grant-type', 'client_credentials'], env);
    expect(added.code).to.equal(1);
    expect(added.stderr).to.include('client_credentials is only for confidential clients');
  });

  it('a private_key_jwt client authenticates with its key, and not with another', async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const { client: record, clientSecret } = await server.sesame.clients.add({
      name: 'Signed', grantTypes: ['client_credentials'], authMethod: 'private_key_jwt', jwks: { keys: [jwk] },
    });
    expect(clientSecret).to.equal(undefined);
    const withKey = (key: CryptoKey) => client.discovery(new URL(server.issuer), record.clientId, undefined, client.PrivateKeyJwt({ key, kid: 'k1' }), insecure);
    expect((await client.clientCredentialsGrant(await withKey(privateKey))).access_token).to.be.a('string');

    const other = await jose.generateKeyPair('ES256');
    await expectOAuthError(client.clientCredentialsGrant(await withKey(other.privateKey)), 'invalid_client');
  });

  it('applies per-client access and ID token lifetimes to a sign-in', async () => {
    const { client: record } = await server.sesame.clients.add({
      name: 'Short', redirectUris: [REDIRECT_URI], isPublic: true, firstParty: true, tokenLifetimes: { accessToken: 120, idToken: 600 },
    });
    const config = await discover(server.issuer, { clientId: record.clientId });
    const start = await startAuthorization(config, { prompt: '' });
    const tokens = await exchangeCode(config, start, await signInWithLink(new Browser(server.issuer), server.smtp, start, 'short@example.com'));
    expect(tokens.expires_in).to.equal(120);
    const claims = tokens.claims()!;
    expect(claims.exp - claims.iat).to.equal(600);
  });

  it('never grants a scope the client is not allowed', async () => {
    const { client: record } = await server.sesame.clients.add({
      name: 'Narrow', redirectUris: [REDIRECT_URI], isPublic: true, firstParty: true, grantTypes: ['authorization_code'], scopes: ['openid'],
    });
    const config = await discover(server.issuer, { clientId: record.clientId });
    const start = await startAuthorization(config, { scope: 'openid email', prompt: '' });
    const page = await new Browser(server.issuer).get(start.url.toString());
    // refused at the authorization endpoint, before anyone is asked for an address
    expect(page.status).to.equal(303);
    const back = new URL(page.location!);
    expect(back.searchParams.get('error')).to.equal('invalid_scope');
  });
});

describe('Dynamic Client Registration switched off (the default)', function () {
  this.timeout(30_000);
  const server = withServer('sqlite');

  it('has no registration endpoint', async () => {
    const response = await fetch(`${server.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT_URI] }) });
    expect(response.status).to.equal(404);
    const discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery).not.to.have.property('registration_endpoint');
  });
});
