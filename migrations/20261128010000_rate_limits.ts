import type { Knex } from 'knex';

// One row per counted event; only allowed events are recorded, so a key holds at most `limit`
// rows inside its window. Old rows are swept.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('rate_events', (t) => {
    t.increments('id').primary();
    t.string('key', 128).notNullable();
    t.bigInteger('at').notNullable();
    t.index(['key', 'at']);
    t.index(['at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('rate_events');
}
