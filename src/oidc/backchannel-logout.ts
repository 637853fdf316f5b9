import type { Provider } from 'oidc-provider';
import type { AuditLog } from '../audit/audit.js';
import type { Logger } from '../shared/logger.js';
import { retryDelayMs } from '../shared/backoff.js';
import { PollingLoop } from '../shared/polling-loop.js';

/** A logout token owed to an app: the account's session `sid` at that app. */
export interface OwedLogout {
  id: number;
  accountId: string;
  clientId: string;
  sid: string;
  /** including the one now claimed */
  attempts: number;
}

export interface OwedLogoutStore {
  /** claims due rows for `leaseMs`; a row claimed by one instance is not handed to another */
  claimDue(now: number, limit: number, leaseMs: number): Promise<OwedLogout[]>;
  finish(id: number, status: 'sent' | 'skipped' | 'failed', error?: string): Promise<void>;
  retryAt(id: number, at: number, error: string): Promise<void>;
}

const MAX_ATTEMPTS = 5;
const BATCH = 20;
const LEASE_MS = 60_000;

/**
 * Sends the logout tokens owed when an operator disables or deletes an account (OpenID Connect
 * Back-Channel Logout). oidc-provider sends them itself when a person signs out; this covers the
 * revocations that happen outside any browser session, from the CLI or the admin API, on any
 * instance. The token is signed and posted by oidc-provider's own client model.
 */
export class BackchannelLogoutWorker {
  readonly #loop: PollingLoop;
  readonly #baseBackoffMs: number;

  constructor(
    private readonly store: OwedLogoutStore,
    private readonly provider: () => Provider,
    private readonly logger: Logger,
    private readonly audit: AuditLog,
    options: { pollIntervalMs?: number; baseBackoffMs?: number } = {},
  ) {
    this.#baseBackoffMs = options.baseBackoffMs ?? 5_000;
    this.#loop = new PollingLoop(() => this.#pass(), options.pollIntervalMs ?? 2_000);
  }

  start(): void {
    this.#loop.start();
  }

  wake(): void {
    this.#loop.wake();
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }

  async #pass(): Promise<void> {
    try {
      const owed = await this.store.claimDue(Date.now(), BATCH, LEASE_MS);
      await Promise.all(owed.map((item) => this.#deliver(item)));
    } catch (error) {
      this.logger.error({ err: error }, 'back-channel logout pass failed');
    }
  }

  async #deliver(item: OwedLogout): Promise<void> {
    const client = await this.provider().Client.find(item.clientId);
    // a client without a back-channel URI (or removed, or disabled) is owed nothing
    if (!client?.backchannelLogoutUri) return this.store.finish(item.id, 'skipped');
    const event = { accountId: item.accountId, clientId: item.clientId, details: { sid: item.sid, attempt: item.attempts } };
    try {
      // oidc-provider's Client has this method (it uses it on sign-out); its type declarations omit it
      await (client as unknown as { backchannelLogout(sub: string, sid: string): Promise<void> }).backchannelLogout(item.accountId, item.sid);
      await this.store.finish(item.id, 'sent');
      await this.audit.record({ type: 'logout.backchannel_sent', ...event });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (item.attempts >= MAX_ATTEMPTS) {
        await this.store.finish(item.id, 'failed', reason);
        await this.audit.record({ type: 'logout.backchannel_failed', ...event, details: { ...event.details, reason } });
        return;
      }
      await this.store.retryAt(item.id, Date.now() + retryDelayMs(this.#baseBackoffMs, item.attempts), reason);
    }
  }
}
