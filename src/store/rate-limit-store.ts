import type { RateDecision, RateLimitStore, RateRule } from '../login/rate-limits.js';
import { isPostgres, type Db } from './db.js';

type Trx = Db;

export class KnexRateLimitStore implements RateLimitStore {
  constructor(private readonly db: Db) {}

  consume(rules: readonly RateRule[], now: number): Promise<RateDecision> {
    if (rules.length === 0) return Promise.resolve({ allowed: true });
    return this.db.transaction(async (trx) => {
      await this.#lock(trx, rules);
      const decision = await this.#decide(trx, rules, now);
      if (decision.allowed) await trx('rate_events').insert(rules.map((r) => ({ key: r.key, at: now })));
      return decision;
    });
  }

  check(rules: readonly RateRule[], now: number): Promise<RateDecision> {
    return this.#decide(this.db, rules, now);
  }

  async record(key: string, now: number): Promise<void> {
    await this.db('rate_events').insert({ key, at: now });
  }

  /**
   * Count-then-insert is only safe if no one else counts the same key in between. PostgreSQL:
   * a transaction-scoped advisory lock per key, taken in a fixed order so two requests never wait
   * on each other in a cycle. SQLite: transactions begin IMMEDIATE (store/db.ts), so they hold the
   * database's write lock from the start and run one at a time, across connections and processes.
   */
  async #lock(trx: Trx, rules: readonly RateRule[]): Promise<void> {
    if (!isPostgres(trx)) return;
    for (const key of [...new Set(rules.map((r) => r.key))].sort()) {
      await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`sesame-rate:${key}`]);
    }
  }

  async #decide(db: Trx, rules: readonly RateRule[], now: number): Promise<RateDecision> {
    let refused: { retryAfterMs: number; key: string } | undefined;
    for (const r of rules) {
      const row = await db('rate_events')
        .where('key', r.key)
        .andWhere('at', '>', now - r.windowMs)
        .select(db.raw('count(*) as n'), db.raw('min(at) as oldest'), db.raw('max(at) as newest'))
        .first();
      const count = Number(row?.n ?? 0);
      let wait = 0;
      if (count >= r.limit) wait = Number(row.oldest) + r.windowMs - now;
      if (r.minIntervalMs && count > 0) wait = Math.max(wait, Number(row.newest) + r.minIntervalMs - now);
      if (wait > 0 && (!refused || wait > refused.retryAfterMs)) refused = { retryAfterMs: wait, key: r.key };
    }
    return refused ? { allowed: false, ...refused } : { allowed: true };
  }
}
