import type { Knex } from 'knex';

// Cross-device approval: the number the original tab shows and the approving device must pick,
// and the language the person asked in (for the email and the approval page).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('login_requests', (t) => {
    t.integer('match_number').notNullable().defaultTo(0);
    t.string('locale', 16).notNullable().defaultTo('en');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('login_requests', (t) => {
    t.dropColumn('match_number');
    t.dropColumn('locale');
  });
}
