import type { Knex } from 'knex';

/**
 * Who did an administrative change, as a column of its own (`cli:<os user>`,
 * `admin-token:<token id>`) so that the trail can be asked "what did this token do?". Until now
 * it was only in `details` (`via`, `user`, `tokenId`), where the CLI's `admin.token.*` events also
 * keep the id of the token they are about; rows written that way get the column filled from there,
 * and their details stay as they were written.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.string('actor', 160);
    t.index(['actor', 'at'], 'audit_events_actor_at');
  });
  const rows = await knex('audit_events')
    .select('id', 'details')
    .where((q) => q.where('type', 'like', 'admin.%').orWhere('type', 'account.email_change_requested'))
    .whereNotNull('details');
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

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.dropIndex(['actor', 'at'], 'audit_events_actor_at');
    t.dropColumn('actor');
  });
}
