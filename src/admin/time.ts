const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `90s`, `15m`, `24h`, `30d` in milliseconds; undefined when it is not such a duration. */
export function parseDurationMs(value: string): number | undefined {
  const match = /^(\d{1,9})([smhd])$/.exec(value.trim());
  return match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : undefined;
}

/**
 * A point in time as the CLI and the admin API take it: an ISO date or date-time, or a duration
 * back from now (`15m`, `24h`, `7d`). Undefined when it is neither.
 */
export function parseWhen(value: string, now = Date.now()): number | undefined {
  const back = parseDurationMs(value);
  if (back !== undefined) return now - back;
  // only ISO-like text: Date.parse also accepts "1" or "March 7", which nobody means here
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim())) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at;
}
