import type { AuditEvent, AuditQuery, AuditStore, StoredAuditEvent } from '../audit/audit.js';
import { fixedSql, insertSql, type Binding, type Db } from './db.js';
import { collectingUnit } from './unit-of-work.js';

export class KnexAuditStore implements AuditStore {
  constructor(private readonly db: Db) {}

  async insertMany(events: readonly { event: AuditEvent; at: number }[]): Promise<void> {
    if (events.length === 0) return;
    const insert = insertSql('audit_events', events.map(({ event, at }) => auditRow(event, at)));
    await fixedSql(this.db).changes(insert.sql, insert.bindings);
  }

  collect(event: AuditEvent, at: number, alone: () => Promise<void>): boolean {
    return collectingUnit()?.addRecord(this.db, 'audit_events', auditRow(event, at), alone) ?? false;
  }

  async query(filter: AuditQuery): Promise<StoredAuditEvent[]> {
    const q = this.db('audit_events').orderBy('id', 'desc').limit(Math.min(filter.limit ?? 100, 10_000));
    if (filter.accountId) q.where('account_id', filter.accountId);
    if (filter.clientId) q.where('client_id', filter.clientId);
    if (filter.email) {
      const email = filter.email;
      // events that name the address, and those that name only the account (a sign-out, a
      // revocation, rows written before failures carried the address): the accounts the
      // address has now, or had when a recorded event named both
      q.where((about) => about.where('email', email).orWhereIn('account_id', this.db('accounts').select('id').where('email', email)
        .union((seen) => seen.select('account_id').from('audit_events').where('email', email).whereNotNull('account_id'))));
    }
    if (filter.type) q.where('type', filter.type);
    if (filter.actor) q.where('actor', filter.actor);
    if (filter.since !== undefined) q.where('at', '>=', filter.since);
    if (filter.until !== undefined) q.where('at', '<', filter.until);
    if (filter.beforeId !== undefined) q.where('id', '<', filter.beforeId);
    const rows = await q;
    return rows.map((row) => ({
      id: Number(row.id),
      at: Number(row.at),
      type: row.type,
      accountId: row.account_id ?? undefined,
      clientId: row.client_id ?? undefined,
      email: row.email ?? undefined,
      ip: row.ip ?? undefined,
      userAgent: row.user_agent ?? undefined,
      requestId: row.request_id ?? undefined,
      loginRequestId: row.login_request_id ?? undefined,
      actor: row.actor ?? undefined,
      details: row.details ? JSON.parse(row.details) : undefined,
    }));
  }
}

/** Always the same columns in the same order: one statement text per number of rows. */
function auditRow(event: AuditEvent, at: number): Record<string, Binding> {
  return {
    at,
    type: event.type,
    account_id: event.accountId ?? null,
    client_id: event.clientId ?? null,
    email: event.email ?? null,
    ip: event.ip?.slice(0, 64) ?? null,
    user_agent: event.userAgent?.slice(0, 512) ?? null,
    request_id: event.requestId ?? null,
    login_request_id: event.loginRequestId ?? null,
    actor: event.actor?.slice(0, 160) ?? null,
    details: event.details ? JSON.stringify(event.details) : null,
  };
}
