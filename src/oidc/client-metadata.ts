import type { AdapterPayload } from 'oidc-provider';
import type { AuthMethod, ClientRecord, GrantType, PublicJwks } from '../clients/client.js';
import { splitScope } from '../clients/client-json.js';
import { checkClientMetadata, withDefaults, type NewClient } from '../clients/client-rules.js';
import { checkRedirectUri } from '../clients/redirect-uri.js';

/** Extra client metadata only operators set (never accepted from Dynamic Client Registration). */
export const OPERATOR_ONLY_METADATA = ['first_party', 'sesame_token_lifetimes', 'sesame_resource_server', 'sesame_pkce_optional'] as const;

/** What oidc-provider sees of one of our clients. The secret field holds its keyed hash (see provider.ts). */
export function toProviderMetadata(client: ClientRecord): AdapterPayload {
  const native = client.redirectUris.some((uri) => {
    const checked = checkRedirectUri(uri);
    return 'kind' in checked && checked.kind === 'custom-scheme';
  });
  const interactive = client.grantTypes.includes('authorization_code');
  const lifetimes = client.tokenLifetimes;
  return {
    client_id: client.clientId,
    client_name: client.name,
    ...(client.logoUri ? { logo_uri: client.logoUri } : {}),
    application_type: native ? 'native' : 'web',
    redirect_uris: [...client.redirectUris],
    post_logout_redirect_uris: [...client.postLogoutRedirectUris],
    response_types: interactive ? ['code'] : [],
    grant_types: [...client.grantTypes],
    // oidc-provider refuses an empty scope list; a machine client without scopes gets none of the user scopes anyway
    ...(client.scopes.length ? { scope: client.scopes.join(' ') } : {}),
    token_endpoint_auth_method: client.authMethod,
    ...(client.secretHash ? { client_secret: client.secretHash } : {}),
    ...(client.jwks ? { jwks: { keys: client.jwks.keys.map((key) => ({ ...key })) } } : {}),
    ...(client.jwksUri ? { jwks_uri: client.jwksUri } : {}),
    ...(client.backchannelLogoutUri ? { backchannel_logout_uri: client.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    ...(client.dpopBoundAccessTokens ? { dpop_bound_access_tokens: true } : {}),
    // only present when set, so a dynamically registered client reading its record back sees none of them
    ...(client.firstParty ? { first_party: true } : {}),
    ...(Object.keys(lifetimes).length ? { sesame_token_lifetimes: { ...lifetimes } } : {}),
    // a machine client an operator registered may introspect other clients' access tokens
    ...(isResourceServer(client) ? { sesame_resource_server: true } : {}),
    // an operator let this confidential client leave PKCE out (a nonce is then required)
    ...(client.pkceRequired ? {} : { sesame_pkce_optional: true }),
  };
}

/** What a Dynamic Client Registration request asks for, in our terms (RFC 7591 metadata → NewClient). */
export function fromProviderMetadata(metadata: Record<string, unknown>): Omit<NewClient, 'firstParty' | 'tokenLifetimes'> {
  const strings = (value: unknown) => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined);
  const string = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    name: string(metadata.client_name) ?? '',
    redirectUris: strings(metadata.redirect_uris),
    postLogoutRedirectUris: strings(metadata.post_logout_redirect_uris),
    logoUri: string(metadata.logo_uri),
    authMethod: string(metadata.token_endpoint_auth_method) as AuthMethod | undefined,
    jwks: metadata.jwks as PublicJwks | undefined,
    jwksUri: string(metadata.jwks_uri),
    grantTypes: strings(metadata.grant_types) as GrantType[] | undefined,
    scopes: typeof metadata.scope === 'string' ? splitScope(metadata.scope) : undefined,
    backchannelLogoutUri: string(metadata.backchannel_logout_uri),
    dpopBoundAccessTokens: metadata.dpop_bound_access_tokens === true,
  };
}

/** The operators' rules applied to a registration request; each problem names its field. */
export function checkDynamicMetadata(metadata: Record<string, unknown>): string[] {
  try {
    return checkClientMetadata(withDefaults(fromProviderMetadata(metadata)));
  } catch (error) {
    return [error instanceof Error ? error.message : String(error)];
  }
}

/** An operator's confidential machine client: trusted to introspect access tokens presented to it. */
export function isResourceServer(client: ClientRecord): boolean {
  return client.source === 'operator' && client.authMethod !== 'none' && client.grantTypes.includes('client_credentials');
}
