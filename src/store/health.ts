import { fixedSql, type Db } from './db.js';

/**
 * Writes the one row of `health_probe` and commits: fails when the database cannot take a write
 * (full disk, read-only file, a standby, an unreachable server), which a read does not show.
 */
export async function probeWrite(db: Db, now = Date.now()): Promise<void> {
  const changed = await fixedSql(db).changes('update health_probe set checked_at = ? where id = 1', [now]);
  if (changed === 0) await fixedSql(db).changes('insert into health_probe (id, checked_at) values (1, ?) on conflict (id) do update set checked_at = excluded.checked_at', [now]);
}
