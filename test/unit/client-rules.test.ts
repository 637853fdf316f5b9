import { expect } from 'chai';
import { parseClientChanges, parseNewClient } from '../../src/clients/client-json.js';
import { checkClientMetadata, withDefaults, type NewClient } from '../../src/clients/client-rules.js';
import { AppError } from '../../src/shared/errors.js';

const web: NewClient = { name: 'App', redirectUris: ['https://app.example.com/cb'] };
const problemsOf = (input: NewClient) => checkClientMetadata(withDefaults(input));

describe('client metadata rules', () => {
  it('accepts a web app with defaults: code + refresh, every scope, client_secret_basic', () => {
    const metadata = withDefaults(web);
    expect(metadata).to.include({ authMethod: 'client_secret_basic', dpopBoundAccessTokens: false });
    expect(metadata.grantTypes).to.deep.equal(['authorization_code', 'refresh_token']);
    expect(metadata.scopes).to.deep.equal(['openid', 'email', 'profile', 'offline_access']);
    expect(checkClientMetadata(metadata)).to.deep.equal([]);
  });

  it('accepts a machine client without redirect URIs or scopes', () => {
    expect(problemsOf({ name: 'Worker', grantTypes: ['client_credentials'] })).to.deep.equal([]);
    expect(withDefaults({ name: 'Worker', grantTypes: ['client_credentials'] }).scopes).to.deep.equal([]);
  });

  const refused: [string, NewClient, string][] = [
    ['client credentials for a public client', { ...web, isPublic: true, grantTypes: ['authorization_code', 'client_credentials'] }, 'grant_types: client_credentials is only for confidential'],
    ['refresh tokens without the code grant', { name: 'x', grantTypes: ['refresh_token', 'client_credentials'] }, 'refresh_token needs authorization_code'],
    ['an unknown grant type', { ...web, grantTypes: ['implicit' as never] }, 'grant_types: implicit not supported'],
    ['no grant type', { ...web, grantTypes: [] }, 'grant_types: at least one'],
    ['a sign-in client without redirect URIs', { name: 'x' }, 'redirect_uris: at least one'],
    ['redirect URIs on a machine client', { ...web, grantTypes: ['client_credentials'] }, 'redirect_uris: only for clients with the authorization_code grant'],
    ['an unknown scope', { ...web, scopes: ['openid', 'admin'] }, 'scope: admin not supported'],
    ['a sign-in client without openid', { ...web, scopes: ['email'] }, 'scope: must include openid'],
    ['offline_access without refresh tokens', { ...web, grantTypes: ['authorization_code'], scopes: ['openid', 'offline_access'] }, 'offline_access needs the refresh_token grant'],
    ['an http back-channel logout URI on a public host', { ...web, backchannelLogoutUri: 'http://app.example.com/logout' }, 'backchannel_logout_uri: must be an https URL'],
    ['keys for a secret-based client', { ...web, jwksUri: 'https://app.example.com/jwks' }, 'jwks: only for token_endpoint_auth_method private_key_jwt'],
    ['private_key_jwt without keys', { ...web, authMethod: 'private_key_jwt' }, 'exactly one of jwks and jwks_uri'],
    ['a private key in the published set', { ...web, authMethod: 'private_key_jwt', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'secret' }] } }, 'key 0 is a private or symmetric key'],
    ['a symmetric key', { ...web, authMethod: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, 'key 0 is a private or symmetric key'],
    ['an access token lifetime under a minute', { ...web, tokenLifetimes: { accessToken: 5 } }, 'access_token_ttl: whole seconds from 60'],
    ['an ID token outliving a retired signing key', { ...web, tokenLifetimes: { idToken: 7200 } }, 'id_token_ttl: whole seconds from 60 to 3600'],
    ['a refresh lifetime without refresh tokens', { ...web, grantTypes: ['authorization_code'], scopes: ['openid'], tokenLifetimes: { refreshToken: 3600 } }, 'refresh_token_ttl: the client has no refresh_token grant'],
    ['a wildcard redirect URI', { ...web, redirectUris: ['https://*.example.com/cb'] }, 'wildcards are not allowed'],
  ];
  for (const [what, input, problem] of refused) {
    it(`refuses ${what}`, () => {
      expect(problemsOf(input).join('\n')).to.include(problem);
    });
  }

  it('refuses a public client asking for a secret-based method', () => {
    expect(() => withDefaults({ ...web, isPublic: true, authMethod: 'client_secret_post' })).to.throw(AppError, 'a public client uses none');
  });
});

describe('client JSON', () => {
  it('maps RFC 7591 names to the service input', () => {
    const input = parseNewClient({ client_name: 'App', redirect_uris: ['https://a.example/cb'], scope: 'openid  email', grant_types: ['authorization_code'], access_token_ttl: 300, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://a.example/jwks' });
    expect(input).to.include({ name: 'App', authMethod: 'private_key_jwt', jwksUri: 'https://a.example/jwks' });
    expect(input.scopes).to.deep.equal(['openid', 'email']);
    expect(input.tokenLifetimes).to.deep.equal({ accessToken: 300 });
  });

  it('rejects unknown fields and wrong types, naming each', () => {
    try {
      parseNewClient({ client_name: 'App', client_secret: 'mine', first_party: 'yes' });
      expect.fail('accepted');
    } catch (error) {
      expect(error).to.be.instanceOf(AppError).with.property('status', 422);
      expect((error as Error).message).to.include('client_secret: unknown field').and.include('first_party:');
    }
    expect(() => parseNewClient({})).to.throw(AppError, 'client_name');
  });

  it('lets a change remove optional fields with null', () => {
    expect(parseClientChanges({ logo_uri: null, backchannel_logout_uri: null })).to.include({ logoUri: null, backchannelLogoutUri: null });
    expect(() => parseClientChanges({ client_id: 'other' })).to.throw(AppError, 'client_id: unknown field');
  });
});
