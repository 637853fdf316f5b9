import type { AuditLog } from '../audit/audit.js';
import type { Logger } from '../shared/logger.js';
import { retryDelayMs } from '../shared/backoff.js';
import { detachedRunner } from '../shared/detached.js';
import { PollingLoop } from '../shared/polling-loop.js';
import type { MailMessage } from './message.js';
import { sendFailure, type MailTransport, type RelayStage } from './transport.js';

export interface OutboxItem {
  readonly id: number;
  readonly loginRequestId?: string;
  readonly message: MailMessage;
  /** including the attempt this claim is for */
  readonly attempts: number;
  /** for an address that may not sign in: taken like any other message, then not sent */
  readonly withheld?: boolean;
}

export interface OutboxDepth {
  pending: number;
  oldestCreatedAt?: number;
}

export interface OutboxStore {
  /** messages waiting to be sent, and the creation time of the oldest */
  depth(now: number): Promise<OutboxDepth>;
  /** Claims due messages for this worker (a lease, so a crashed worker's messages come back). */
  claimDue(now: number, limit: number, leaseMs: number): Promise<OutboxItem[]>;
  /** Claims one message by id, if it is due and no other worker holds it. */
  claim(id: number, now: number, leaseMs: number): Promise<OutboxItem | undefined>;
  markSent(id: number, now: number): Promise<void>;
  markWithheld(id: number, now: number): Promise<void>;
  reschedule(id: number, nextAttemptAt: number, error: string): Promise<void>;
  markFailed(id: number, error: string): Promise<void>;
  /** keeps this worker's claim of a message it is still sending */
  extendLease(id: number, lockedUntil: number): Promise<void>;
  /** makes every message waiting out a back-off due now; returns how many */
  resumeWaiting(now: number): Promise<number>;
}

/** messages being sent at once by one worker (SMTP connections are pooled, see transport.ts) */
const IN_FLIGHT = 10;

export interface OutboxOptions {
  pollIntervalMs?: number;
  /** attempts after which a message is given up; by default it is retried until it expires */
  maxAttempts?: number;
  baseBackoffMs?: number;
  /** the longest wait between two attempts */
  maxBackoffMs?: number;
  /** how long a claim lasts unless renewed: how soon a crashed worker's messages are taken up again */
  leaseMs?: number;
  /** how long `stop` waits for sends under way before it cuts them off */
  stopGraceMs?: number;
  /** our relay refused us (see SendFailure): operators must look */
  onRelayFailure?: (stage: RelayStage) => void;
  /** the relay took a message (up) or a send failed for a reason other than its recipient (down) */
  onRelayState?: (health: RelayHealth) => void;
  /** how long a sign-in's mail may fail to go out before its waiting page says it is delayed */
  delayedAfterMs?: number;
}

/**
 * Whether mail goes out, as this worker last saw it: `failing` from the first send that failed
 * (the relay down, timing out or refusing us) until one goes out again. A recipient refused by the
 * relay says nothing against the relay.
 */
export interface RelayHealth {
  readonly state: 'ok' | 'failing';
  /** when the failures began (ms since the epoch) */
  readonly since?: number;
  /** sends failed since */
  readonly failures: number;
  /** the last failure, as the relay or the connection said it */
  readonly reason?: string;
}

/**
 * Sends what the login pages queued. Mail never goes out inline with a request: the page answers
 * at once and a slow or dead SMTP server only delays delivery.
 *
 * At least once, and once in all but two cases. A message is claimed for `leaseMs` and the claim is
 * renewed while it is being sent, however long the relay takes (SMTP allows it 10 minutes to
 * answer the end of the data), so no other pass or instance takes it meanwhile. It can still go
 * out twice when the relay accepted it but its answer never arrived (the connection broke), or
 * when the worker died (crash, kill) after the relay accepted it and before it was marked sent:
 * then it is sent again once the lease has run out, with the same Message-ID, by which mail
 * systems recognise the second copy. A message whose link has expired is never sent.
 *
 * A recipient refused by the relay (5xx to RCPT TO) is given up at once; anything else, our relay
 * refusing us included (which also raises `onRelayFailure`), is retried with exponential back-off,
 * jitter and a cap, until the message expires. A successful send after failures ends every back-off
 * at once: the relay is back, the messages waiting for it go now.
 */
export class OutboxWorker {
  readonly #maxAttempts: number;
  readonly #baseBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #leaseMs: number;
  readonly #stopGraceMs: number;
  readonly #onRelayFailure: (stage: RelayStage) => void;
  readonly #onRelayState: (health: RelayHealth) => void;
  #health: RelayHealth = { state: 'ok', failures: 0 };
  /** a send failed since the last success: messages may be waiting out a back-off */
  #backingOff = false;
  readonly #loop: PollingLoop;
  /** messages being sent: claimed by a pass (passes never overlap), or handed over by `deliverQueued` */
  readonly #passDeliveries = new Set<Promise<void>>();
  readonly #handedOver = new Set<Promise<void>>();
  /** a hand-over found no room: a pass runs when one of them is done */
  #overflow = false;
  /** a message handed over by a request is sent outside that request */
  readonly #detached = detachedRunner();

  constructor(
    private readonly store: OutboxStore,
    private readonly transport: MailTransport,
    private readonly logger: Logger,
    options: OutboxOptions = {},
    private readonly audit?: AuditLog,
  ) {
    this.#maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY;
    this.#baseBackoffMs = options.baseBackoffMs ?? 5_000;
    // a sign-in link lives 10 minutes: a relay that is back is tried again within half a minute
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#stopGraceMs = options.stopGraceMs ?? 10_000;
    this.#onRelayFailure = options.onRelayFailure ?? (() => {});
    this.#onRelayState = options.onRelayState ?? (() => {});
    this.#loop = new PollingLoop(() => this.#pass(), options.pollIntervalMs ?? 2_000);
  }

  start(): void {
    this.#loop.start();
  }

  /** whether mail goes out (for /readyz and the metrics) */
  health(): RelayHealth {
    return this.#health;
  }

  #relayAnswered(): void {
    if (this.#health.state === 'ok') return;
    this.logger.info({ failures: this.#health.failures, since: new Date(this.#health.since!).toISOString() }, 'mail goes out again');
    this.#setHealth({ state: 'ok', failures: 0 });
  }

  #relayFailed(reason: string): void {
    const { state, since, failures } = this.#health;
    this.#setHealth({ state: 'failing', since: state === 'failing' ? since : Date.now(), failures: failures + 1, reason });
  }

  #setHealth(health: RelayHealth): void {
    this.#health = health;
    this.#onRelayState(health);
  }

  /** Runs a pass now (called when a message is queued, so delivery does not wait for the next poll). */
  wake(): void {
    this.#loop.wake();
  }

  /**
   * Sends a message this process has just queued (committed, `pending`) at once: one guarded
   * claim by id, instead of waking a pass that expires stale messages and selects the due ones
   * (under load one pass served several messages, so this measured 0.6 statements per sign-in
   * fewer, 37.4 → 36.8). The claim is the same guarded update a pass makes, so a
   * pass of any instance that picks the message meanwhile still means it goes out once. When
   * IN_FLIGHT messages are already on their way, or the worker is stopped, it waits in the outbox
   * for a pass like any other.
   */
  deliverQueued(id: number): void {
    if (this.#loop.stopped) return;
    if (this.#sending() >= IN_FLIGHT) {
      this.#overflow = true;
      return;
    }
    const claimed = this.#detached(() => this.store.claim(id, Date.now(), this.#leaseMs).then((item) => item && this.#deliver(item)));
    this.#track(this.#handedOver, id, claimed, () => {
      if (this.#overflow) {
        this.#overflow = false;
        this.wake();
      }
    });
  }

  /**
   * Stops taking messages and waits for the ones being sent, at most `stopGraceMs`: then the
   * connections are closed, and a message cut off this way is tried again later (at least once).
   */
  async stop(): Promise<void> {
    const done = Promise.allSettled([this.#loop.stop(), ...this.#handedOver]);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.#stopGraceMs)));
    if ((await Promise.race([done, late])) === 'late') {
      this.transport.close();
      await done;
    }
    clearTimeout(timer);
    this.transport.close();
  }

  /**
   * Up to IN_FLIGHT messages are being sent at any time: as soon as one is done, the next due ones
   * are claimed, so a message queued while others are on their way does not wait for a whole batch.
   */
  async #pass(): Promise<void> {
    const inFlight = this.#passDeliveries;
    try {
      for (;;) {
        const room = IN_FLIGHT - this.#sending();
        const batch = room > 0 && !this.#loop.stopped ? await this.store.claimDue(Date.now(), room, this.#leaseMs) : [];
        for (const item of batch) this.#track(inFlight, item.id, this.#deliver(item));
        if (inFlight.size === 0) return;
        // nothing more due (or no room): wait until one is done, then look again
        if (batch.length === 0 || this.#sending() >= IN_FLIGHT) await Promise.race(inFlight);
      }
    } catch (error) {
      this.logger.error({ err: error }, 'outbox pass failed');
    } finally {
      await Promise.allSettled(inFlight);
    }
  }

  #sending(): number {
    return this.#passDeliveries.size + this.#handedOver.size;
  }

  /** Keeps `work` (one message's delivery) in `deliveries` until it is done; a failure is logged. */
  #track(deliveries: Set<Promise<void>>, outboxId: number, work: Promise<unknown>, done?: () => void): void {
    const delivery: Promise<void> = work
      .then(() => undefined, (error: unknown) => this.logger.error({ err: error, outboxId }, 'outbox delivery failed'))
      .finally(() => {
        deliveries.delete(delivery);
        done?.();
      });
    deliveries.add(delivery);
  }

  async #deliver(item: OutboxItem): Promise<void> {
    if (item.withheld) {
      await this.store.markWithheld(item.id, Date.now());
      await this.audit?.record({ type: 'email.withheld', email: item.message.to, loginRequestId: item.loginRequestId, details: { outboxId: item.id } });
      return;
    }
    try {
      await this.#sendHoldingClaim(item);
    } catch (error) {
      return this.#failed(item, error);
    }
    this.#relayAnswered();
    await this.store.markSent(item.id, Date.now());
    this.logger.info({ outboxId: item.id, attempts: item.attempts }, 'mail sent');
    if (this.#backingOff) {
      this.#backingOff = false;
      const resumed = await this.store.resumeWaiting(Date.now());
      if (resumed) {
        this.logger.info({ resumed }, 'mail relay answers again: messages waiting out a back-off go now');
        this.wake();
      }
    }
    await this.audit?.record({ type: 'email.sent', email: item.message.to, loginRequestId: item.loginRequestId, details: { outboxId: item.id, attempts: item.attempts } });
  }

  /** Sends, renewing the claim every third of the lease while the relay takes its time. */
  async #sendHoldingClaim(item: OutboxItem): Promise<void> {
    const renew = setInterval(() => {
      this.store.extendLease(item.id, Date.now() + this.#leaseMs)
        .catch((error: unknown) => this.logger.warn({ err: error, outboxId: item.id }, 'could not renew the claim of a message being sent'));
    }, Math.max(1, Math.floor(this.#leaseMs / 3)));
    renew.unref();
    try {
      await this.transport.send(item.message);
    } finally {
      clearInterval(renew);
    }
  }

  async #failed(item: OutboxItem, error: unknown): Promise<void> {
    const reason = describe(error);
    const failure = sendFailure(error);
    if (failure.kind === 'recipient') this.#relayAnswered();
    else this.#relayFailed(reason);
    if (failure.kind === 'relay') {
      this.#onRelayFailure(failure.stage);
      // an operator's problem (credentials, relay policy), not the person's: said loudly, and retried
      this.logger.error({ outboxId: item.id, attempts: item.attempts, stage: failure.stage, reason }, 'mail relay refused us (check SMTP_URL and the relay); the message is kept and retried');
    }
    if (failure.kind === 'recipient' || item.attempts >= this.#maxAttempts) {
      await this.store.markFailed(item.id, reason);
      this.logger.warn({ outboxId: item.id, attempts: item.attempts, reason }, 'mail given up');
      await this.audit?.record({ type: 'email.failed', email: item.message.to, loginRequestId: item.loginRequestId, details: { outboxId: item.id, attempts: item.attempts, reason } });
      return;
    }
    this.#backingOff = true;
    await this.store.reschedule(item.id, Date.now() + retryDelayMs(this.#baseBackoffMs, item.attempts, this.#maxBackoffMs), reason);
    if (failure.kind === 'transient') this.logger.warn({ outboxId: item.id, attempts: item.attempts, reason }, 'mail delivery failed, will retry');
    await this.audit?.record({ type: 'email.retry', email: item.message.to, loginRequestId: item.loginRequestId, details: { outboxId: item.id, attempts: item.attempts, reason } });
  }
}

function describe(error: unknown): string {
  const e = error as { code?: string; responseCode?: number; message?: string };
  return [e?.code, e?.responseCode, e?.message?.slice(0, 200)].filter(Boolean).join(' ');
}
