import type { Knex } from 'knex';

// Which browser each session of Sesame signed in from, so the account page can tell the sessions
// apart ("Chrome on iPhone"). oidc-provider's session payload has no room for it; keyed by the
// session's uid, which stays the same for its life (its id changes at every sign-in).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('session_devices', (t) => {
    t.string('session_uid', 64).primary();
    // the person's browser and address go with the account
    t.string('account_id', 64).notNullable().references('id').inTable('accounts').onDelete('CASCADE').index();
    t.string('user_agent', 512);
    t.string('ip', 64);
    t.bigInteger('signed_in_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('session_devices');
}
