import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.increments('id').primary();
    t.bigInteger('at').notNullable();
    t.string('type', 48).notNullable();
    t.string('account_id', 64);
    t.string('client_id', 255);
    t.string('email', 320);
    t.string('ip', 64);
    t.string('user_agent', 512);
    t.string('request_id', 64);
    t.string('login_request_id', 64);
    t.text('details');
    t.index(['at']);
    t.index(['account_id', 'at']);
    t.index(['client_id', 'at']);
    t.index(['email', 'at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('audit_events');
}
