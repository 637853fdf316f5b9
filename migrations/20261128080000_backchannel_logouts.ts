import type { Knex } from 'knex';

// Logout tokens owed to apps when an operator disables or deletes an account: written in the same
// transaction that revokes the sessions (from the CLI, the admin API or any instance), delivered by
// the server's worker with retries, like the mail outbox.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('backchannel_logouts', (t) => {
    t.increments('id').primary();
    t.string('account_id', 64).notNullable();
    t.string('client_id', 255).notNullable();
    t.string('sid', 255).notNullable();
    t.string('status', 16).notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.bigInteger('next_attempt_at').notNullable();
    t.bigInteger('locked_until');
    t.bigInteger('created_at').notNullable();
    t.text('last_error');
    t.index(['status', 'next_attempt_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('backchannel_logouts');
}
