import type { RateDecision, RateLimitStore, RateRule } from '../login/rate-limits.js';
import { fixedSql, insertSql, isPostgres, transaction, type Db, type FixedSql } from './db.js';

interface Counted {
  rule: number;
  n: number;
  oldest: number | null;
  newest: number | null;
}

/**
 * The counts of every rule in one statement (one row per rule, `rule` its index): the email form
 * checks three or four rules per request, each once a statement of its own.
 */
function countSql(rules: number): string {
  return Array.from({ length: rules }, (_, i) => `select ${i} as rule, count(*) as n, min(at) as oldest, max(at) as newest from rate_events where key = ? and at > ?`)
    .join(' union all ');
}

export class KnexRateLimitStore implements RateLimitStore {
  constructor(private readonly db: Db) {}

  consume(rules: readonly RateRule[], now: number): Promise<RateDecision> {
    if (rules.length === 0) return Promise.resolve({ allowed: true });
    return transaction(this.db, async (sql) => {
      await this.#lock(sql, rules);
      const decision = await decide(sql, rules, now);
      if (decision.allowed) {
        const insert = insertSql('rate_events', rules.map((r) => ({ key: r.key, at: now })));
        await sql.changes(insert.sql, insert.bindings);
      }
      return decision;
    });
  }

  check(rules: readonly RateRule[], now: number): Promise<RateDecision> {
    if (rules.length === 0) return Promise.resolve({ allowed: true });
    return decide(fixedSql(this.db), rules, now);
  }

  async record(key: string, now: number): Promise<void> {
    await fixedSql(this.db).changes('insert into rate_events (key, at) values (?, ?)', [key, now]);
  }

  /**
   * Count-then-insert is only safe if no one else counts the same key in between. PostgreSQL:
   * a transaction-scoped advisory lock per key, taken in a fixed order so two requests never wait
   * on each other in a cycle. SQLite: the transaction begins IMMEDIATE (driver-sql.ts), so it holds
   * the database's write lock from the start and they run one at a time, across connections and processes.
   */
  async #lock(sql: FixedSql, rules: readonly RateRule[]): Promise<void> {
    if (!isPostgres(this.db)) return;
    for (const key of [...new Set(rules.map((r) => r.key))].sort()) {
      await sql.rows('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`sesame-rate:${key}`]);
    }
  }
}

async function decide(sql: FixedSql, rules: readonly RateRule[], now: number): Promise<RateDecision> {
  const counted = await sql.rows<Counted>(countSql(rules.length), rules.flatMap((r) => [r.key, now - r.windowMs]));
  let refused: { retryAfterMs: number; key: string } | undefined;
  for (const row of counted) {
    const r = rules[Number(row.rule)];
    const count = Number(row.n ?? 0);
    let wait = 0;
    if (count >= r.limit) wait = Number(row.oldest) + r.windowMs - now;
    if (r.minIntervalMs && count > 0) wait = Math.max(wait, Number(row.newest) + r.minIntervalMs - now);
    if (wait > 0 && (!refused || wait > refused.retryAfterMs)) refused = { retryAfterMs: wait, key: r.key };
  }
  return refused ? { allowed: false, ...refused } : { allowed: true };
}
