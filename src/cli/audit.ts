import { parseArgs } from 'node:util';
import { auditEventToJson } from '../admin/json.js';
import { parseWhen } from '../admin/time.js';
import type { Core } from '../core.js';
import { AUDIT_TYPES } from '../audit/audit.js';
import { didYouMean } from './suggest.js';
import { UsageError } from './usage-error.js';

/** `sesame audit`: the security events, newest first, filtered by account, client, type and time. */
export async function auditCommand(core: Core, argv: string[], out: (text: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      account: { type: 'string' },
      client: { type: 'string' },
      email: { type: 'string' },
      type: { type: 'string' },
      actor: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string', default: '100' },
      json: { type: 'boolean', default: false },
    },
  });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be a whole number from 1 to 10000');
  if (values.type !== undefined && !(AUDIT_TYPES as readonly string[]).includes(values.type)) {
    throw new UsageError(`--type "${values.type}" is not an event type.${didYouMean(values.type, AUDIT_TYPES)} The types: ${AUDIT_TYPES.join(', ')}`);
  }
  const events = await core.audit.query({
    accountId: values.account,
    clientId: values.client,
    email: values.email?.trim().toLowerCase(),
    type: values.type,
    actor: values.actor,
    since: time('--since', values.since),
    until: time('--until', values.until),
    limit,
  });
  if (values.json) {
    out(`${JSON.stringify(events.map(auditEventToJson), null, 2)}\n`);
    return 0;
  }
  if (events.length === 0) out('no events\n');
  for (const e of events) {
    const who = [e.email, e.accountId && `account=${e.accountId}`, e.clientId && `client=${e.clientId}`, e.ip && `ip=${e.ip}`, e.actor && `by=${e.actor}`].filter(Boolean).join(' ');
    const details = e.details ? Object.entries(e.details).map(([k, v]) => `${k}=${v}`).join(' ') : '';
    out(`${new Date(e.at).toISOString()}  ${e.type.padEnd(20)} ${who}${details ? `  ${details}` : ''}\n`);
  }
  return 0;
}

/** See parseWhen: the same rule as the admin API's `since` and `until`. */
function time(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const at = parseWhen(value);
  if (at === undefined) throw new UsageError(`${flag} takes an ISO date (2026-11-28 or 2026-11-28T18:00:00Z) or a duration like 15m, 24h, 7d`);
  return at;
}
