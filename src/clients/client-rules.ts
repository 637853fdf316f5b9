import { AppError } from '../shared/errors.js';
import { AUTH_METHODS, GRANT_TYPES, SCOPES, type AuthMethod, type GrantType, type PublicJwks, type TokenLifetimes } from './client.js';
import { checkRedirectUri } from './redirect-uri.js';

/** The metadata every registration path (CLI, admin API, Dynamic Client Registration) is checked against. */
export interface ClientMetadata {
  name: string;
  redirectUris: readonly string[];
  postLogoutRedirectUris: readonly string[];
  logoUri?: string;
  authMethod: AuthMethod;
  jwks?: PublicJwks;
  jwksUri?: string;
  grantTypes: readonly GrantType[];
  scopes: readonly string[];
  tokenLifetimes: TokenLifetimes;
  backchannelLogoutUri?: string;
  dpopBoundAccessTokens: boolean;
  pkceRequired: boolean;
}

export interface NewClient {
  name: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  logoUri?: string;
  /** shorthand for `authMethod: 'none'` */
  isPublic?: boolean;
  /** default: `none` for a public client, else `client_secret_basic` */
  authMethod?: AuthMethod;
  jwks?: PublicJwks;
  jwksUri?: string;
  firstParty?: boolean;
  /** default: authorization_code and refresh_token */
  grantTypes?: GrantType[];
  /** default: every scope the grant types can use */
  scopes?: string[];
  tokenLifetimes?: TokenLifetimes;
  backchannelLogoutUri?: string;
  dpopBoundAccessTokens?: boolean;
  /** default true; only an operator may relax it, for a confidential client (RFC 9700 §2.1.1) */
  pkceRequired?: boolean;
}

/** Bounds of per-client token lifetimes, in seconds. */
export const LIFETIME_BOUNDS: Record<keyof TokenLifetimes, { min: number; max: number }> = {
  accessToken: { min: 60, max: 24 * 60 * 60 },
  // at most the shortest KEY_RETIREMENT_SECONDS, so a retired signing key outlives every ID token it signed
  idToken: { min: 60, max: 60 * 60 },
  refreshToken: { min: 5 * 60, max: 365 * 24 * 60 * 60 },
};

const LIFETIME_FIELDS: Record<keyof TokenLifetimes, string> = {
  accessToken: 'access_token_ttl',
  idToken: 'id_token_ttl',
  refreshToken: 'refresh_token_ttl',
};

/** JWK members that only a private or symmetric key has: a client's published set must hold none. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** Every problem with the metadata, each naming its field (RFC 7591 names); empty when it is acceptable. */
export function checkClientMetadata(input: ClientMetadata): string[] {
  const problems: string[] = [];
  if (typeof input.name !== 'string' || !input.name.trim()) problems.push('client_name: required');
  else if (input.name.length > 100) problems.push('client_name: at most 100 characters');

  if (!AUTH_METHODS.includes(input.authMethod)) problems.push(`token_endpoint_auth_method: one of ${AUTH_METHODS.join(', ')}`);
  const unknownGrants = input.grantTypes.filter((grant) => !GRANT_TYPES.includes(grant));
  if (unknownGrants.length) problems.push(`grant_types: ${unknownGrants.join(', ')} not supported (one or more of ${GRANT_TYPES.join(', ')})`);
  if (input.grantTypes.length === 0) problems.push('grant_types: at least one is required');
  const interactive = input.grantTypes.includes('authorization_code');
  if (input.grantTypes.includes('refresh_token') && !interactive) problems.push('grant_types: refresh_token needs authorization_code');
  if (input.pkceRequired === false && input.authMethod === 'none') problems.push('pkce_required: a public client always needs PKCE');
  if (input.pkceRequired === false && !interactive) problems.push('pkce_required: only for clients with the authorization_code grant');
  if (input.grantTypes.includes('client_credentials') && input.authMethod === 'none') {
    problems.push('grant_types: client_credentials is only for confidential clients (a token_endpoint_auth_method other than none)');
  }

  if (interactive && input.redirectUris.length === 0) problems.push('redirect_uris: at least one is required');
  if (!interactive && (input.redirectUris.length || input.postLogoutRedirectUris.length)) {
    problems.push('redirect_uris: only for clients with the authorization_code grant');
  }
  for (const [field, uris] of [['redirect_uris', input.redirectUris], ['post_logout_redirect_uris', input.postLogoutRedirectUris]] as const) {
    for (const uri of uris) {
      const checked = checkRedirectUri(uri);
      if ('error' in checked) problems.push(`${field}: ${checked.error}`);
    }
  }

  const unknownScopes = input.scopes.filter((scope) => !(SCOPES as readonly string[]).includes(scope));
  if (unknownScopes.length) problems.push(`scope: ${unknownScopes.join(', ')} not supported (one or more of ${SCOPES.join(', ')})`);
  if (interactive && !input.scopes.includes('openid')) problems.push('scope: must include openid for sign-ins');
  if (input.scopes.includes('offline_access') && !input.grantTypes.includes('refresh_token')) {
    problems.push('scope: offline_access needs the refresh_token grant');
  }

  if (input.logoUri !== undefined) problems.push(...checkWebUrl('logo_uri', input.logoUri, false));
  if (input.backchannelLogoutUri !== undefined) {
    if (!interactive) problems.push('backchannel_logout_uri: only for clients with the authorization_code grant');
    problems.push(...checkWebUrl('backchannel_logout_uri', input.backchannelLogoutUri, true));
  }

  problems.push(...checkKeys(input));

  for (const [key, { min, max }] of Object.entries(LIFETIME_BOUNDS) as [keyof TokenLifetimes, { min: number; max: number }][]) {
    const value = input.tokenLifetimes[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < min || value > max) problems.push(`${LIFETIME_FIELDS[key]}: whole seconds from ${min} to ${max}`);
  }
  if (input.tokenLifetimes.refreshToken !== undefined && !input.grantTypes.includes('refresh_token')) {
    problems.push('refresh_token_ttl: the client has no refresh_token grant');
  }
  return problems;
}

function checkKeys(input: ClientMetadata): string[] {
  const problems: string[] = [];
  if (input.authMethod !== 'private_key_jwt') {
    if (input.jwks || input.jwksUri) problems.push('jwks: only for token_endpoint_auth_method private_key_jwt');
    return problems;
  }
  if (Boolean(input.jwks) === Boolean(input.jwksUri)) {
    problems.push('jwks: private_key_jwt needs exactly one of jwks and jwks_uri');
    return problems;
  }
  if (input.jwksUri !== undefined) return checkWebUrl('jwks_uri', input.jwksUri, true);
  const keys = input.jwks?.keys;
  if (!Array.isArray(keys) || keys.length === 0) return ['jwks: must have a non-empty "keys" array'];
  for (const [index, key] of keys.entries()) {
    if (typeof key !== 'object' || key === null || typeof key.kty !== 'string') problems.push(`jwks: key ${index} has no kty`);
    else if (PRIVATE_JWK_MEMBERS.some((member) => member in key)) problems.push(`jwks: key ${index} is a private or symmetric key; publish public keys only`);
  }
  return problems;
}

/** https, or http on a loopback host where `loopbackHttp` allows it (local development). */
function checkWebUrl(field: string, value: string, loopbackHttp: boolean): string[] {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [`${field}: must be an absolute https URL`];
  }
  if (url.hash || url.username || url.password) return [`${field}: must not contain a fragment or credentials`];
  if (url.protocol === 'https:') return [];
  if (loopbackHttp && url.protocol === 'http:' && 'kind' in checkRedirectUri(value)) return [];
  return [`${field}: must be an https URL${loopbackHttp ? ' (http only on a loopback host)' : ''}`];
}

/** The metadata, when every rule holds; otherwise 422 `invalid_client_metadata` naming each problem. */
export function checked<M extends ClientMetadata>(metadata: M): M {
  const problems = checkClientMetadata(metadata);
  if (problems.length) throw invalid(problems);
  return metadata;
}

export function invalid(problems: string[]): AppError {
  return new AppError('invalid_client_metadata', 422, problems.join('; '), { params: { details: problems.join('; ') } });
}

/** The metadata a new client gets from what was asked for: defaults filled in, nothing checked yet. */
export function withDefaults(input: NewClient): ClientMetadata {
  const authMethod = input.authMethod ?? (input.isPublic ? 'none' : 'client_secret_basic');
  if (input.isPublic && authMethod !== 'none') throw invalid([`token_endpoint_auth_method: a public client uses none, not ${authMethod}`]);
  const grantTypes = input.grantTypes ?? ['authorization_code', 'refresh_token'];
  const scopes = input.scopes
    ?? (grantTypes.includes('authorization_code') ? ['openid', 'email', 'profile', ...(grantTypes.includes('refresh_token') ? ['offline_access'] : [])] : []);
  return {
    name: typeof input.name === 'string' ? input.name.trim() : input.name,
    redirectUris: input.redirectUris ?? [],
    postLogoutRedirectUris: input.postLogoutRedirectUris ?? [],
    logoUri: input.logoUri,
    authMethod,
    jwks: input.jwks,
    jwksUri: input.jwksUri,
    grantTypes,
    scopes,
    tokenLifetimes: input.tokenLifetimes ?? {},
    backchannelLogoutUri: input.backchannelLogoutUri,
    dpopBoundAccessTokens: Boolean(input.dpopBoundAccessTokens),
    pkceRequired: input.pkceRequired ?? true,
  };
}
