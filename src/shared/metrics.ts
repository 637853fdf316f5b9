import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface OutboxGauges {
  depth: number;
  oldestAgeSeconds: number;
}

/**
 * Prometheus metrics of one Sesame process (its own registry, so several instances in one
 * process, as in tests, do not mix). Labels are bounded: routes are patterns, never raw paths.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({ name: 'sesame_http_requests_total', help: 'HTTP requests by route pattern, method and status', labelNames: ['route', 'method', 'status'], registers: [this.registry] });
  readonly httpDuration = new Histogram({
    name: 'sesame_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern and method',
    labelNames: ['route', 'method'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly loginsStarted = new Counter({ name: 'sesame_logins_started_total', help: 'Sign-in emails asked for', registers: [this.registry] });
  readonly loginsCompleted = new Counter({ name: 'sesame_logins_completed_total', help: 'Sign-ins completed', registers: [this.registry] });
  readonly loginsFailed = new Counter({ name: 'sesame_logins_failed_total', help: 'Sign-ins that failed, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly emails = new Counter({ name: 'sesame_emails_total', help: 'Sign-in emails by outcome (queued, sent, retry, failed); sent includes those withheld from addresses that may not sign in', labelNames: ['result'], registers: [this.registry] });
  readonly mailRelayFailures = new Counter({
    name: 'sesame_mail_relay_failures_total',
    help: 'Sends our SMTP relay refused for a reason of its own, not the recipient (stage: auth, session, sender, data): alert on any; the mail is kept and retried',
    labelNames: ['stage'],
    registers: [this.registry],
  });
  readonly rateLimitHits = new Counter({ name: 'sesame_rate_limit_hits_total', help: 'Requests refused by a rate limit', labelNames: ['limit'], registers: [this.registry] });

  /** since when sends fail, as the mail worker saw it (see OutboxWorker.health); undefined while mail goes out */
  #relayFailingSince: number | undefined;

  relayState(failingSince: number | undefined): void {
    this.#relayFailingSince = failingSince;
  }

  constructor(outbox: () => Promise<OutboxGauges>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'sesame_' });
    const registry = this.registry;
    const failingSince = () => this.#relayFailingSince;
    new Gauge({
      name: 'sesame_mail_relay_up',
      help: '1 while mail goes out; 0 from the first send that failed for a reason other than its recipient (SMTP down, timing out, refusing us) until one goes out again',
      registers: [registry],
      collect() { this.set(failingSince() === undefined ? 1 : 0); },
    });
    new Gauge({
      name: 'sesame_mail_relay_failing_seconds',
      help: 'How long sends have been failing (0 while mail goes out)',
      registers: [registry],
      collect() { const since = failingSince(); this.set(since === undefined ? 0 : (Date.now() - since) / 1000); },
    });
    let pending: Promise<OutboxGauges> | undefined;
    // one query per scrape feeds both gauges
    const read = () => (pending ??= outbox().finally(() => setTimeout(() => (pending = undefined), 0)));
    new Gauge({
      name: 'sesame_outbox_depth', help: 'Emails waiting to be sent', registers: [registry],
      async collect() { this.set((await read()).depth); },
    });
    new Gauge({
      name: 'sesame_outbox_oldest_age_seconds', help: 'Age of the oldest email waiting to be sent', registers: [registry],
      async collect() { this.set((await read()).oldestAgeSeconds); },
    });
  }
}
