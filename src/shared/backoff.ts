/**
 * How long to wait before retry number `attempts` (1 after the first failure): exponential from
 * `baseMs`, with ±50% jitter so that many failures at one moment do not retry in step. Whole ms.
 */
export function retryDelayMs(baseMs: number, attempts: number): number {
  const backoff = baseMs * 2 ** (attempts - 1);
  return Math.round(backoff / 2 + Math.random() * backoff);
}
