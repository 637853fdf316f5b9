import type { Logger } from '../shared/logger.js';
import { detachedRunner } from '../shared/detached.js';

/** Security events, kept in the database for operators (read with `sesame audit`). */
export const AUDIT_TYPES = [
  'login.requested',
  'login.throttled',
  'email.sent',
  'email.withheld',
  'email.retry',
  'email.failed',
  'link.opened',
  'login.approved',
  'login.denied',
  'login.completed',
  'login.failed',
  'logout',
  'consent.granted',
  'token.revoked',
  'logout.backchannel_sent',
  'logout.backchannel_failed',
  'client.registered',
  'client.registration_updated',
  'client.registration_deleted',
  'admin.client.added',
  'admin.client.removed',
  'admin.client.updated',
  'admin.client.enabled',
  'admin.client.disabled',
  'admin.client.secret_rotated',
  'admin.key.rotated',
  'admin.account.created',
  'admin.account.disabled',
  'admin.account.enabled',
  'admin.account.deleted',
  'admin.account.renamed',
  'account.email_change_requested',
  'account.email_changed',
  'account.app_disconnected',
  'account.signed_out',
  'account.deletion_requested',
  'account.deleted',
  'admin.token.created',
  'admin.token.revoked',
  'passkey.registered',
  'passkey.used',
  'passkey.refused',
  'passkey.renamed',
  'passkey.removed',
] as const;

export type AuditType = (typeof AUDIT_TYPES)[number];

export interface AuditEvent {
  readonly type: AuditType;
  readonly accountId?: string;
  readonly clientId?: string;
  readonly email?: string;
  readonly ip?: string;
  readonly userAgent?: string;
  readonly requestId?: string;
  readonly loginRequestId?: string;
  /** who made an administrative change: `cli:<os user>`, `admin-token:<token id>` or `client:<client id>` (its own registration) */
  readonly actor?: string;
  /** small facts about the event (never a token, a code or mail content) */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

export interface StoredAuditEvent extends AuditEvent {
  readonly id: number;
  readonly at: number;
}

export interface AuditQuery {
  accountId?: string;
  clientId?: string;
  /** events about the address: those naming it, and those of an account it belongs or belonged to */
  email?: string;
  type?: string;
  actor?: string;
  since?: number;
  until?: number;
  limit?: number;
  /** only events older than this id (the `next` cursor of a page) */
  beforeId?: number;
}

export interface AuditStore {
  /** one statement for all of them, in this order */
  insertMany(events: readonly { event: AuditEvent; at: number }[]): Promise<void>;
  /**
   * Hands the event to the current request's unit of work, when one is collecting: it is stored
   * with the request's other writes, before the request answers; or, when the request stores none,
   * handed back to `alone` then. False: no request is collecting, store it yourself.
   */
  collect?(event: AuditEvent, at: number, alone: () => Promise<void>): boolean;
  query(filter: AuditQuery): Promise<StoredAuditEvent[]>;
}

/** Rows per INSERT at most (10 columns each: far below SQLite's and PostgreSQL's parameter limits). */
const MAX_BATCH = 200;

interface Pending {
  event: AuditEvent;
  at: number;
  done: () => void;
}

/**
 * Records events without ever failing the action they describe: a broken audit write is logged,
 * the sign-in goes on. Observers (metrics) see every event too.
 *
 * Within an HTTP request an event goes to the request's unit of work (store/unit-of-work.ts): the
 * request's events are written in one multi-row INSERT in the transaction that stores its other
 * writes, before it answers: no statement nor transaction of their own. A request that stores no
 * writes (or drops them) hands its events back at its end, and they go as any other event.
 * Outside a request (the mail worker, the CLI), and those handed back:
 * writes are coalesced, never delayed: when no write is under way an event is inserted at once;
 * events recorded while one is under way (under load, several requests at once) wait for it and
 * then go together in one multi-row INSERT. `record` resolves only once its own event is stored,
 * so a caller that awaits it (every request handler) answers after its event is in the database,
 * exactly as with one INSERT per event: a crash loses only events whose request has not been
 * answered yet. On SQLite, whose single connection serialises every statement, this takes about
 * four statements out of each sign-in.
 */
export class AuditLog {
  readonly #observers: ((event: AuditEvent) => void)[] = [];
  #queue: Pending[] = [];
  #writing: Promise<void> | undefined;
  // a batch holds the events of many requests: it is written in no request's unit of work
  readonly #detached = detachedRunner();

  constructor(private readonly store: AuditStore, private readonly logger: Logger) {}

  observe(observer: (event: AuditEvent) => void): void {
    this.#observers.push(observer);
  }

  record(event: AuditEvent): Promise<void> {
    for (const observer of this.#observers) observer(event);
    const at = Date.now();
    // within a request: written with the request's other writes, at its end
    if (this.store.collect?.(event, at, () => this.#enqueue(event, at))) return Promise.resolve();
    return this.#enqueue(event, at);
  }

  #enqueue(event: AuditEvent, at: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#queue.push({ event, at, done: resolve });
      this.#writing ??= this.#detached(() => this.#drain());
    });
  }

  /** Resolves when every event recorded so far is written (or its failure logged). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        try {
          await this.store.insertMany(batch);
        } catch (error) {
          for (const { event } of batch) this.logger.error({ err: error, type: event.type }, 'audit write failed');
        }
        for (const pending of batch) pending.done();
      }
    } finally {
      this.#writing = undefined;
    }
  }

  query(filter: AuditQuery): Promise<StoredAuditEvent[]> {
    return this.store.query(filter);
  }
}
