import type { Knex } from 'knex';

// Times are epoch milliseconds in BIGINT columns: the same on SQLite and PostgreSQL, no time zones.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('oidc_payloads', (t) => {
    t.string('type', 64).notNullable();
    t.string('id', 255).notNullable();
    t.text('payload').notNullable();
    t.string('grant_id', 255);
    t.string('uid', 255);
    t.string('user_code', 255);
    t.bigInteger('expires_at');
    t.bigInteger('consumed_at');
    t.primary(['type', 'id']);
    t.index(['type', 'uid']);
    t.index(['grant_id']);
    t.index(['type', 'user_code']);
    t.index(['expires_at']);
  });

  await knex.schema.createTable('accounts', (t) => {
    t.string('id', 64).primary();
    t.string('email', 320).notNullable().unique();
    t.boolean('email_verified').notNullable().defaultTo(false);
    t.string('status', 16).notNullable().defaultTo('active');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('last_login_at');
  });

  await knex.schema.createTable('consents', (t) => {
    t.string('account_id', 64).notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    t.string('client_id', 255).notNullable();
    t.text('scope').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.primary(['account_id', 'client_id']);
  });

  await knex.schema.createTable('clients', (t) => {
    t.string('client_id', 255).primary();
    t.text('metadata').notNullable();
    t.string('secret_hash', 255);
    t.boolean('first_party').notNullable().defaultTo(false);
    t.boolean('enabled').notNullable().defaultTo(true);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('login_requests', (t) => {
    t.string('id', 64).primary();
    t.string('interaction_uid', 255).notNullable();
    t.string('client_id', 255).notNullable();
    t.string('email', 320).notNullable();
    t.string('token_hash', 64).notNullable().unique();
    t.string('code_hash', 64).notNullable();
    t.integer('code_attempts').notNullable().defaultTo(0);
    t.string('binding_hash', 64).notNullable();
    t.string('requester_ip', 64);
    t.string('requester_ua', 512);
    t.string('status', 16).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('approved_at');
    t.bigInteger('completed_at');
    t.string('account_id', 64);
    t.index(['interaction_uid']);
    t.index(['email', 'status']);
    t.index(['expires_at']);
  });
  // at most one live request per address and per interaction: a newer request supersedes the older
  // one, and these make that hold even when two requests are created at the same moment
  await knex.raw("CREATE UNIQUE INDEX login_requests_one_pending_per_email ON login_requests (email) WHERE status = 'pending'");
  await knex.raw("CREATE UNIQUE INDEX login_requests_one_pending_per_interaction ON login_requests (interaction_uid) WHERE status = 'pending'");

  await knex.schema.createTable('mail_outbox', (t) => {
    t.increments('id').primary();
    t.string('login_request_id', 64);
    t.string('recipient', 320).notNullable();
    t.text('subject').notNullable();
    // the body carries a live link: it is wiped as soon as the message is sent or no longer useful
    t.text('text_body');
    t.text('html_body');
    t.string('status', 16).notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.bigInteger('next_attempt_at').notNullable();
    t.bigInteger('locked_until');
    t.text('last_error');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('sent_at');
    t.index(['status', 'next_attempt_at']);
  });

  await knex.schema.createTable('signing_keys', (t) => {
    t.string('kid', 64).primary();
    t.string('alg', 16).notNullable();
    t.text('jwk').notNullable();
    t.string('status', 16).notNullable();
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['signing_keys', 'mail_outbox', 'login_requests', 'clients', 'consents', 'accounts', 'oidc_payloads']) {
    await knex.schema.dropTableIfExists(table);
  }
}
