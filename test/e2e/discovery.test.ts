import { expect } from 'chai';
import * as oauth from 'oauth4webapi';
import { Browser } from '../support/browser.js';
import { REDIRECT_URI, signInWithLink } from '../support/relying-party.js';
import { withServer } from '../support/test-server.js';

type Metadata = Record<string, unknown>;

/**
 * The discovery document says exactly what Sesame supports, and the server behaves as it says:
 * what is listed works, what is left out is refused. Client libraries configure themselves from
 * this document, so a wrong entry is an interoperability (or a downgrade) bug.
 */
describe('discovery document (sqlite)', function () {
  let metadata: Metadata;
  const http = { [oauth.allowInsecureRequests]: true };

  const server = withServer('sqlite');
  before(async () => {
    const res = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    expect(res.status).to.equal(200);
    metadata = (await res.json()) as Metadata;
  });

  it('names the issuer and every endpoint at the issuer', () => {
    const at = (path: string) => `${server.issuer}${path}`;
    expect(metadata).to.include({
      issuer: server.issuer,
      authorization_endpoint: at('/auth'),
      token_endpoint: at('/token'),
      userinfo_endpoint: at('/me'),
      jwks_uri: at('/jwks'),
      end_session_endpoint: at('/session/end'),
      revocation_endpoint: at('/token/revocation'),
      introspection_endpoint: at('/token/introspection'),
      pushed_authorization_request_endpoint: at('/request'),
    });
    // Dynamic Client Registration is off unless an operator turns it on
    expect(metadata).not.to.have.property('registration_endpoint');
  });

  it('offers the code flow only, PKCE with S256 only, and names the issuer in authorization responses', () => {
    expect(metadata.response_types_supported).to.deep.equal(['code']);
    expect(metadata.code_challenge_methods_supported).to.deep.equal(['S256']);
    expect(metadata.authorization_response_iss_parameter_supported).to.equal(true);
    expect(metadata.grant_types_supported).to.have.members(['authorization_code', 'refresh_token', 'client_credentials']);
    expect(metadata.grant_types_supported).not.to.include('implicit');
    expect(metadata.scopes_supported).to.have.members(['openid', 'email', 'profile', 'offline_access']);
    expect(metadata.subject_types_supported).to.deep.equal(['public']);
  });

  it('lists no "none" algorithm and no secret-based (HMAC) algorithm anywhere, and only the client authentication methods Sesame can check', () => {
    const algorithmLists = Object.entries(metadata).filter(([key]) => key.endsWith('_alg_values_supported'));
    expect(algorithmLists.map(([key]) => key)).to.include.members([
      'id_token_signing_alg_values_supported', 'token_endpoint_auth_signing_alg_values_supported', 'dpop_signing_alg_values_supported',
    ]);
    for (const [key, values] of algorithmLists) {
      expect(values, key).to.be.an('array').that.is.not.empty;
      for (const alg of values as string[]) {
        expect(alg.toLowerCase(), `${key} lists ${alg}`).not.to.equal('none');
        expect(alg, `${key} lists ${alg}`).not.to.match(/^HS/);
      }
    }
    expect(metadata.id_token_signing_alg_values_supported).to.deep.equal(['RS256']);
    // client secrets are stored as keyed hashes, so client_secret_jwt cannot be checked and is not offered
    expect(metadata.token_endpoint_auth_methods_supported).to.have.members(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']);
    expect(metadata.dpop_signing_alg_values_supported).to.include('ES256');
  });

  it('supports RP-initiated and back-channel logout, with the session id', () => {
    expect(metadata.end_session_endpoint).to.be.a('string');
    expect(metadata.backchannel_logout_supported).to.equal(true);
    expect(metadata.backchannel_logout_session_supported).to.equal(true);
  });

  describe('and the server keeps to it', () => {
    let as: oauth.AuthorizationServer;
    let client: oauth.Client;

    before(async () => {
      as = await oauth.processDiscoveryResponse(new URL(server.issuer), await oauth.discoveryRequest(new URL(server.issuer), http));
      const { client: registered } = await server.sesame.clients.add({ name: 'Discovery Probe', redirectUris: [REDIRECT_URI], isPublic: true, firstParty: true });
      client = { client_id: registered.clientId };
    });

    async function authorize(params: Record<string, string>): Promise<URL> {
      const url = new URL(as.authorization_endpoint!);
      url.search = new URLSearchParams({ client_id: client.client_id, redirect_uri: REDIRECT_URI, scope: 'openid', state: 'probe', ...params }).toString();
      const res = await fetch(url, { redirect: 'manual' });
      expect(res.status, `${url}`).to.be.oneOf([302, 303]);
      return new URL(res.headers.get('location')!, server.issuer);
    }

    it('refuses implicit and hybrid response types, and PKCE with "plain" or none at all', async () => {
      const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier());
      for (const responseType of ['id_token', 'token', 'id_token token', 'code id_token', 'code token', 'none']) {
        const back = await authorize({ response_type: responseType, nonce: 'n', code_challenge: challenge, code_challenge_method: 'S256' });
        expect(back.searchParams.get('error') ?? new URLSearchParams(back.hash.slice(1)).get('error'), responseType).to.equal('unsupported_response_type');
      }
      const plain = await authorize({ response_type: 'code', code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
      expect(plain.searchParams.get('error')).to.equal('invalid_request');
      const none = await authorize({ response_type: 'code' });
      expect(none.searchParams.get('error')).to.equal('invalid_request');
      expect(none.searchParams.get('iss')).to.equal(server.issuer);
    });

    it('accepts a DPoP proof signed with a listed algorithm and refuses one that is not listed', async () => {
      const started = { verifier: oauth.generateRandomCodeVerifier(), state: oauth.generateRandomState(), nonce: oauth.generateRandomNonce() };
      const url = new URL(as.authorization_endpoint!);
      url.search = new URLSearchParams({
        client_id: client.client_id, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid', state: started.state, nonce: started.nonce,
        code_challenge: await oauth.calculatePKCECodeChallenge(started.verifier), code_challenge_method: 'S256',
      }).toString();
      const callback = await signInWithLink(new Browser(server.issuer), server.smtp, { url }, 'discovery@example.com');
      const params = oauth.validateAuthResponse(as, client, new URL(callback), started.state);

      expect(as.dpop_signing_alg_values_supported).not.to.include('RS256');
      const unlisted = oauth.DPoP(client, await oauth.generateKeyPair('RS256'));
      const refused = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT_URI, started.verifier, { ...http, DPoP: unlisted });
      expect(refused.status).to.equal(400);
      expect(((await refused.json()) as { error: string }).error).to.equal('invalid_dpop_proof');

      // the code was not spent by the refused request
      const listed = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
      const accepted = await oauth.processAuthorizationCodeResponse(as, client,
        await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT_URI, started.verifier, { ...http, DPoP: listed }), { expectedNonce: started.nonce });
      expect(accepted.token_type).to.equal('dpop');
    });
  });
});
