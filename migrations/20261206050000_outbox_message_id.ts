import type { Knex } from 'knex';

// Each message keeps one Message-ID across attempts, so a copy that goes out twice (a relay that
// accepted it but whose answer never arrived, a worker that died mid-send) is recognisably the same
// message; rows queued before this migration get theirs at their next attempt. The index serves
// the waiting page's question "was this sign-in's email given up?".
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mail_outbox', (t) => {
    t.string('message_id', 255);
    t.index(['login_request_id'], 'mail_outbox_login_request_id');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mail_outbox', (t) => {
    t.dropIndex(['login_request_id'], 'mail_outbox_login_request_id');
    t.dropColumn('message_id');
  });
}
