import type { AuthMethod, ClientRecord, ClientSource, ClientStore, GrantType, PublicJwks, RegistrationPosition, TokenLifetimes } from '../clients/client.js';
import { fixedSql, type Db } from './db.js';
import { forgetMemo, memoKey, requestMemo } from './request-memo.js';

interface ClientRow {
  client_id: string;
  metadata: string;
  secret_hash: string | null;
  first_party: boolean | number;
  enabled: boolean | number;
  created_at: number;
  updated_at: number;
}

const CLIENT_COLUMNS = 'client_id, metadata, secret_hash, first_party, enabled, created_at, updated_at';

/** The metadata column; fields added after the first release are optional and get their old meaning when absent. */
interface StoredMetadata {
  name: string;
  logoUri?: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  isPublic: boolean;
  grantTypes: GrantType[];
  authMethod?: AuthMethod;
  jwks?: PublicJwks;
  jwksUri?: string;
  scopes?: string[];
  tokenLifetimes?: TokenLifetimes;
  backchannelLogoutUri?: string;
  dpopBoundAccessTokens?: boolean;
  /** absent: required (as for every client before it could be relaxed) */
  pkceRequired?: boolean;
  source?: ClientSource;
}

export class KnexClientStore implements ClientStore {
  constructor(private readonly db: Db) {}

  async insert(record: ClientRecord): Promise<void> {
    forgetMemo('clients');
    await this.db('clients').insert({ client_id: record.clientId, ...toRow(record), created_at: record.createdAt });
  }

  async update(record: ClientRecord): Promise<boolean> {
    forgetMemo('clients');
    return (await this.db('clients').where({ client_id: record.clientId }).update(toRow(record))) === 1;
  }

  async findById(clientId: string): Promise<ClientRecord | undefined> {
    // Read by every request that names a client, never kept past the request: a client disabled or
    // changed on any instance stops or changes at once everywhere. Within one request the reads
    // after the first (oidc-provider's, the pages') are answered from the request memo.
    const memo = requestMemo();
    const key = memoKey('clients', 'client_id', clientId);
    let row: ClientRow | undefined;
    if (memo?.has(key)) {
      row = memo.get(key) as ClientRow | undefined;
    } else {
      [row] = await fixedSql(this.db).rows<ClientRow>(`select ${CLIENT_COLUMNS} from clients where client_id = ? limit 1`, [clientId]);
      memo?.set(key, row);
    }
    return row && toRecord(row);
  }

  async list(): Promise<ClientRecord[]> {
    const rows = await this.db<ClientRow>('clients').orderBy('created_at');
    return rows.map(toRecord);
  }

  async listAfter(after: RegistrationPosition | undefined, limit: number): Promise<ClientRecord[]> {
    const query = this.db<ClientRow>('clients').orderBy([{ column: 'created_at' }, { column: 'client_id' }]).limit(limit);
    if (after) {
      query.where((q) => q.where('created_at', '>', after.createdAt).orWhere((same) => same.where('created_at', after.createdAt).andWhere('client_id', '>', after.clientId)));
    }
    return (await query).map(toRecord);
  }

  async remove(clientId: string): Promise<boolean> {
    forgetMemo('clients');
    return (await this.db('clients').where({ client_id: clientId }).delete()) > 0;
  }
}

function toRow(record: ClientRecord) {
  const metadata: StoredMetadata = {
    name: record.name,
    logoUri: record.logoUri,
    redirectUris: [...record.redirectUris],
    postLogoutRedirectUris: [...record.postLogoutRedirectUris],
    // kept for rows read by an older release, which knew only public or not
    isPublic: record.authMethod === 'none',
    grantTypes: [...record.grantTypes],
    authMethod: record.authMethod,
    jwks: record.jwks,
    jwksUri: record.jwksUri,
    scopes: [...record.scopes],
    tokenLifetimes: record.tokenLifetimes,
    backchannelLogoutUri: record.backchannelLogoutUri,
    dpopBoundAccessTokens: record.dpopBoundAccessTokens,
    ...(record.pkceRequired ? {} : { pkceRequired: false }),
    source: record.source,
  };
  return {
    metadata: JSON.stringify(metadata),
    secret_hash: record.secretHash ?? null,
    first_party: record.firstParty,
    enabled: record.enabled,
    updated_at: record.updatedAt,
  };
}

function toRecord(row: ClientRow): ClientRecord {
  const { isPublic, ...metadata } = JSON.parse(row.metadata) as StoredMetadata;
  return {
    clientId: row.client_id,
    ...metadata,
    authMethod: metadata.authMethod ?? (isPublic ? 'none' : 'client_secret_basic'),
    scopes: metadata.scopes ?? ['openid', 'email', 'offline_access'],
    tokenLifetimes: metadata.tokenLifetimes ?? {},
    dpopBoundAccessTokens: metadata.dpopBoundAccessTokens ?? false,
    pkceRequired: metadata.pkceRequired ?? true,
    source: metadata.source ?? 'operator',
    secretHash: row.secret_hash ?? undefined,
    firstParty: Boolean(row.first_party),
    enabled: Boolean(row.enabled),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
