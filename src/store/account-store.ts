import type { Account, AccountActivity, AccountPage, AccountStore } from '../accounts/account.js';
import { fixedSql, type Db } from './db.js';
import { forgetMemo, memoKey, requestMemo } from './request-memo.js';

export interface AccountRow {
  id: string;
  email: string;
  email_verified: boolean | number;
  status: Account['status'];
  created_at: number;
  last_login_at: number | null;
  name: string | null;
}

const toAccount = (row: AccountRow): Account => ({
  id: row.id,
  email: row.email,
  emailVerified: Boolean(row.email_verified),
  status: row.status,
  createdAt: row.created_at,
  lastLoginAt: row.last_login_at,
  name: row.name,
});

/** The columns of AccountRow; the oidc adapter reads them too, with a token (see request-memo.ts). */
export const ACCOUNT_COLUMNS = ['id', 'email', 'email_verified', 'status', 'created_at', 'last_login_at', 'name'] as const satisfies readonly (keyof AccountRow)[];
const COLUMNS = ACCOUNT_COLUMNS.join(', ');

export class KnexAccountStore implements AccountStore {
  // the reads and the update every sign-in makes, as fixed SQL (see FixedSql)
  readonly #sql;

  constructor(private readonly db: Db) {
    this.#sql = fixedSql(db);
  }

  async findById(id: string): Promise<Account | undefined> {
    // within an HTTP request, the row may have come with the token or session that names it
    const memo = requestMemo();
    const key = memoKey('accounts', 'id', id);
    let row: AccountRow | undefined;
    if (memo?.has(key)) {
      row = memo.get(key) as AccountRow | undefined;
    } else {
      [row] = await this.#sql.rows<AccountRow>(`select ${COLUMNS} from accounts where id = ? limit 1`, [id]);
      memo?.set(key, row);
    }
    return row && toAccount(row);
  }

  async findByEmail(email: string): Promise<Account | undefined> {
    const [row] = await this.#sql.rows<AccountRow>(`select ${COLUMNS} from accounts where email = ? limit 1`, [email]);
    return row && toAccount(row);
  }

  async insertIfAbsent(account: Account): Promise<Account> {
    // two first sign-ins of one address may race: the unique email column decides, both get the winner
    await this.db('accounts')
      .insert({
        id: account.id,
        email: account.email,
        email_verified: account.emailVerified,
        status: account.status,
        created_at: account.createdAt,
        updated_at: account.createdAt,
        last_login_at: account.lastLoginAt,
      })
      .onConflict('email')
      .ignore();
    return (await this.findByEmail(account.email))!;
  }

  async list({ search, after, limit }: { search?: string; after?: string; limit: number }): Promise<AccountPage> {
    const q = this.db<AccountRow>('accounts').orderBy('email').limit(limit + 1);
    // part of an address, matched literally: % and _ typed by the operator are not wildcards
    if (search) q.whereRaw("email like ? escape '\\'", [`%${search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`]);
    if (after) q.where('email', '>', after);
    const rows = await q;
    const page = rows.slice(0, limit).map(toAccount);
    return { accounts: page, next: rows.length > limit ? page.at(-1)?.email : undefined };
  }

  async setStatus(id: string, status: Account['status'], at: number): Promise<boolean> {
    forgetMemo('accounts');
    return (await this.db('accounts').where({ id }).update({ status, updated_at: at })) === 1;
  }

  async setName(id: string, name: string | null, at: number): Promise<boolean> {
    forgetMemo('accounts');
    return (await this.db('accounts').where({ id }).update({ name, updated_at: at })) === 1;
  }

  async disable(id: string, email: string, at: number): Promise<boolean> {
    // nothing read before may answer a later read
    forgetMemo();
    return this.db.transaction(async (trx) => {
      const changed = (await trx('accounts').where({ id }).update({ status: 'disabled', updated_at: at })) === 1;
      if (changed) await revokeAccess(trx, id, email, at);
      return changed;
    });
  }

  async remove(id: string, email: string): Promise<boolean> {
    forgetMemo();
    return this.db.transaction(async (trx) => {
      // the write first: on SQLite a transaction that read before its first write is refused that
      // write (SQLITE_BUSY at once) when another connection wrote in between, and concurrent
      // confirmations of one deletion link would get 503; writing first waits for the lock instead
      if ((await trx('accounts').where({ id }).delete()) !== 1) return false;
      await revokeAccess(trx, id, email, Date.now());
      return true;
    });
  }

  async activity(id: string, now: number): Promise<AccountActivity> {
    const live = (type: string) => this.db('oidc_payloads').where({ account_id: id, type }).andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now));
    const sessions = await live('Session').count({ n: '*' }).first();
    const grants = await live('Grant').select('payload');
    const clients = [...new Set(grants.map((g) => (JSON.parse(g.payload) as { clientId?: string }).clientId).filter((c): c is string => Boolean(c)))];
    return { sessions: Number(sessions?.n ?? 0), clients };
  }

  async recordLogin(id: string, at: number): Promise<void> {
    forgetMemo('accounts');
    await this.#sql.changes('update accounts set last_login_at = ?, email_verified = ?, updated_at = ? where id = ?', [at, true, at, id]);
  }

  async recordLoginByEmail(email: string, at: number): Promise<Account | undefined> {
    forgetMemo('accounts');
    const [row] = await this.#sql.rows<AccountRow>(
      `update accounts set last_login_at = ?, email_verified = ?, updated_at = ? where email = ? and status = 'active' returning ${COLUMNS}`,
      [at, true, at, email],
    );
    return row && toAccount(row);
  }

  async findConsent(accountId: string, clientId: string): Promise<string[] | undefined> {
    const row = await this.db('consents').where({ account_id: accountId, client_id: clientId }).first();
    return row ? (row.scope as string).split(' ').filter(Boolean) : undefined;
  }

  async saveConsent(accountId: string, clientId: string, scopes: string[], at: number): Promise<void> {
    await this.db('consents')
      .insert({ account_id: accountId, client_id: clientId, scope: scopes.join(' '), updated_at: at })
      .onConflict(['account_id', 'client_id'])
      .merge(['scope', 'updated_at']);
  }
}

/**
 * Ends every session, grant, code, access and refresh token of the account (they all carry it),
 * and its pending sign-in emails, inside the caller's transaction (disabling, deleting, changing
 * the address): either the change and the revocation both happen or neither does.
 */
export async function revokeAccess(trx: Db, id: string, email: string, now: number): Promise<void> {
  // every app the account is signed in to is owed a logout token (back-channel logout); the
  // worker in oidc/backchannel-logout.ts sends them, to the apps that registered a URI
  const sessions: { payload: string }[] = await trx('oidc_payloads').where({ account_id: id, type: 'Session' }).select('payload');
  const owed = sessions.flatMap(({ payload }) =>
    Object.entries((JSON.parse(payload) as { authorizations?: Record<string, { sid?: string }> }).authorizations ?? {})
      .filter(([, authorization]) => typeof authorization.sid === 'string')
      .map(([clientId, authorization]) => ({ account_id: id, client_id: clientId, sid: authorization.sid!, next_attempt_at: now, created_at: now })));
  if (owed.length) await trx('backchannel_logouts').insert(owed);
  await trx('oidc_payloads').where({ account_id: id }).delete();
  await trx('login_requests').where({ email }).whereIn('status', ['pending', 'approved']).update({ status: 'superseded' });
}
