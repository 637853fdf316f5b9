import type { Knex } from 'knex';

// Passkeys (WebAuthn credentials) of accounts, and the challenges of ceremonies under way.
// A credential's public key is not a secret: a copy of it signs no one in. A challenge is kept
// only as a keyed hash, bound to the browser's flow that asked for it, and is used once.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('passkeys', (t) => {
    t.string('id', 64).primary();
    // deleting the account deletes its passkeys
    t.string('account_id', 64).notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    // base64url of the credential id (at most 1023 bytes)
    t.string('credential_id', 1400).notNullable().unique();
    t.text('public_key').notNullable();
    t.bigInteger('counter').notNullable().defaultTo(0);
    t.string('transports', 200).notNullable().defaultTo('');
    t.string('device_type', 16).notNullable();
    t.boolean('backed_up').notNullable().defaultTo(false);
    t.string('name', 100).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at');
    t.index(['account_id']);
  });
  await knex.schema.createTable('webauthn_challenges', (t) => {
    // keyed hash of the challenge
    t.string('id', 64).primary();
    t.string('purpose', 16).notNullable();
    // keyed hash of what the ceremony is bound to (an interaction, a session at the account page)
    t.string('binding', 64).notNullable();
    // registration: the account the new passkey will belong to
    t.string('account_id', 64);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('consumed_at');
    t.index(['binding']);
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('webauthn_challenges');
  await knex.schema.dropTableIfExists('passkeys');
}
