import { z } from 'zod';
import { AppError } from '../shared/errors.js';
import { AUTH_METHODS, GRANT_TYPES, type ClientRecord, type TokenLifetimes } from './client.js';
import type { ClientChanges, NewClient } from './client-service.js';

/**
 * The JSON face of a client, in RFC 7591 field names, shared by the admin API and `--json` CLI
 * output. Parsing checks shapes only and rejects unknown fields; the rules (redirect URIs, grant
 * and scope combinations, …) are the client service's, the same for every way in.
 */
const uris = z.array(z.string().max(2000)).max(50);
const jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())).max(20) }).strict();
const ttl = z.number().int();

const fields = {
  client_name: z.string().max(200),
  redirect_uris: uris,
  post_logout_redirect_uris: uris,
  logo_uri: z.string().max(2000),
  token_endpoint_auth_method: z.enum(AUTH_METHODS),
  jwks,
  jwks_uri: z.string().max(2000),
  first_party: z.boolean(),
  grant_types: z.array(z.enum(GRANT_TYPES)).max(GRANT_TYPES.length),
  /** space-separated, as in RFC 7591 */
  scope: z.string().max(200),
  access_token_ttl: ttl,
  id_token_ttl: ttl,
  refresh_token_ttl: ttl,
  backchannel_logout_uri: z.string().max(2000),
  dpop_bound_access_tokens: z.boolean(),
  pkce_required: z.boolean(),
};

const newClientSchema = z.object(fields).partial().required({ client_name: true }).strict();

const changesSchema = z.object({
  ...fields,
  logo_uri: fields.logo_uri.nullable(),
  jwks: fields.jwks.nullable(),
  jwks_uri: fields.jwks_uri.nullable(),
  backchannel_logout_uri: fields.backchannel_logout_uri.nullable(),
}).partial().strict();

export function parseNewClient(body: unknown): NewClient {
  // the schema requires client_name and allows no nulls, so the mapped fields are those of a NewClient
  return fromJson(parse(newClientSchema, body)) as NewClient;
}

export function parseClientChanges(body: unknown): ClientChanges {
  return fromJson(parse(changesSchema, body));
}

function fromJson(input: z.infer<typeof changesSchema>): ClientChanges {
  return {
    name: input.client_name,
    redirectUris: input.redirect_uris,
    postLogoutRedirectUris: input.post_logout_redirect_uris,
    logoUri: input.logo_uri,
    authMethod: input.token_endpoint_auth_method,
    jwks: input.jwks,
    jwksUri: input.jwks_uri,
    firstParty: input.first_party,
    grantTypes: input.grant_types,
    scopes: input.scope === undefined ? undefined : splitScope(input.scope),
    tokenLifetimes: lifetimes(input),
    backchannelLogoutUri: input.backchannel_logout_uri,
    dpopBoundAccessTokens: input.dpop_bound_access_tokens,
    pkceRequired: input.pkce_required,
  };
}

/** Never includes the secret or its hash. */
export function clientToJson(client: ClientRecord) {
  return {
    client_id: client.clientId,
    client_name: client.name,
    ...(client.logoUri ? { logo_uri: client.logoUri } : {}),
    redirect_uris: [...client.redirectUris],
    post_logout_redirect_uris: [...client.postLogoutRedirectUris],
    token_endpoint_auth_method: client.authMethod,
    ...(client.jwks ? { jwks: client.jwks } : {}),
    ...(client.jwksUri ? { jwks_uri: client.jwksUri } : {}),
    grant_types: [...client.grantTypes],
    scope: client.scopes.join(' '),
    first_party: client.firstParty,
    ...(client.tokenLifetimes.accessToken ? { access_token_ttl: client.tokenLifetimes.accessToken } : {}),
    ...(client.tokenLifetimes.idToken ? { id_token_ttl: client.tokenLifetimes.idToken } : {}),
    ...(client.tokenLifetimes.refreshToken ? { refresh_token_ttl: client.tokenLifetimes.refreshToken } : {}),
    ...(client.backchannelLogoutUri ? { backchannel_logout_uri: client.backchannelLogoutUri } : {}),
    dpop_bound_access_tokens: client.dpopBoundAccessTokens,
    pkce_required: client.pkceRequired,
    enabled: client.enabled,
    registered_by: client.source,
    created_at: new Date(client.createdAt).toISOString(),
    updated_at: new Date(client.updatedAt).toISOString(),
  };
}

export const splitScope = (scope: string): string[] => [...new Set(scope.split(' ').filter(Boolean))];

function lifetimes(input: { access_token_ttl?: number; id_token_ttl?: number; refresh_token_ttl?: number }): TokenLifetimes | undefined {
  const result: { -readonly [K in keyof TokenLifetimes]: TokenLifetimes[K] } = {};
  if (input.access_token_ttl !== undefined) result.accessToken = input.access_token_ttl;
  if (input.id_token_ttl !== undefined) result.idToken = input.id_token_ttl;
  if (input.refresh_token_ttl !== undefined) result.refreshToken = input.refresh_token_ttl;
  return Object.keys(result).length ? result : undefined;
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) =>
    issue.code === 'unrecognized_keys' ? `${issue.keys.join(', ')}: unknown field${issue.keys.length > 1 ? 's' : ''}` : `${issue.path.join('.') || 'body'}: ${issue.message}`,
  );
  throw new AppError('invalid_client_metadata', 422, problems.join('; '), { params: { details: problems.join('; ') } });
}
