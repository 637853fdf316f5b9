import type { Knex } from 'knex';

/**
 * Who did an administrative change, as a column of its own (`cli:<os user>`,
 * `admin-token:<token id>`, `client:<client id>`) so that the trail can be asked "what did this
 * token do?". Until now it was only in `details` (`via`, `user`, `tokenId`), where the CLI's
 * `admin.token.*` events also keep the id of the token they are about; rows written that way get
 * the column filled from there, and their details stay as they were written.
 *
 * Not in one transaction: audit_events holds every sign-in's events and instances still running
 * write to it during a rolling upgrade, so on PostgreSQL the index is built CONCURRENTLY (writes go
 * on meanwhile), which a transaction does not allow. Each step can therefore be run again.
 */
export const config = { transaction: false };

const INDEX = 'audit_events_actor_at';

export async function up(knex: Knex): Promise<void> {
  if (!(await knex.schema.hasColumn('audit_events', 'actor'))) {
    await knex.schema.alterTable('audit_events', (t) => {
      t.string('actor', 160);
    });
  }
  if (isPostgres(knex)) {
    // a concurrent build that was interrupted leaves an invalid index behind: build it again
    const existing = await knex.raw('select i.indisvalid as valid from pg_class c join pg_index i on i.indexrelid = c.oid where c.relname = ?', [INDEX]);
    if (existing.rows[0] && !existing.rows[0].valid) await knex.raw(`drop index concurrently ${INDEX}`);
    await knex.raw(`create index concurrently if not exists ${INDEX} on audit_events (actor, at)`);
  } else {
    await knex.raw(`create index if not exists ${INDEX} on audit_events (actor, at)`);
  }
  const rows = await knex('audit_events')
    .select('id', 'details')
    .whereNull('actor')
    .whereNotNull('details')
    .where((q) => q.where('type', 'like', 'admin.%').orWhere('type', 'account.email_change_requested'));
  for (const row of rows as { id: number; details: string }[]) {
    const actor = actorOf(row.details);
    if (actor) await knex('audit_events').where({ id: row.id }).update({ actor });
  }
}

function actorOf(text: string): string | undefined {
  let details: Record<string, unknown>;
  try {
    details = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (details.via === 'cli') return typeof details.user === 'string' ? `cli:${details.user}` : 'cli';
  if (details.via === 'api' && typeof details.tokenId === 'string') return `admin-token:${details.tokenId}`;
  return undefined;
}

function isPostgres(knex: Knex): boolean {
  return knex.client.config.client === 'pg';
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(isPostgres(knex) ? `drop index concurrently if exists ${INDEX}` : `drop index if exists ${INDEX}`);
  if (await knex.schema.hasColumn('audit_events', 'actor')) {
    await knex.schema.alterTable('audit_events', (t) => {
      t.dropColumn('actor');
    });
  }
}
