import type { Metrics } from '../shared/metrics.js';
import type { AuditEvent } from './audit.js';

/** Every audit event also moves a counter, so metrics and the audit trail never disagree. */
export function countAuditEvent(metrics: Metrics, event: AuditEvent): void {
  const details = event.details ?? {};
  switch (event.type) {
    case 'login.requested':
      metrics.loginsStarted.inc();
      metrics.emails.inc({ result: 'queued' });
      break;
    case 'login.throttled':
      metrics.rateLimitHits.inc({ limit: String(details.limit ?? 'unknown') });
      break;
    case 'email.sent':
    // a mail withheld from an address that may not sign in counts as sent: no metric may tell
    // which addresses have an account (the audit trail, for operators, tells the two apart)
    case 'email.withheld':
      metrics.emails.inc({ result: 'sent' });
      break;
    case 'email.retry':
      metrics.emails.inc({ result: 'retry' });
      break;
    case 'email.failed':
      metrics.emails.inc({ result: 'failed' });
      break;
    case 'login.completed':
      metrics.loginsCompleted.inc();
      break;
    case 'login.failed':
    case 'login.denied':
      metrics.loginsFailed.inc({ reason: String(details.reason ?? event.type) });
      break;
    case 'passkey.refused':
      metrics.loginsFailed.inc({ reason: `passkey_${String(details.reason ?? 'refused')}` });
      break;
    default:
      break;
  }
}
