import type { KeyedHasher } from '../shared/crypto.js';
import { randomToken } from '../shared/crypto.js';
import { AppError, notFound } from '../shared/errors.js';
import type { ClientRecord, ClientStore } from './client.js';
import { checkRedirectUri } from './redirect-uri.js';

export const CLIENT_SECRET_PURPOSE = 'client-secret';

export interface NewClient {
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  logoUri?: string;
  isPublic?: boolean;
  firstParty?: boolean;
}

export interface ClientChanges {
  name?: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  logoUri?: string | null;
  firstParty?: boolean;
}

export interface CreatedClient {
  client: ClientRecord;
  /** only for confidential clients, and only here: it is not stored */
  clientSecret?: string;
}

export class ClientService {
  constructor(private readonly store: ClientStore, private readonly hasher: KeyedHasher) {}

  async add(input: NewClient): Promise<CreatedClient> {
    const problems = validate(input);
    if (problems.length) throw new AppError('invalid_client_metadata', 422, problems.join('; '), { params: { details: problems.join('; ') } });
    const now = Date.now();
    const clientId = randomToken(16);
    const clientSecret = input.isPublic ? undefined : randomToken(32);
    const client: ClientRecord = {
      clientId,
      name: input.name.trim(),
      logoUri: input.logoUri,
      redirectUris: input.redirectUris,
      postLogoutRedirectUris: input.postLogoutRedirectUris ?? [],
      isPublic: Boolean(input.isPublic),
      firstParty: Boolean(input.firstParty),
      enabled: true,
      grantTypes: ['authorization_code', 'refresh_token'],
      secretHash: clientSecret && this.hasher.hash(CLIENT_SECRET_PURPOSE, clientSecret),
      createdAt: now,
      updatedAt: now,
    };
    await this.store.insert(client);
    return { client, clientSecret };
  }

  list(): Promise<ClientRecord[]> {
    return this.store.list();
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
    const next: ClientRecord = {
      ...current,
      ...(changes.name !== undefined ? { name: changes.name.trim() } : {}),
      ...(changes.redirectUris !== undefined ? { redirectUris: changes.redirectUris } : {}),
      ...(changes.postLogoutRedirectUris !== undefined ? { postLogoutRedirectUris: changes.postLogoutRedirectUris } : {}),
      ...(changes.logoUri !== undefined ? { logoUri: changes.logoUri ?? undefined } : {}),
      ...(changes.firstParty !== undefined ? { firstParty: changes.firstParty } : {}),
      updatedAt: Date.now(),
    };
    const problems = validate({ ...next, redirectUris: [...next.redirectUris], postLogoutRedirectUris: [...next.postLogoutRedirectUris] });
    if (problems.length) throw new AppError('invalid_client_metadata', 422, problems.join('; '), { params: { details: problems.join('; ') } });
    await this.#save(next);
    return next;
  }

  /** A disabled client cannot start sign-ins or use its tokens until it is enabled again. */
  async setEnabled(clientId: string, enabled: boolean): Promise<ClientRecord> {
    const next = { ...(await this.get(clientId)), enabled, updatedAt: Date.now() };
    await this.#save(next);
    return next;
  }

  /** A new secret for a confidential client, returned once; the old one stops working at once. */
  async rotateSecret(clientId: string): Promise<{ client: ClientRecord; clientSecret: string }> {
    const current = await this.get(clientId);
    if (current.isPublic) throw new AppError('public_client', 409, 'a public client has no secret to rotate');
    const clientSecret = randomToken(32);
    const next = { ...current, secretHash: this.hasher.hash(CLIENT_SECRET_PURPOSE, clientSecret), updatedAt: Date.now() };
    await this.#save(next);
    return { client: next, clientSecret };
  }

  async #save(record: ClientRecord): Promise<void> {
    if (!(await this.store.update(record))) throw notFound('client_not_found', `no client with id ${record.clientId}`);
  }

  async remove(clientId: string): Promise<void> {
    if (!(await this.store.remove(clientId))) throw notFound('client_not_found', `no client with id ${clientId}`);
  }

  verifySecret(client: Pick<ClientRecord, 'secretHash'>, presented: string): boolean {
    return Boolean(client.secretHash) && this.hasher.verify(CLIENT_SECRET_PURPOSE, presented, client.secretHash!);
  }
}

function validate(input: NewClient): string[] {
  const problems: string[] = [];
  if (typeof input.name !== 'string' || !input.name.trim()) problems.push('name: required');
  else if (input.name.length > 100) problems.push('name: at most 100 characters');
  if (!Array.isArray(input.redirectUris) || input.redirectUris.length === 0) problems.push('redirect_uris: at least one is required');
  for (const [field, uris] of [['redirect_uris', input.redirectUris ?? []], ['post_logout_redirect_uris', input.postLogoutRedirectUris ?? []]] as const) {
    for (const uri of uris) {
      const checked = checkRedirectUri(uri);
      if ('error' in checked) problems.push(`${field}: ${checked.error}`);
    }
  }
  if (input.logoUri !== undefined) {
    try {
      if (new URL(input.logoUri).protocol !== 'https:') problems.push('logo_uri: must be an https URL');
    } catch {
      problems.push('logo_uri: must be an absolute https URL');
    }
  }
  return problems;
}
