import type { Knex } from 'knex';

// An optional display name per account, set by an operator (and later by the person), released as
// `name` under the `profile` scope.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.string('name', 200);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.dropColumn('name');
  });
}
