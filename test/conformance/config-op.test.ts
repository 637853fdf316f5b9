import { expect } from 'chai';
import type { JSONWebKeySet } from 'jose';
import { withServer } from '../support/test-server.js';
import { checkEndpointsAtIssuer, checkStringArray } from './discovery-checks.js';
import { checkServerJwks, fetchDiscovery } from './op-client.js';

/** RFC 6749 §3.3 scope-token characters. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** A BCP 47 language tag, as far as its shape goes (language, script, region, variants). */
const LANGUAGE_TAG = /^[a-zA-Z]{2,3}(-[a-zA-Z]{4})?(-([a-zA-Z]{2}|\d{3}))?(-([a-zA-Z\d]{5,8}|\d[a-zA-Z\d]{3}))*$/;

/**
 * The OpenID Foundation's Config OP plan (oidcc-config-certification-test-plan): one module, the
 * discovery document. It runs against the server as production runs it (`sesame serve`, an https
 * issuer); the test talks plain HTTP to the port behind the TLS terminator the issuer implies.
 */
describe('conformance: Config OP plan (production, https issuer; sqlite)', function () {
  /** where the test reaches the server: the issuer's host over plain HTTP */
  let address: string;

  const server = withServer('sqlite', {}, { scheme: 'https', mode: 'production' });
  before(async () => {
    address = server.issuer.replace(/^https:/, 'http:');
  });

  it('oidcc-discovery-endpoint-verification', async () => {
    // GetDynamicServerConfiguration, EnsureDiscoveryEndpointResponseStatusCodeIs200, CheckDiscoveryEndpointReturnedJsonContentType
    const { status, contentType, metadata } = await fetchDiscovery(server.issuer, address);
    expect(status).to.equal(200);
    expect(contentType).to.match(/^application\/json/);

    // OIDCCCheckDiscEndpointResponseTypesSupported: at least one OpenID Connect response type
    const responseTypes = checkStringArray(metadata, 'response_types_supported', { required: true })!;
    expect(responseTypes.some((type) => ['code', 'code id_token', 'id_token', 'token id_token', 'code id_token token', 'code token'].includes(type))).to.equal(true);

    // CheckDiscEndpointDiscoveryUrl, CheckDiscEndpointIssuer, CheckDiscEndpointIssuerIsValidUrl: the
    // document was fetched from the issuer + /.well-known/openid-configuration and names that very
    // issuer (OIDC Discovery §4.3), an https URL without query or fragment (RFC 8414 §2)
    expect(metadata.issuer).to.equal(server.issuer);
    const issuer = new URL(metadata.issuer);
    expect(issuer.protocol).to.equal('https:');
    expect(issuer.search + issuer.hash, 'no query or fragment in the issuer').to.equal('');

    // CheckDiscEndpointSubjectTypesSupported
    expect(checkStringArray(metadata, 'subject_types_supported', { required: true })!.some((type) => type === 'public' || type === 'pairwise')).to.equal(true);
    // OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported
    expect(checkStringArray(metadata, 'id_token_signing_alg_values_supported', { required: true })).to.include('RS256');
    // OIDCCCheckDiscEndpointUserinfoSigningAlgValuesSupported (when present)
    checkStringArray(metadata, 'userinfo_signing_alg_values_supported');

    // CheckDiscEndpointAuthorizationEndpoint, …TokenEndpoint, …UserinfoEndpoint (recommended),
    // …RegistrationEndpoint (when present), CheckJwksUri and CheckDiscEndpointAllEndpointsAreHttps
    for (const key of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri']) expect(metadata[key], key).to.be.a('string');
    checkEndpointsAtIssuer(metadata);

    // FetchServerKeys, ValidateServerJWKs, EnsureServerJwksDoesNotContainPrivateOrSymmetricKeys
    const jwksRes = await fetch(metadata.jwks_uri.replace(server.issuer, address));
    expect(jwksRes.status).to.equal(200);
    expect(jwksRes.headers.get('content-type')).to.match(/^application\/(jwk-set\+)?json/);
    checkServerJwks((await jwksRes.json()) as JSONWebKeySet);

    // CheckDiscEndpointRequestParameterSupported, …RequestUriParameterSupported, …ClaimsParameterSupported
    // (informational in the module: booleans when present)
    for (const key of ['request_parameter_supported', 'request_uri_parameter_supported', 'claims_parameter_supported']) {
      if (key in metadata) expect(metadata[key], key).to.be.a('boolean');
    }
    // CheckDiscEndpointRequestObjectSigningAlgValuesSupportedIncludesRS256 (when present)
    const requestObjectAlgs = checkStringArray(metadata, 'request_object_signing_alg_values_supported');
    if (requestObjectAlgs) expect(requestObjectAlgs).to.include('RS256');
    // OIDCCCheckDiscEndpointClaimsSupported (recommended)
    expect(checkStringArray(metadata, 'claims_supported', { required: true })).to.include('sub');
    // OIDCCCheckDiscEndpointGrantTypesSupported: a non-empty array when present
    checkStringArray(metadata, 'grant_types_supported', { nonEmpty: true });

    // CheckDiscEndpointScopesSupportedContainsOpenId, CheckDiscEndpointScopesSupportedSyntax
    const scopes = checkStringArray(metadata, 'scopes_supported', { required: true })!;
    expect(scopes).to.include('openid');
    for (const scope of scopes) expect(scope, 'scope syntax (RFC 6749 §3.3)').to.match(SCOPE_TOKEN);
    // CheckDiscEndpointLocalesSyntax
    for (const key of ['ui_locales_supported', 'claims_locales_supported']) {
      for (const tag of checkStringArray(metadata, key) ?? []) expect(tag, key).to.match(LANGUAGE_TAG);
    }
    // EnsureServerConfigurationCodeChallengeMethodsSupportedIsAnArray
    checkStringArray(metadata, 'code_challenge_methods_supported');
  });
});
