/** The database is locked or overloaded right now: answered with 503 and Retry-After, not 500. */
export function isDatabaseBusy(error: unknown): boolean {
  const e = error as { code?: string; name?: string; message?: string };
  return e?.code === 'SQLITE_BUSY' || e?.code === 'SQLITE_LOCKED' || e?.name === 'KnexTimeoutError'
    || /SQLITE_BUSY|database is locked/.test(e?.message ?? '');
}

export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE';
}
