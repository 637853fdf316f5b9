import { AsyncLocalStorage } from 'node:async_hooks';
import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { fixedSql, isDatabaseBusy, type Db, type FixedSql } from './db.js';

const TABLE = 'oidc_payloads';

/** Where oidc-provider's `Client` model is answered from: our clients table, not the payload table. */
export interface ClientMetadataSource {
  findProviderMetadata(clientId: string): Promise<AdapterPayload | undefined>;
  /** a client registered or updated through Dynamic Client Registration */
  saveProviderMetadata(clientId: string, metadata: AdapterPayload): Promise<void>;
  /** a dynamically registered client deleting itself (RFC 7592) */
  removeClient(clientId: string): Promise<void>;
}

interface PayloadRow {
  payload: string;
  expires_at: number | null;
  consumed_at: number | null;
}

/**
 * oidc-provider's storage, one table for every model. The library checks `consumed` and then calls
 * `consume()` as two separate steps, so `consume` is the only place a concurrent second redemption
 * of a code or refresh token can be stopped: a guarded UPDATE, and InvalidGrant when it changed nothing.
 */
export function createAdapterFactory(db: Db, clients: ClientMetadataSource): (name: string) => Adapter {
  const sql = fixedSql(db);
  return (name: string) => busyAware(name === 'Client' ? new ClientAdapter(clients) : new SqlAdapter(sql, name));
}

/**
 * oidc-provider turns any adapter error into a 500. A locked or overloaded database is not a
 * server bug: the request is marked so that the HTTP layer answers 503 with Retry-After instead.
 */
function busyAware(adapter: Adapter): Adapter {
  return new Proxy(adapter, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        try {
          return await value.apply(target, args);
        } catch (error) {
          if (isDatabaseBusy(error)) {
            const state = (Provider as unknown as { ctx?: { state: Record<string, unknown> } }).ctx?.state;
            if (state) state.databaseBusy = true;
          }
          throw error;
        }
      };
    },
  });
}

/** Rows read during one HTTP request, by model, look-up column and value (undefined: no row). */
type RequestMemo = Map<string, PayloadRow | undefined>;

const requestMemo = new AsyncLocalStorage<RequestMemo>();

/**
 * Runs one HTTP request with its own memo of oidc-provider's reads. The library reads the same
 * artefact several times in one request (interactionDetails and then interactionResult both load
 * the interaction and its session; the consent step reads the grant it then saves): within the
 * request the second read is answered from the first. Any write of a model through this adapter
 * forgets that model's rows, so a request always sees its own writes. Nothing outlives the
 * request: another request (or instance) always reads the database, and single use stays with
 * the guarded UPDATE in `consume`, which never consults the memo.
 */
export function withRequestMemo<T>(fn: () => T): T {
  return requestMemo.run(new Map(), fn);
}

/**
 * The adapter's statements as fixed SQL (see `FixedSql`): oidc-provider calls the adapter ~25
 * times per sign-in, and building each statement with knex's query builder cost about as much CPU
 * as running it. Both databases accept `INSERT … ON CONFLICT … DO UPDATE`.
 */
const SQL = {
  upsert: `insert into ${TABLE} (type, id, payload, grant_id, uid, user_code, account_id, expires_at) values (?, ?, ?, ?, ?, ?, ?, ?)
    on conflict (type, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
    user_code = excluded.user_code, account_id = excluded.account_id, expires_at = excluded.expires_at`,
  find: {
    id: `select payload, expires_at, consumed_at from ${TABLE} where type = ? and id = ? limit 1`,
    uid: `select payload, expires_at, consumed_at from ${TABLE} where type = ? and uid = ? limit 1`,
    user_code: `select payload, expires_at, consumed_at from ${TABLE} where type = ? and user_code = ? limit 1`,
  },
  // `consumed_at IS NULL` makes check-and-set one statement: of two concurrent redemptions only
  // one changes the row, the other sees 0 rows and is refused
  consume: `update ${TABLE} set consumed_at = ? where type = ? and id = ? and consumed_at is null`,
  destroy: `delete from ${TABLE} where type = ? and id = ?`,
  revokeByGrantId: `delete from ${TABLE} where grant_id = ?`,
} as const;

type LookupColumn = keyof typeof SQL.find;

class SqlAdapter implements Adapter {
  constructor(private readonly sql: FixedSql, private readonly type: string) {}

  /** Forgets this model's memoised rows of the current request (after a write of this model). */
  private forget(all = false): void {
    const memo = requestMemo.getStore();
    if (!memo) return;
    if (all) return memo.clear();
    const prefix = `${this.type}\0`;
    for (const key of memo.keys()) if (key.startsWith(prefix)) memo.delete(key);
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const values = [
      this.type,
      id,
      JSON.stringify(payload),
      payload.grantId ?? null,
      payload.uid ?? null,
      payload.userCode ?? null,
      payload.accountId ?? null,
      expiresIn ? Date.now() + expiresIn * 1000 : null,
    ];
    this.forget();
    await this.sql.changes(SQL.upsert, values);
    this.forget(); // and a read of this request that was under way meanwhile
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.first('id', id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.first('uid', uid);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.first('user_code', userCode);
  }

  async consume(id: string): Promise<void> {
    this.forget();
    const changed = await this.sql.changes(SQL.consume, [Date.now(), this.type, id]);
    if (changed === 0) throw new errors.InvalidGrant(`${this.type} already consumed`);
  }

  async destroy(id: string): Promise<void> {
    this.forget();
    await this.sql.changes(SQL.destroy, [this.type, id]);
    this.forget();
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.forget(true);
    await this.sql.changes(SQL.revokeByGrantId, [grantId]);
    this.forget(true);
  }

  private async first(column: LookupColumn, value: string): Promise<AdapterPayload | undefined> {
    const memo = requestMemo.getStore();
    const key = `${this.type}\0${column}\0${value}`;
    let row: PayloadRow | undefined;
    if (memo?.has(key)) {
      row = memo.get(key);
    } else {
      [row] = await this.sql.rows<PayloadRow>(SQL.find[column], [this.type, value]);
      memo?.set(key, row);
    }
    if (!row) return undefined;
    if (row.expires_at !== null && row.expires_at <= Date.now()) return undefined;
    const payload = JSON.parse(row.payload) as AdapterPayload;
    if (row.consumed_at !== null) payload.consumed = Math.floor(row.consumed_at / 1000);
    return payload;
  }
}

/** Clients are managed by Sesame's own client service (CLI, admin API); the provider only reads them. */
class ClientAdapter implements Adapter {
  constructor(private readonly clients: ClientMetadataSource) {}

  find(id: string): Promise<AdapterPayload | undefined> {
    return this.clients.findProviderMetadata(id);
  }

  upsert(id: string, payload: AdapterPayload): Promise<void> {
    return this.clients.saveProviderMetadata(id, payload);
  }

  destroy(id: string): Promise<void> {
    return this.clients.removeClient(id);
  }

  async findByUid(): Promise<undefined> { return undefined; }
  async findByUserCode(): Promise<undefined> { return undefined; }
  async consume(): Promise<void> {}
  async revokeByGrantId(): Promise<void> {}
}
