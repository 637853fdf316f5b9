import type { AccountSession, ConnectedApp, ConnectionStore } from '../accounts/connections.js';
import { SCOPES } from '../clients/client.js';
import type { Db } from './db.js';
import { forgetMemo } from './request-memo.js';

interface GrantPayload {
  clientId?: string;
  iat?: number;
  openid?: { scope?: string };
}

interface SessionPayload {
  loginTs?: number;
  authorizations?: Record<string, { sid?: string; grantId?: string }>;
}

const live = (now: number) => (q: import('knex').Knex.QueryBuilder) => q.whereNull('expires_at').orWhere('expires_at', '>', now);

/** The account page's reads and changes of oidc-provider's grants and sessions (oidc_payloads) and of remembered consents. */
export class KnexConnectionStore implements ConnectionStore {
  constructor(private readonly db: Db) {}

  async apps(accountId: string, now: number): Promise<ConnectedApp[]> {
    const grants: { payload: string }[] = await this.db('oidc_payloads').where({ account_id: accountId, type: 'Grant' }).andWhere(live(now)).select('payload');
    const consents: { client_id: string; scope: string; updated_at: number }[] = await this.db('consents').where({ account_id: accountId }).select('client_id', 'scope', 'updated_at');
    const apps = new Map<string, { scopes: Set<string>; since: number }>();
    const add = (clientId: string, scopes: string[], since: number) => {
      const app = apps.get(clientId) ?? { scopes: new Set<string>(), since };
      for (const scope of scopes) app.scopes.add(scope);
      app.since = Math.min(app.since, since);
      apps.set(clientId, app);
    };
    for (const { payload } of grants) {
      const grant = JSON.parse(payload) as GrantPayload;
      if (grant.clientId) add(grant.clientId, (grant.openid?.scope ?? '').split(' ').filter(Boolean), (grant.iat ?? now / 1000) * 1000);
    }
    for (const consent of consents) add(consent.client_id, consent.scope.split(' ').filter(Boolean), Number(consent.updated_at));
    return [...apps].map(([clientId, app]) => ({ clientId, scopes: [...app.scopes].sort(bySCOPES), since: app.since })).sort((a, b) => a.since - b.since);
  }

  async sessions(accountId: string, now: number): Promise<AccountSession[]> {
    const rows: { uid: string; payload: string; expires_at: number | null; user_agent: string | null; ip: string | null }[] = await this.db('oidc_payloads as p')
      .leftJoin('session_devices as d', 'd.session_uid', 'p.uid')
      .where({ 'p.account_id': accountId, 'p.type': 'Session' }).andWhere((q) => q.whereNull('p.expires_at').orWhere('p.expires_at', '>', now))
      .select('p.uid', 'p.payload', 'p.expires_at', 'd.user_agent', 'd.ip');
    return rows
      .map((row) => {
        const session = JSON.parse(row.payload) as SessionPayload;
        return {
          uid: row.uid,
          signedInAt: (session.loginTs ?? 0) * 1000,
          expiresAt: row.expires_at === null ? null : Number(row.expires_at),
          clientIds: Object.keys(session.authorizations ?? {}),
          userAgent: row.user_agent ?? undefined,
          ip: row.ip ?? undefined,
        };
      })
      .sort((a, b) => b.signedInAt - a.signedInAt);
  }

  async recordSignIn(sessionUid: string, accountId: string, device: { userAgent?: string; ip?: string }, at: number): Promise<void> {
    await this.db('session_devices')
      .insert({ session_uid: sessionUid, account_id: accountId, user_agent: device.userAgent?.slice(0, 512) ?? null, ip: device.ip?.slice(0, 64) ?? null, signed_in_at: at })
      .onConflict('session_uid')
      .merge(['account_id', 'user_agent', 'ip', 'signed_in_at']);
  }

  async disconnect(accountId: string, clientId: string, now: number): Promise<boolean> {
    // nothing read earlier in this request may answer a later read
    forgetMemo();
    return this.db.transaction(async (trx) => {
      // a write first: on SQLite it takes the write lock (waiting for it) before anything is read,
      // so no other connection can write between these reads and the writes that follow
      let changed = await trx('consents').where({ account_id: accountId, client_id: clientId }).delete();
      const grants: { id: string; payload: string }[] = await trx('oidc_payloads').where({ account_id: accountId, type: 'Grant' }).select('id', 'payload');
      const grantIds = grants.filter(({ payload }) => (JSON.parse(payload) as GrantPayload).clientId === clientId).map(({ id }) => id);
      const sessions: { id: string; payload: string }[] = await trx('oidc_payloads').where({ account_id: accountId, type: 'Session' }).select('id', 'payload');
      for (const session of sessions) {
        const payload = JSON.parse(session.payload) as SessionPayload;
        const authorization = payload.authorizations?.[clientId];
        if (!authorization) continue;
        // the app's logout token for that session, and the session no longer names the app: its
        // next sign-in there starts from the consent page, not from a grant that is gone
        if (typeof authorization.sid === 'string') await trx('backchannel_logouts').insert({ account_id: accountId, client_id: clientId, sid: authorization.sid, next_attempt_at: now, created_at: now });
        if (authorization.grantId && !grantIds.includes(authorization.grantId)) grantIds.push(authorization.grantId);
        delete payload.authorizations![clientId];
        await trx('oidc_payloads').where({ id: session.id, type: 'Session' }).update({ payload: JSON.stringify(payload) });
        changed++;
      }
      if (grantIds.length) {
        // the grants, and every code and token they issued (the adapter's revokeByGrantId, for all at once)
        changed += await trx('oidc_payloads').whereIn('grant_id', grantIds).delete();
        changed += await trx('oidc_payloads').where({ type: 'Grant' }).whereIn('id', grantIds).delete();
      }
      return changed > 0;
    });
  }

  async endSessions(accountId: string, uids: readonly string[] | undefined, now: number): Promise<number> {
    forgetMemo();
    return this.db.transaction(async (trx) => {
      // a write first (see disconnect): the devices of the sessions about to end
      const ending = trx('oidc_payloads').where({ account_id: accountId, type: 'Session' }).select('uid');
      if (uids) ending.whereIn('uid', uids);
      await trx('session_devices').where({ account_id: accountId }).whereIn('session_uid', ending).delete();
      const q = trx('oidc_payloads').where({ account_id: accountId, type: 'Session' });
      if (uids) q.whereIn('uid', uids);
      const sessions: { id: string; uid: string; payload: string }[] = await q.select('id', 'uid', 'payload');
      if (sessions.length === 0) return 0;
      // every app signed in through an ended session is owed a logout token (back-channel logout)
      const owed = sessions.flatMap(({ payload }) => Object.entries((JSON.parse(payload) as SessionPayload).authorizations ?? {})
        .filter(([, authorization]) => typeof authorization.sid === 'string')
        .map(([clientId, authorization]) => ({ account_id: accountId, client_id: clientId, sid: authorization.sid!, next_attempt_at: now, created_at: now })));
      if (owed.length) await trx('backchannel_logouts').insert(owed);
      return Number(await trx('oidc_payloads').where({ type: 'Session' }).whereIn('id', sessions.map(({ id }) => id)).delete());
    });
  }
}

/** Scopes in the order Sesame lists them everywhere (openid first), unknown ones last. */
function bySCOPES(a: string, b: string): number {
  const rank = (scope: string) => {
    const i = (SCOPES as readonly string[]).indexOf(scope);
    return i < 0 ? SCOPES.length : i;
  };
  return rank(a) - rank(b) || a.localeCompare(b);
}
