import type { KeyedHasher } from '../shared/crypto.js';
import { randomId, randomToken } from '../shared/crypto.js';
import { AppError, notFound } from '../shared/errors.js';
import type { AuthMethod, ClientRecord, ClientSource, ClientStore, GrantType, PublicJwks, RegistrationPosition, TokenLifetimes } from './client.js';
import { checked, invalid, withDefaults, type ClientMetadata, type NewClient } from './client-rules.js';

export type { NewClient } from './client-rules.js';

export const CLIENT_SECRET_PURPOSE = 'client-secret';

/** A field left undefined is unchanged; `null` removes an optional one. Lists given replace the old ones. */
export interface ClientChanges {
  name?: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  logoUri?: string | null;
  authMethod?: AuthMethod;
  jwks?: PublicJwks | null;
  jwksUri?: string | null;
  firstParty?: boolean;
  grantTypes?: GrantType[];
  scopes?: string[];
  tokenLifetimes?: TokenLifetimes;
  backchannelLogoutUri?: string | null;
  dpopBoundAccessTokens?: boolean;
  pkceRequired?: boolean;
}

export interface CreatedClient {
  client: ClientRecord;
  /** only for clients authenticating with a secret, and only here: it is not stored */
  clientSecret?: string;
}

const SECRET_METHODS: readonly AuthMethod[] = ['client_secret_basic', 'client_secret_post'];
export const usesSecret = (method: AuthMethod): boolean => SECRET_METHODS.includes(method);

export class ClientService {
  constructor(private readonly store: ClientStore, private readonly hasher: KeyedHasher) {}

  async add(input: NewClient): Promise<CreatedClient> {
    const metadata = withDefaults(input);
    const clientSecret = usesSecret(metadata.authMethod) ? randomToken(32) : undefined;
    const client = this.#record(randomId(), metadata, { firstParty: Boolean(input.firstParty), source: 'operator', clientSecret });
    await this.store.insert(client);
    return { client, clientSecret };
  }

  /**
   * Creates or updates a client registered by the app itself (Dynamic Client Registration). The
   * same rules apply as for operators, but such a client is never made first-party (it cannot skip
   * consent) and cannot choose its token lifetimes. An update (RFC 7592) may narrow what the client
   * does, never widen it, and keeps what an operator set: lifetimes, DPoP binding, first-party,
   * the secret (oidc-provider hands back whatever hash it last read; only a new registration's
   * secret is hashed here) and the auth method.
   */
  async saveDynamic(clientId: string, input: Omit<NewClient, 'firstParty' | 'tokenLifetimes'>, clientSecret: string | undefined): Promise<void> {
    const current = await this.store.findById(clientId);
    const metadata = withDefaults({ ...input, tokenLifetimes: undefined });
    if (!current) {
      const record = this.#record(clientId, metadata, { firstParty: false, source: 'dynamic', clientSecret });
      await this.store.insert(record);
      return;
    }
    if (current.source !== 'dynamic') throw new AppError('client_not_dynamic', 409, 'the client was registered by an operator');
    const problems: string[] = [];
    if (metadata.authMethod !== current.authMethod) problems.push(`token_endpoint_auth_method: a registration update cannot change ${current.authMethod}`);
    const added = [...metadata.grantTypes.filter((grant) => !current.grantTypes.includes(grant)), ...metadata.scopes.filter((scope) => !current.scopes.includes(scope))];
    if (added.length) problems.push(`grant_types/scope: a registration update cannot add ${added.join(', ')}; ask the operator`);
    if (problems.length) throw invalid(problems);
    const kept = { ...metadata, tokenLifetimes: current.tokenLifetimes, dpopBoundAccessTokens: current.dpopBoundAccessTokens || metadata.dpopBoundAccessTokens, pkceRequired: current.pkceRequired };
    const record = this.#record(clientId, kept, { firstParty: current.firstParty, source: 'dynamic' });
    const next: ClientRecord = { ...record, secretHash: current.secretHash, enabled: current.enabled, createdAt: current.createdAt };
    await this.#save(next);
  }

  list(): Promise<ClientRecord[]> {
    return this.store.list();
  }

  /** One page of clients in the order they were registered, after `after` (the last one of the previous page). */
  listAfter(after: RegistrationPosition | undefined, limit: number): Promise<ClientRecord[]> {
    return this.store.listAfter(after, limit);
  }

  async get(clientId: string): Promise<ClientRecord> {
    const client = await this.store.findById(clientId);
    if (!client) throw notFound('client_not_found', `no client with id ${clientId}`);
    return client;
  }

  find(clientId: string): Promise<ClientRecord | undefined> {
    return this.store.findById(clientId);
  }

  /** Changes metadata; the same rules as at registration apply to the result. */
  async update(clientId: string, changes: ClientChanges): Promise<ClientRecord> {
    const current = await this.get(clientId);
    if (changes.authMethod !== undefined && changes.authMethod !== current.authMethod && usesSecret(changes.authMethod) !== usesSecret(current.authMethod)) {
      throw invalid([`token_endpoint_auth_method: cannot change from ${current.authMethod} to ${changes.authMethod}; register a new client instead`]);
    }
    const pick = <K extends keyof ClientChanges>(key: K, fallback: unknown) => (changes[key] === undefined ? fallback : (changes[key] ?? undefined));
    const metadata: ClientMetadata = checked({
      name: (pick('name', current.name) as string).trim(),
      redirectUris: pick('redirectUris', current.redirectUris) as string[],
      postLogoutRedirectUris: pick('postLogoutRedirectUris', current.postLogoutRedirectUris) as string[],
      logoUri: pick('logoUri', current.logoUri) as string | undefined,
      authMethod: pick('authMethod', current.authMethod) as AuthMethod,
      jwks: pick('jwks', current.jwks) as PublicJwks | undefined,
      jwksUri: pick('jwksUri', current.jwksUri) as string | undefined,
      grantTypes: pick('grantTypes', current.grantTypes) as GrantType[],
      scopes: pick('scopes', current.scopes) as string[],
      tokenLifetimes: { ...current.tokenLifetimes, ...changes.tokenLifetimes },
      backchannelLogoutUri: pick('backchannelLogoutUri', current.backchannelLogoutUri) as string | undefined,
      dpopBoundAccessTokens: pick('dpopBoundAccessTokens', current.dpopBoundAccessTokens) as boolean,
      pkceRequired: pick('pkceRequired', current.pkceRequired) as boolean,
    });
    const next: ClientRecord = { ...current, ...metadata, firstParty: changes.firstParty ?? current.firstParty, updatedAt: Date.now() };
    await this.#save(next);
    return next;
  }

  /** A disabled client cannot start sign-ins or use its tokens until it is enabled again. */
  async setEnabled(clientId: string, enabled: boolean): Promise<ClientRecord> {
    const next = { ...(await this.get(clientId)), enabled, updatedAt: Date.now() };
    await this.#save(next);
    return next;
  }

  /** A new secret for a client authenticating with one, returned once; the old one stops working at once. */
  async rotateSecret(clientId: string): Promise<{ client: ClientRecord; clientSecret: string }> {
    const current = await this.get(clientId);
    if (!usesSecret(current.authMethod)) {
      throw new AppError('no_client_secret', 409, current.authMethod === 'none' ? 'a public client has no secret to rotate' : `a client using ${current.authMethod} has no secret to rotate`);
    }
    const clientSecret = randomToken(32);
    const next = { ...current, secretHash: this.hasher.hash(CLIENT_SECRET_PURPOSE, clientSecret), updatedAt: Date.now() };
    await this.#save(next);
    return { client: next, clientSecret };
  }

  async remove(clientId: string): Promise<void> {
    if (!(await this.store.remove(clientId))) throw notFound('client_not_found', `no client with id ${clientId}`);
  }

  verifySecret(client: Pick<ClientRecord, 'secretHash'>, presented: string): boolean {
    return Boolean(client.secretHash) && this.hasher.verify(CLIENT_SECRET_PURPOSE, presented, client.secretHash!);
  }

  async #save(record: ClientRecord): Promise<void> {
    if (!(await this.store.update(record))) throw notFound('client_not_found', `no client with id ${record.clientId}`);
  }

  #record(clientId: string, metadata: ClientMetadata, extra: { firstParty: boolean; source: ClientSource; clientSecret?: string }): ClientRecord {
    const now = Date.now();
    return {
      clientId,
      ...checked(metadata),
      name: metadata.name.trim(),
      firstParty: extra.firstParty,
      enabled: true,
      source: extra.source,
      secretHash: extra.clientSecret && this.hasher.hash(CLIENT_SECRET_PURPOSE, extra.clientSecret),
      createdAt: now,
      updatedAt: now,
    };
  }
}

