import type { Knex } from 'knex';

// oidc-provider's sessions, grants and tokens by account, so that disabling or deleting an
// account revokes all of them at once.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oidc_payloads', (t) => {
    t.string('account_id', 64);
    t.index(['account_id']);
  });
  const rows: { type: string; id: string; payload: string }[] = await knex('oidc_payloads').select('type', 'id', 'payload').where('payload', 'like', '%"accountId"%');
  for (const row of rows) {
    const accountId = (JSON.parse(row.payload) as { accountId?: string }).accountId;
    if (accountId) await knex('oidc_payloads').where({ type: row.type, id: row.id }).update({ account_id: accountId });
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oidc_payloads', (t) => {
    t.dropIndex(['account_id']);
    t.dropColumn('account_id');
  });
}
