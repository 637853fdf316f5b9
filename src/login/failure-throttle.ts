import type { Rate } from '../config/config.js';
import { ipKey } from './ip-key.js';
import { rule, type RateLimitStore } from './rate-limits.js';

/**
 * Failures of one kind (e.g. refused passkeys) counted per client IP (an IPv6 client by its
 * prefix): after `rate` of them that IP's next attempts are refused until the window has passed.
 * Counted in the database, so the limit holds across instances.
 */
export class FailureThrottle {
  constructor(
    private readonly limits: RateLimitStore,
    private readonly prefix: string,
    private readonly rate: Rate | undefined,
    private readonly ipv6PrefixBits: number,
  ) {}

  /** Seconds to wait when this IP has failed too often, else undefined. */
  async refusal(ip: string | undefined, now = Date.now()): Promise<number | undefined> {
    const decision = await this.limits.check(rule(this.#key(ip), this.rate), now);
    return decision.allowed ? undefined : Math.ceil(decision.retryAfterMs / 1000);
  }

  async failed(ip: string | undefined, now = Date.now()): Promise<void> {
    if (this.rate) await this.limits.record(this.#key(ip), now);
  }

  #key(ip: string | undefined): string {
    return `${this.prefix}:${ipKey(ip, this.ipv6PrefixBits)}`;
  }
}
