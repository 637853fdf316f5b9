import type { Knex } from 'knex';

// Typed number matching: wrong numbers typed on another device are counted per request, like
// wrong codes. And a new request no longer ends a pending one that another browser asked for:
// at most one pending request per address *per browser* (binding hash) and per interaction.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('login_requests', (t) => {
    t.integer('match_attempts').notNullable().defaultTo(0);
  });
  await knex.raw('DROP INDEX login_requests_one_pending_per_email');
  await knex.raw("CREATE UNIQUE INDEX login_requests_one_pending_per_browser ON login_requests (email, binding_hash) WHERE status = 'pending'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX login_requests_one_pending_per_browser');
  // back to one pending request per address: the newest of each address stays
  const pending: { id: string; email: string }[] = await knex('login_requests').where({ status: 'pending' }).orderBy('created_at', 'desc').select('id', 'email');
  const kept = new Set<string>();
  for (const row of pending) {
    if (kept.has(row.email)) await knex('login_requests').where({ id: row.id }).update({ status: 'superseded' });
    kept.add(row.email);
  }
  await knex.raw("CREATE UNIQUE INDEX login_requests_one_pending_per_email ON login_requests (email) WHERE status = 'pending'");
  await knex.schema.alterTable('login_requests', (t) => {
    t.dropColumn('match_attempts');
  });
}
