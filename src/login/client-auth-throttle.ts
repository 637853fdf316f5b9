import type { Rate } from '../config/config.js';
import { ipKey } from './ip-key.js';
import { rule, type RateLimitStore } from './rate-limits.js';

/**
 * Failed client authentication (a wrong client secret or assertion) slows the address down: after
 * `rate` failures from one client IP (an IPv6 client by its prefix), that IP's next attempts are
 * refused until the window has passed, whichever client they name. Secrets are 256-bit, so this
 * is not what stops guessing; it keeps a misbehaving or probing caller from costing us a hash
 * check per request forever, and makes it visible.
 */
export class ClientAuthThrottle {
  constructor(private readonly limits: RateLimitStore, private readonly rate: Rate | undefined, private readonly ipv6PrefixBits: number) {}

  /** Seconds to wait when this IP has failed too often, else undefined. */
  async refusal(ip: string | undefined, now = Date.now()): Promise<number | undefined> {
    const decision = await this.limits.check(this.#rules(ip), now);
    return decision.allowed ? undefined : Math.ceil(decision.retryAfterMs / 1000);
  }

  async failed(ip: string | undefined, now = Date.now()): Promise<void> {
    if (this.rate) await this.limits.record(this.#key(ip), now);
  }

  #key(ip: string | undefined): string {
    return `client-auth-ip:${ipKey(ip, this.ipv6PrefixBits)}`;
  }

  #rules(ip: string | undefined) {
    return rule(this.#key(ip), this.rate);
  }
}
