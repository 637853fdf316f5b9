import type { Knex } from 'knex';

// A sign-in email for an address that may not sign in is queued and taken by the worker like any
// other, then withheld instead of sent: the outbox, its timing and its metrics look the same for
// both. Rows queued before this migration were marked `suppressed` at once and are swept as before.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mail_outbox', (t) => {
    t.boolean('withheld').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mail_outbox', (t) => {
    t.dropColumn('withheld');
  });
}
