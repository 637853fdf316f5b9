import type { Knex } from 'knex';

// The admin API lists clients page by page in the order they were registered; with Dynamic Client
// Registration there can be many, and each page is read from this index instead of the whole table.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.index(['created_at', 'client_id'], 'clients_registration_order');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.dropIndex(['created_at', 'client_id'], 'clients_registration_order');
  });
}
