import type { Knex } from 'knex';

// A key is published from creation, signs from activate_at on (the newest activated key signs),
// and stays published after a newer key activates until the tokens it signed have expired.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('signing_keys', (t) => {
    t.bigInteger('activate_at');
  });
  await knex('signing_keys').update({ activate_at: knex.ref('created_at') });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('signing_keys', (t) => {
    t.dropColumn('activate_at');
  });
}
