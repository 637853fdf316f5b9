import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { currentRequestState } from '../oidc/patches.js';
import type { KeyedHasher, SecretBox } from '../shared/crypto.js';
import { ACCOUNT_COLUMNS, type AccountRow } from './account-store.js';
import { fixedSql, isDatabaseUnavailable, type Db, type FixedSql, type Write } from './db.js';
import { forgetMemo, memoKey, requestMemo, type RequestMemo } from './request-memo.js';
import { collectingUnit } from './unit-of-work.js';

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
  /** the stored id (a hash for HASHED_MODELS) and the grant, when known */
  id?: string;
  grant_id?: string | null;
}

/**
 * The models whose id is itself the proof a client or browser presents: an opaque token or code is
 * its id, the session cookie carries the session's id, a PAR request_uri ends in its id. Their rows
 * are stored under a keyed hash of the id (and of a device flow's user code), and their payloads
 * keep no copy of it, so a copy of the database holds nothing that works. Interactions (their uid
 * travels in URLs and is bound by a signed cookie), grants and replay records are not proofs.
 */
const HASHED_MODELS = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'ClientCredentials', 'DeviceCode', 'BackchannelAuthenticationRequest',
  'RegistrationAccessToken', 'InitialAccessToken', 'PushedAuthorizationRequest', 'Session', 'PreAuthorizedCode',
]);

/** The models a grant issues, which go when it is revoked (oidc-provider's memory adapter's list). */
const GRANTABLE_MODELS = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

/** A stored id that is a hash: `.` never occurs in oidc-provider's ids (base64url), so old rows are told apart. */
const HASHED_ID_PREFIX = 'h.';
const ID_PURPOSE = 'token id';
const USER_CODE_PURPOSE = 'user code';

/** What the adapter needs to keep ids unusable at rest. */
export interface PayloadSecrets {
  /** keyed hashes of ids and user codes (newest secret first, every configured one still found) */
  hasher: Pick<KeyedHasher, 'current'>;
  /** seals the one id an interaction keeps (the PAR it resumes) */
  box: Pick<SecretBox, 'seal' | 'open'>;
}

/**
 * oidc-provider's storage, one table for every model. The library checks `consumed` and then calls
 * `consume()` as two separate steps, so `consume` is the only place a concurrent second redemption
 * of a code or refresh token can be stopped: a guarded UPDATE, and InvalidGrant when it changed nothing.
 * Within an HTTP request the writes go to the request's unit of work (unit-of-work.ts), to be
 * stored together at its end, and the request reads them back from what it has pending (below).
 */
export function createAdapterFactory(db: Db, clients: ClientMetadataSource, secrets: PayloadSecrets): (name: string) => Adapter {
  const sql = fixedSql(db);
  return (name: string) => busyAware(name === 'Client' ? new ClientAdapter(clients) : new SqlAdapter(db, sql, name, secrets));
}

/** The ids a model's row may be stored under, the one to write first. */
function storedIds(secrets: PayloadSecrets, type: string, id: string): string[] {
  if (!HASHED_MODELS.has(type)) return [id];
  return secrets.hasher.current(ID_PURPOSE, id).map((hash) => HASHED_ID_PREFIX + hash);
}

function storedUserCode(secrets: PayloadSecrets, userCode: string): string[] {
  return secrets.hasher.current(USER_CODE_PURPOSE, userCode);
}

/**
 * What is written of a payload: no copy of a hashed model's id (`jti`, restored on read by id),
 * a device flow's user code sealed, and an interaction keeps neither its session's cookie value
 * (oidc-provider copies it there and never reads it back) nor its PAR's id in the clear.
 */
function payloadToStore(secrets: PayloadSecrets, type: string, payload: AdapterPayload): AdapterPayload {
  if (HASHED_MODELS.has(type)) {
    const { jti: _jti, ...rest } = payload;
    // found by id, a device code still needs its user code (never enabled today, kept correct)
    if (typeof rest.userCode === 'string') rest.userCode = secrets.box.seal(rest.userCode, `userCode ${type}`);
    return rest;
  }
  if (type !== 'Interaction') return payload;
  const stored: AdapterPayload = { ...payload };
  if (stored.session?.cookie) {
    const { cookie: _cookie, ...session } = stored.session;
    stored.session = session;
  }
  if (typeof stored.parJti === 'string' && !stored.parJti.startsWith(SEALED)) stored.parJti = secrets.box.seal(stored.parJti, `parJti ${stored.jti}`);
  return stored;
}

const SEALED = 'v1.';

function payloadRead(secrets: PayloadSecrets, type: string, payload: AdapterPayload, id: string | undefined): AdapterPayload {
  if (HASHED_MODELS.has(type)) {
    if (id !== undefined) payload.jti = id;
    if (typeof payload.userCode === 'string') payload.userCode = secrets.box.open(payload.userCode, `userCode ${type}`)?.plaintext;
  }
  if (type === 'Interaction' && typeof payload.parJti === 'string' && payload.parJti.startsWith(SEALED)) {
    payload.parJti = secrets.box.open(payload.parJti, `parJti ${payload.jti}`)?.plaintext;
  }
  return payload;
}

/**
 * oidc-provider turns any adapter error into a 500. A locked, overloaded or unavailable database
 * (restarting, full, read-only) is not a server bug: the request is marked so that the HTTP layer
 * answers 503 with Retry-After instead.
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
          if (isDatabaseUnavailable(error)) {
            const state = currentRequestState();
            if (state) state.databaseUnavailable = true;
          }
          throw error;
        }
      };
    },
  });
}

/**
 * Runs one HTTP request with its own memo of oidc-provider's reads (see request-memo.ts). The
 * library reads the same artefact several times in one request (interactionDetails and then
 * interactionResult both load the interaction and its session; the consent step reads the grant it
 * then saves): within the request the second read is answered from the first. A token, code,
 * session or interaction is read together with its grant and its account in one statement, which
 * answers the library's next reads of those in the same request (userinfo: token, grant, account).
 * Single use stays with the guarded UPDATE in `consume`, which never consults the memo.
 */
export { withRequestMemo } from './request-memo.js';

/** A payload with its grant and its account, when it has them (a grant's own row has neither). */
const JOINED = `select t.type, t.id, t.payload, t.expires_at, t.consumed_at, t.grant_id,
    g.payload as grant_payload, g.expires_at as grant_expires_at, g.consumed_at as grant_consumed_at,
    ${ACCOUNT_COLUMNS.map((column) => `a.${column} as account_${column}`).join(', ')}
  from ${TABLE} t
  left join ${TABLE} g on g.type = 'Grant' and g.id = t.grant_id
  left join accounts a on a.id = t.account_id`;

type JoinedRow = PayloadRow & { type: string; id: string; grant_id: string | null; grant_payload: string | null; grant_expires_at: number | null; grant_consumed_at: number | null }
  & { [K in keyof AccountRow as `account_${K & string}`]: AccountRow[K] | null };

/**
 * The adapter's statements as fixed SQL (see `FixedSql`): oidc-provider calls the adapter ~25
 * times per sign-in, and building each statement with knex's query builder cost about as much CPU
 * as running it. Both databases accept `INSERT … ON CONFLICT … DO UPDATE`.
 */
const SQL = {
  /** rows of this model under an older secret's hash (while HMAC_SECRETS is rotated) */
  dropOlder: (ids: number) => `delete from ${TABLE} where type = ? and id in (${marks(ids)})`,
  upsert: `insert into ${TABLE} (type, id, payload, grant_id, uid, user_code, account_id, expires_at) values (?, ?, ?, ?, ?, ?, ?, ?)
    on conflict (type, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
    user_code = excluded.user_code, account_id = excluded.account_id, expires_at = excluded.expires_at`,
  find: {
    id: (types: number, ids: number) => `${JOINED} where t.type in (${marks(types)}) and t.id in (${marks(ids)})`,
    uid: `${JOINED} where t.type = ? and t.uid = ? limit 1`,
    user_code: (codes: number) => `${JOINED} where t.type = ? and t.user_code in (${marks(codes)}) limit 1`,
  },
  // `consumed_at IS NULL` makes check-and-set one statement: of two concurrent redemptions only
  // one changes the row, the other sees 0 rows and is refused
  consume: (ids: number) => `update ${TABLE} set consumed_at = ? where type = ? and id in (${marks(ids)}) and consumed_at is null`,
  destroy: (ids: number) => `delete from ${TABLE} where type = ? and id in (${marks(ids)})`,
  // only the artefacts a grant issued: an interaction also carries the grant id (of the grant it
  // may extend), and deleting it would strand a sign-in that signs the previous account out first
  revokeByGrantId: `delete from ${TABLE} where grant_id = ? and type in (${[...GRANTABLE_MODELS].map((type) => `'${type}'`).join(', ')})`,
} as const;

function marks(n: number): string {
  return new Array(n).fill('?').join(', ');
}

type LookupColumn = keyof typeof SQL.find;

/** Look-ups by id started in one turn of the event loop of one request, answered by one statement. */
interface IdBatch {
  types: Set<string>;
  rows: Promise<JoinedRow[]>;
}

const idBatches = new WeakMap<RequestMemo, Map<string, IdBatch>>();

/**
 * What the current request has written and its unit of work will store at the end: rows saved,
 * deleted (undefined) or spent, by model and stored id; the stored id of each uid saved; grants
 * revoked. The request's reads see these before the database, so it reads its own writes.
 */
interface Pending {
  readonly rows: Map<string, PayloadRow | undefined>;
  readonly uids: Map<string, string>;
  readonly revoked: Set<string>;
}

const pendingWrites = new WeakMap<RequestMemo, Pending>();

const rowKey = (type: string, storedId: string) => `${type}\0${storedId}`;

function pendingOf(memo: RequestMemo): Pending {
  let pending = pendingWrites.get(memo);
  if (!pending) pendingWrites.set(memo, (pending = { rows: new Map(), uids: new Map(), revoked: new Set() }));
  return pending;
}

class SqlAdapter implements Adapter {
  constructor(
    private readonly db: Db,
    private readonly sql: FixedSql,
    private readonly type: string,
    private readonly secrets: PayloadSecrets,
  ) {}

  private ids(id: string): string[] {
    return storedIds(this.secrets, this.type, id);
  }

  /** Forgets this model's memoised rows of the current request (after a write of this model). */
  private forget(all = false): void {
    forgetMemo(all ? undefined : this.type);
  }

  /**
   * In a request: hands the writes to its unit of work and notes them as pending. Otherwise (CLI,
   * tests, after the answer): writes them now, one by one.
   */
  private async apply(writes: Write[], note: (pending: Pending) => void): Promise<void> {
    const memo = requestMemo();
    const unit = memo && collectingUnit();
    this.forget();
    if (unit && memo && writes.every((write) => unit.add(this.db, write))) {
      note(pendingOf(memo));
      return;
    }
    for (const write of writes) {
      const changed = await this.sql.changes(write.sql, write.bindings);
      if (changed === 0 && write.mustChange) throw write.mustChange();
    }
    this.forget(); // and a read of this request that was under way meanwhile
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const [storedId, ...older] = this.ids(id);
    const stored = JSON.stringify(payloadToStore(this.secrets, this.type, payload));
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : null;
    const values = [
      this.type,
      storedId,
      stored,
      payload.grantId ?? null,
      payload.uid ?? null,
      payload.userCode ? storedUserCode(this.secrets, payload.userCode)[0] : null,
      payload.accountId ?? null,
      expiresAt,
    ];
    const writes: Write[] = [];
    // a session saved again after HMAC_SECRETS gained a newer secret moves to the newest hash
    if (older.length) writes.push({ sql: SQL.dropOlder(older.length), bindings: [this.type, ...older] });
    writes.push({ sql: SQL.upsert, bindings: values });
    await this.apply(writes, (pending) => {
      for (const old of older) pending.rows.set(rowKey(this.type, old), undefined);
      const before = pending.rows.get(rowKey(this.type, storedId));
      pending.rows.set(rowKey(this.type, storedId), { id: storedId, payload: stored, expires_at: expiresAt, consumed_at: before?.consumed_at ?? null, grant_id: payload.grantId ?? null });
      if (typeof payload.uid === 'string') pending.uids.set(rowKey(this.type, payload.uid), storedId);
    });
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
    // read before the memo is forgotten: the row this request found, to note it spent
    const memo = requestMemo();
    const found = memo?.get(memoKey(this.type, 'id', id)) as PayloadRow | undefined;
    const ids = this.ids(id);
    const now = Date.now();
    await this.apply([{ sql: SQL.consume(ids.length), bindings: [now, this.type, ...ids], mustChange: () => new errors.InvalidGrant(`${this.type} already consumed`) }], (pending) => {
      const storedId = found?.id ?? ids[0];
      const row = pending.rows.get(rowKey(this.type, storedId)) ?? found;
      if (row) pending.rows.set(rowKey(this.type, storedId), { ...row, consumed_at: now });
    });
  }

  async destroy(id: string): Promise<void> {
    const ids = this.ids(id);
    await this.apply([{ sql: SQL.destroy(ids.length), bindings: [this.type, ...ids] }], (pending) => {
      for (const storedId of ids) pending.rows.set(rowKey(this.type, storedId), undefined);
    });
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.forget(true);
    await this.apply([{ sql: SQL.revokeByGrantId, bindings: [grantId] }], (pending) => {
      pending.revoked.add(grantId);
      // as the statement does: only the models a grant issues (an interaction carrying the id stays)
      for (const [key, row] of pending.rows) if (row?.grant_id === grantId && GRANTABLE_MODELS.has(key.split('\0')[0])) pending.rows.set(key, undefined);
    });
    this.forget(true);
  }

  private async first(column: LookupColumn, value: string): Promise<AdapterPayload | undefined> {
    const memo = requestMemo();
    const pending = memo && pendingWrites.get(memo);
    const key = memoKey(this.type, column, value);
    let row: PayloadRow | undefined;
    const written = pending && this.written(pending, column, value);
    if (written) {
      row = written.row;
    } else if (memo?.has(key)) {
      row = memo.get(key) as PayloadRow | undefined;
    } else {
      const rows = column === 'id' ? await this.byId(memo, value) : await this.byOther(memo, column, value);
      row = rows.find((r) => r.type === this.type);
    }
    // what the database (or the memo) holds, as this request has changed it since
    if (pending && row && !written) {
      if (row.id !== undefined && pending.rows.has(rowKey(this.type, row.id))) row = pending.rows.get(rowKey(this.type, row.id));
      if (row?.grant_id && pending.revoked.has(row.grant_id) && GRANTABLE_MODELS.has(this.type)) row = undefined;
    }
    const payload = payloadOf(row);
    return payload && payloadRead(this.secrets, this.type, payload, column === 'id' ? value : undefined);
  }

  /** The row this request has written under this id or uid, if it has (`row` undefined: deleted). */
  private written(pending: Pending, column: LookupColumn, value: string): { row: PayloadRow | undefined } | undefined {
    if (column === 'uid') {
      const storedId = pending.uids.get(rowKey(this.type, value));
      return storedId !== undefined && pending.rows.has(rowKey(this.type, storedId)) ? { row: pending.rows.get(rowKey(this.type, storedId)) } : undefined;
    }
    if (column !== 'id') return undefined;
    for (const storedId of this.ids(value)) {
      if (pending.rows.has(rowKey(this.type, storedId))) return { row: pending.rows.get(rowKey(this.type, storedId)) };
    }
    return undefined;
  }

  /**
   * This model's row with this id. Within a request, look-ups of one id started together share one
   * statement, whose rows are memoised once for all of them: introspection asks for an
   * AccessToken, a ClientCredentials and a RefreshToken with the same value at once.
   */
  private byId(memo: RequestMemo | undefined, id: string): Promise<JoinedRow[]> {
    if (!memo) {
      const ids = this.ids(id);
      return this.sql.rows<JoinedRow>(SQL.find.id(1, ids.length), [this.type, ...ids]);
    }
    let batches = idBatches.get(memo);
    if (!batches) idBatches.set(memo, (batches = new Map()));
    let batch = batches.get(id);
    if (!batch) {
      const types = new Set<string>();
      const secrets = this.secrets;
      // a microtask later: the other look-ups of this turn have joined the batch by then
      const rows = Promise.resolve().then(async () => {
        batches.delete(id);
        // the models asked for together store this id hashed or not: ask for every form
        const ids = [...new Set([...types].flatMap((type) => storedIds(secrets, type, id)))];
        const found = await this.sql.rows<JoinedRow>(SQL.find.id(types.size, ids.length), [...types, ...ids]);
        remember(memo, types, 'id', id, found);
        return found;
      });
      batch = { types, rows };
      batches.set(id, batch);
    }
    batch.types.add(this.type);
    return batch.rows;
  }

  private async byOther(memo: RequestMemo | undefined, column: Exclude<LookupColumn, 'id'>, value: string): Promise<JoinedRow[]> {
    const codes = column === 'user_code' ? storedUserCode(this.secrets, value) : [];
    const rows = column === 'uid'
      ? await this.sql.rows<JoinedRow>(SQL.find.uid, [this.type, value])
      : await this.sql.rows<JoinedRow>(SQL.find.user_code(codes.length), [this.type, ...codes]);
    if (memo) remember(memo, [this.type], column, value, rows);
    return rows;
  }
}

function payloadOf(row: PayloadRow | undefined): AdapterPayload | undefined {
  if (!row) return undefined;
  if (row.expires_at !== null && row.expires_at <= Date.now()) return undefined;
  const payload = JSON.parse(row.payload) as AdapterPayload;
  if (row.consumed_at !== null) payload.consumed = Math.floor(row.consumed_at / 1000);
  return payload;
}

/**
 * Memoises what one statement read: the row of each type asked for (or that there is none), and
 * the grant and the account that came with it, for the reads that follow in this request.
 */
function remember(memo: RequestMemo, types: Iterable<string>, column: LookupColumn, value: string, rows: JoinedRow[]): void {
  for (const type of types) if (!rows.some((r) => r.type === type)) memo.set(memoKey(type, column, value), undefined);
  for (const row of rows) {
    memo.set(memoKey(row.type, column, value), { id: row.id, grant_id: row.grant_id, payload: row.payload, expires_at: row.expires_at, consumed_at: row.consumed_at });
    if (row.grant_id !== null && row.grant_payload !== null) {
      memo.set(memoKey('Grant', 'id', row.grant_id), { id: row.grant_id, grant_id: null, payload: row.grant_payload, expires_at: row.grant_expires_at, consumed_at: row.grant_consumed_at });
    }
    if (row.account_id !== null) {
      memo.set(memoKey('accounts', 'id', row.account_id), Object.fromEntries(ACCOUNT_COLUMNS.map((c) => [c, row[`account_${c}`]])) as unknown as AccountRow);
    }
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

/**
 * Rows written before ids were stored hashed (an earlier Sesame): each is moved to its hashed id
 * and loses its copy of the id; interactions lose their session's cookie value and seal their PAR
 * id. Run at start, before the server listens; a row another instance converted meanwhile is
 * simply not found by its old id. Returns how many rows changed.
 */
export async function hashStoredIds(db: Db, secrets: PayloadSecrets): Promise<number> {
  type Row = { type: string; id: string; payload: string; user_code: string | null };
  const plain: Row[] = await db(TABLE).whereIn('type', [...HASHED_MODELS]).andWhere('id', 'not like', `${HASHED_ID_PREFIX}%`)
    .select('type', 'id', 'payload', 'user_code');
  const interactions: Row[] = await db(TABLE).where('type', 'Interaction')
    .andWhere((q) => q.where('payload', 'like', '%"cookie"%').orWhere('payload', 'like', '%"parJti"%'))
    .select('type', 'id', 'payload', 'user_code');
  const rows = [...plain, ...interactions];
  let changed = 0;
  for (let i = 0; i < rows.length; i += 500) {
    const batch = rows.slice(i, i + 500);
    await db.transaction(async (trx) => {
      for (const row of batch) {
        const payload = JSON.stringify(payloadToStore(secrets, row.type, JSON.parse(row.payload) as AdapterPayload));
        const id = storedIds(secrets, row.type, row.id)[0];
        if (id === row.id && payload === row.payload) continue;
        const userCode = row.user_code && HASHED_MODELS.has(row.type) ? storedUserCode(secrets, row.user_code)[0] : row.user_code;
        changed += await trx(TABLE).where({ type: row.type, id: row.id }).update({ id, payload, user_code: userCode });
      }
    });
  }
  return changed;
}

/** The id a model's row is written under (tests look rows up by it). */
export function storedPayloadId(secrets: PayloadSecrets, type: string, id: string): string {
  return storedIds(secrets, type, id)[0];
}
