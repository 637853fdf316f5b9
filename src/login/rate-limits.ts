import type { Rate } from '../config/config.js';

/**
 * "At most `limit` events per `windowMs`, and (optionally) at least `minIntervalMs` apart", per key.
 * Counted in the database so that the limits hold across every instance.
 */
export interface RateRule {
  readonly key: string;
  readonly limit: number;
  readonly windowMs: number;
  readonly minIntervalMs?: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number; key: string };

export interface RateLimitStore {
  /** Records one event under every rule's key when all of them allow it, atomically; otherwise records nothing. */
  consume(rules: readonly RateRule[], now: number): Promise<RateDecision>;
  /** Whether the rules would refuse an event now, without recording one. */
  check(rules: readonly RateRule[], now: number): Promise<RateDecision>;
  /** Records one event under the key, whatever any rule says (a fact that later rules look at). */
  record(key: string, now: number): Promise<void>;
}

export function rule(key: string, rate: Rate | undefined, minIntervalSeconds = 0): RateRule[] {
  if (!rate) return [];
  return [{ key, limit: rate.limit, windowMs: rate.windowSeconds * 1000, minIntervalMs: minIntervalSeconds * 1000 || undefined }];
}
