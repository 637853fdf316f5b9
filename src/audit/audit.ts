import type { Logger } from '../shared/logger.js';

/** Security events, kept in the database for operators (read with `sesame audit`). */
export type AuditType =
  | 'login.requested'
  | 'login.throttled'
  | 'email.sent'
  | 'email.retry'
  | 'email.failed'
  | 'link.opened'
  | 'login.approved'
  | 'login.denied'
  | 'login.completed'
  | 'login.failed'
  | 'logout'
  | 'token.revoked'
  | 'client.registered'
  | 'client.registration_updated'
  | 'client.registration_deleted'
  | 'admin.client.added'
  | 'admin.client.removed'
  | 'admin.client.updated'
  | 'admin.client.enabled'
  | 'admin.client.disabled'
  | 'admin.client.secret_rotated'
  | 'admin.key.rotated'
  | 'admin.account.created'
  | 'admin.account.disabled'
  | 'admin.account.enabled'
  | 'admin.account.deleted'
  | 'account.email_change_requested'
  | 'account.email_changed'
  | 'admin.token.created'
  | 'admin.token.revoked';

export interface AuditEvent {
  readonly type: AuditType;
  readonly accountId?: string;
  readonly clientId?: string;
  readonly email?: string;
  readonly ip?: string;
  readonly userAgent?: string;
  readonly requestId?: string;
  readonly loginRequestId?: string;
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
  email?: string;
  type?: string;
  since?: number;
  until?: number;
  limit?: number;
  /** only events older than this id (the `next` cursor of a page) */
  beforeId?: number;
}

export interface AuditStore {
  insert(event: AuditEvent, at: number): Promise<void>;
  query(filter: AuditQuery): Promise<StoredAuditEvent[]>;
}

/**
 * Records events without ever failing the action they describe: a broken audit write is logged,
 * the sign-in goes on. Observers (metrics) see every event too.
 */
export class AuditLog {
  readonly #observers: ((event: AuditEvent) => void)[] = [];

  constructor(private readonly store: AuditStore, private readonly logger: Logger) {}

  observe(observer: (event: AuditEvent) => void): void {
    this.#observers.push(observer);
  }

  async record(event: AuditEvent): Promise<void> {
    for (const observer of this.#observers) observer(event);
    try {
      await this.store.insert(event, Date.now());
    } catch (error) {
      this.logger.error({ err: error, type: event.type }, 'audit write failed');
    }
  }

  query(filter: AuditQuery): Promise<StoredAuditEvent[]> {
    return this.store.query(filter);
  }
}
