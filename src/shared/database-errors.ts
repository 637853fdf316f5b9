/** The database is locked or overloaded right now: a wait, not an outage. */
export function isDatabaseBusy(error: unknown): boolean {
  const e = error as { code?: string; name?: string; message?: string };
  return e?.code === 'SQLITE_BUSY' || e?.code === 'SQLITE_LOCKED' || e?.name === 'KnexTimeoutError'
    || /SQLITE_BUSY|database is locked/.test(e?.message ?? '');
}

/** SQLite: the file cannot be written or read (full disk, I/O error, read-only, gone). */
const SQLITE_OUTAGES = ['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_READONLY', 'SQLITE_CANTOPEN'];

/** Network errors of a connection to PostgreSQL (refused, reset, lost, timed out, unresolvable). */
const NETWORK_OUTAGES = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'];

/**
 * PostgreSQL SQLSTATE classes and codes of an unavailable server: 08 connection exception, 53
 * insufficient resources (53100 disk full, 53300 too many connections), 57P01-57P03 (shutting down,
 * crashed, not yet accepting), 25006 read-only transaction (a standby), 55000 "not currently
 * accepting connections" (ALLOW_CONNECTIONS false), 40001/40P01 (serialization failure, deadlock:
 * the same request a moment later succeeds).
 */
function isPostgresOutage(code: string): boolean {
  return code.startsWith('08') || code.startsWith('53') || ['57P01', '57P02', '57P03', '25006', '55000', '40001', '40P01'].includes(code);
}

/**
 * The database cannot serve right now, for a reason that passes (a lock, a restart, a full disk
 * being cleared): answered with 503 and Retry-After, not 500, and /readyz says so. A bug (a broken
 * statement, a constraint) is not one of these.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (isDatabaseBusy(error)) return true;
  const e = error as { code?: unknown; message?: string; errno?: number };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (SQLITE_OUTAGES.some((c) => code === c || code.startsWith(`${c}_`))) return true;
  if (NETWORK_OUTAGES.includes(code)) return true;
  if (/^[0-9A-Z]{5}$/.test(code) && isPostgresOutage(code)) return true;
  // pg's own words when the server went away between statements
  return /Connection terminated|Connection ended unexpectedly|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(e?.message ?? '');
}

export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE';
}
