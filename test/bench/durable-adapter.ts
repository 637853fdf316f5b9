import knex, { type Knex } from 'knex';
import type { Adapter, AdapterPayload } from 'oidc-provider';

/**
 * The durable reference's storage: the simplest correct oidc-provider adapter that survives a
 * restart. One knex table on SQLite through `sqlite3`, the payload as JSON, one statement per
 * adapter call, and a guarded consume (a code or refresh token is spent by exactly one request).
 * It is the yardstick for Sesame's durable endpoints in `npm run bench` (docs/benchmark.md): what
 * the bare library costs once every write reaches a file, before anything Sesame adds.
 */
const TABLE = 'oidc_payloads';

export async function openDurableStore(filename: string): Promise<Knex> {
  const db = knex({
    client: 'sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    // one connection per process, as a file database has one writer at a time anyway
    pool: {
      min: 1,
      max: 1,
      afterCreate: (conn: { exec(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) => {
        // the same durability as Sesame's SQLite: WAL, synchronous NORMAL, wait for the other processes' writes
        conn.exec('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;', (err) => done(err, conn));
      },
    },
  });
  // several reference processes open one file: creating the table twice is harmless
  await db.raw(`CREATE TABLE IF NOT EXISTS ${TABLE} (
    model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL,
    grant_id TEXT, user_code TEXT, uid TEXT, expires_at INTEGER, consumed_at INTEGER,
    PRIMARY KEY (model, id))`);
  await db.raw(`CREATE INDEX IF NOT EXISTS ${TABLE}_grant ON ${TABLE} (grant_id)`);
  await db.raw(`CREATE INDEX IF NOT EXISTS ${TABLE}_uid ON ${TABLE} (uid)`);
  return db;
}

const now = () => Math.floor(Date.now() / 1000);

/** The adapter class oidc-provider's `adapter` option takes, bound to one open store. */
export function durableAdapter(db: Knex): new (model: string) => Adapter {
  return class DurableAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      await db(TABLE).insert({
        model: this.model,
        id,
        payload: JSON.stringify(payload),
        grant_id: payload.grantId ?? null,
        user_code: payload.userCode ?? null,
        uid: payload.uid ?? null,
        expires_at: expiresIn ? now() + expiresIn : null,
      }).onConflict(['model', 'id']).merge();
    }

    find(id: string): Promise<AdapterPayload | undefined> {
      return this.findWhere({ id });
    }

    findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.findWhere({ user_code: userCode });
    }

    findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.findWhere({ uid });
    }

    async consume(id: string): Promise<void> {
      // guarded: only the first consume of a live row marks it
      await db(TABLE).where({ model: this.model, id }).whereNull('consumed_at').update({ consumed_at: now() });
    }

    async destroy(id: string): Promise<void> {
      await db(TABLE).where({ model: this.model, id }).delete();
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await db(TABLE).where({ grant_id: grantId }).delete();
    }

    private async findWhere(where: Record<string, string>): Promise<AdapterPayload | undefined> {
      const row = await db(TABLE)
        .where({ model: this.model, ...where })
        .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now()))
        .first('payload', 'consumed_at') as { payload: string; consumed_at: number | null } | undefined;
      if (!row) return undefined;
      const payload = JSON.parse(row.payload) as AdapterPayload;
      return row.consumed_at ? { ...payload, consumed: row.consumed_at } : payload;
    }
  };
}
