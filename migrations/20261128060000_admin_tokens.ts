import type { Knex } from 'knex';

// Bearer tokens for the admin API and for Dynamic Client Registration. The token itself is shown
// once; only its keyed hash (HMAC with HMAC_SECRETS) is kept. The id is part of the token, so a
// presented token is found by primary key and then compared in constant time.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('admin_tokens', (t) => {
    t.string('id', 32).primary();
    t.string('name', 100).notNullable();
    // space-separated: read, write, register
    t.string('scopes', 64).notNullable();
    t.string('token_hash', 128).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at');
    t.bigInteger('revoked_at');
    t.bigInteger('last_used_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('admin_tokens');
}
