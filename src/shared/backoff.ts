/**
 * How long to wait before retry number `attempts` (1 after the first failure): exponential from
 * `baseMs`, with ±50% jitter so that many failures at one moment do not retry in step, and never
 * more than `capMs`. Whole ms. Without a cap the eighth attempt of a 5 s base waited 5 to 16
 * minutes: a sign-in link (10 minutes) was dead before its mail went out after an outage.
 */
export function retryDelayMs(baseMs: number, attempts: number, capMs = Number.POSITIVE_INFINITY): number {
  const backoff = Math.min(baseMs * 2 ** (attempts - 1), capMs);
  return Math.round(Math.min(capMs, backoff / 2 + Math.random() * backoff));
}
