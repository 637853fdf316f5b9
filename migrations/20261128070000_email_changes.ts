import type { Knex } from 'knex';

// A change of an account's email address waits here until the new address confirms it
// (pending → confirmed | cancelled | expired). Only the keyed hash of the emailed token is kept.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('email_changes', (t) => {
    t.string('id', 64).primary();
    // deleting the account deletes its changes: a link must not outlive the account it would change
    t.string('account_id', 64).notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    t.string('old_email', 320).notNullable();
    t.string('new_email', 320).notNullable();
    t.string('token_hash', 64).notNullable().unique();
    t.string('state', 16).notNullable();
    t.string('locale', 16).notNullable().defaultTo('en');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('confirmed_at');
    t.index(['account_id']);
    t.index(['expires_at']);
  });
  // at most one pending change per account: a new request cancels the older one, and this makes
  // that hold even when two requests for one account are made at the same moment
  await knex.raw("CREATE UNIQUE INDEX email_changes_one_pending_per_account ON email_changes (account_id) WHERE state = 'pending'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('email_changes');
}
