import type { Knex } from 'knex';

// /readyz writes one row here: a database that can be read but not written (a full disk, a
// read-only file or standby) is not ready, and only a write tells.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('health_probe', (t) => {
    t.integer('id').primary();
    t.bigInteger('checked_at').notNullable();
  });
  await knex('health_probe').insert({ id: 1, checked_at: 0 });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('health_probe');
}
