/** How a client proves itself at the token endpoint; `none` is a public client (SPA, native app) using PKCE alone. */
export const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

/** Every scope Sesame knows; a client may be limited to some of them. */
export const SCOPES = ['openid', 'email', 'profile', 'offline_access'] as const;

/** Per-client token lifetimes in seconds; an absent value means the server default. */
export interface TokenLifetimes {
  readonly accessToken?: number;
  readonly idToken?: number;
  readonly refreshToken?: number;
}

/** A public JSON Web Key Set (private_key_jwt clients sign their assertions with the matching private keys). */
export interface PublicJwks {
  readonly keys: readonly Record<string, unknown>[];
}

/** Who registered the client: an operator (CLI, admin API) or the app itself (Dynamic Client Registration). */
export type ClientSource = 'operator' | 'dynamic';

export interface ClientRecord {
  readonly clientId: string;
  readonly name: string;
  readonly logoUri?: string;
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris: readonly string[];
  /** `none`: a public client (SPA, native app) with no secret, authenticating with PKCE alone */
  readonly authMethod: AuthMethod;
  readonly jwks?: PublicJwks;
  readonly jwksUri?: string;
  /** first-party clients skip the consent page */
  readonly firstParty: boolean;
  readonly enabled: boolean;
  readonly grantTypes: readonly GrantType[];
  /** the scopes this client may ask for */
  readonly scopes: readonly string[];
  readonly tokenLifetimes: TokenLifetimes;
  /** where a logout token is posted when a person signs out (OpenID Connect Back-Channel Logout) */
  readonly backchannelLogoutUri?: string;
  /** access and refresh tokens must be DPoP-bound */
  readonly dpopBoundAccessTokens: boolean;
  /** false only for a confidential client an operator allowed to send no PKCE (it must send a nonce then) */
  readonly pkceRequired: boolean;
  readonly source: ClientSource;
  /** keyed hash of the client secret; the secret itself is shown once and never stored */
  readonly secretHash?: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** Where a client stands in the order of registration: a page boundary of a client list. */
export type RegistrationPosition = Pick<ClientRecord, 'createdAt' | 'clientId'>;

export interface ClientStore {
  insert(record: ClientRecord): Promise<void>;
  findById(clientId: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  /** up to `limit` clients in the order they were registered (`createdAt`, then `clientId`), after `after` */
  listAfter(after: RegistrationPosition | undefined, limit: number): Promise<ClientRecord[]>;
  /** replaces the stored record (same client id); false when there is no such client */
  update(record: ClientRecord): Promise<boolean>;
  remove(clientId: string): Promise<boolean>;
}
