import type { AuditEvent } from '../audit/audit.js';

/** An app the account has let in: a live grant, a remembered consent, or both. */
export interface ConnectedApp {
  readonly clientId: string;
  /** the scopes granted or consented to */
  readonly scopes: readonly string[];
  /** when the app was first let in (ms) */
  readonly since: number;
}

/** A signed-in session of the account at Sesame (one per browser). */
export interface AccountSession {
  readonly uid: string;
  /** when the person last signed in there (ms) */
  readonly signedInAt: number;
  readonly expiresAt: number | null;
  /** the apps signed in through it */
  readonly clientIds: readonly string[];
  /** the browser and address it signed in from, when known */
  readonly userAgent?: string;
  readonly ip?: string;
}

/** The storage the account page needs; `store/connection-store.ts` implements it. */
export interface ConnectionStore {
  apps(accountId: string, now: number): Promise<ConnectedApp[]>;
  sessions(accountId: string, now: number): Promise<AccountSession[]>;
  /**
   * Revokes the app's grants and every token and code they issued, and forgets its consent, in one
   * transaction; the app is owed a logout token for each session it was signed in through.
   * False when it was not connected.
   */
  disconnect(accountId: string, clientId: string, now: number): Promise<boolean>;
  /** Remembers which browser a session signed in from (again, at every sign-in in it). */
  recordSignIn(sessionUid: string, accountId: string, device: { userAgent?: string; ip?: string }, at: number): Promise<void>;
  /** Ends these sessions of the account (all of them when `uids` is absent); how many ended. */
  endSessions(accountId: string, uids: readonly string[] | undefined, now: number): Promise<number>;
}

/** Who did it, for the audit trail. */
export type Requester = Pick<AuditEvent, 'ip' | 'userAgent' | 'requestId'>;

/**
 * What a person can see and undo of their account's access: the apps connected to it and the
 * sessions signed in to it. Every change is audited. `hidden` apps (the account page's own client)
 * are never listed nor disconnected here.
 */
export class AccountConnections {
  constructor(
    private readonly store: ConnectionStore,
    private readonly audit: { record(event: AuditEvent): Promise<void> },
    private readonly hidden: ReadonlySet<string> = new Set(),
  ) {}

  async apps(accountId: string, now = Date.now()): Promise<ConnectedApp[]> {
    return (await this.store.apps(accountId, now)).filter((app) => !this.hidden.has(app.clientId));
  }

  async sessions(accountId: string, now = Date.now()): Promise<AccountSession[]> {
    const sessions = await this.store.sessions(accountId, now);
    return sessions.map((session) => ({ ...session, clientIds: session.clientIds.filter((id) => !this.hidden.has(id)) }));
  }

  recordSignIn(sessionUid: string, accountId: string, device: { userAgent?: string; ip?: string }, now = Date.now()): Promise<void> {
    return this.store.recordSignIn(sessionUid, accountId, device, now);
  }

  async disconnect(accountId: string, clientId: string, who: Requester, now = Date.now()): Promise<boolean> {
    if (this.hidden.has(clientId)) return false;
    const done = await this.store.disconnect(accountId, clientId, now);
    if (done) await this.audit.record({ ...who, type: 'account.app_disconnected', accountId, clientId, details: { via: 'account_page' } });
    return done;
  }

  async signOut(accountId: string, sessionUid: string, who: Requester, now = Date.now()): Promise<boolean> {
    const ended = await this.store.endSessions(accountId, [sessionUid], now);
    if (ended) await this.audit.record({ ...who, type: 'account.signed_out', accountId, details: { via: 'account_page', sessions: ended, session: sessionUid } });
    return ended > 0;
  }

  async signOutEverywhere(accountId: string, who: Requester, now = Date.now()): Promise<number> {
    const ended = await this.store.endSessions(accountId, undefined, now);
    await this.audit.record({ ...who, type: 'account.signed_out', accountId, details: { via: 'account_page', sessions: ended, everywhere: true } });
    return ended;
  }
}
