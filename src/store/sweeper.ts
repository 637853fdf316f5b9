import type { Logger } from '../shared/logger.js';
import type { Db } from './db.js';

const DAY = 24 * 3600 * 1000;

/** Deletes what has expired, so that no table grows without bound. Safe to run on every instance. */
export async function sweepExpired(db: Db, now = Date.now(), auditRetentionDays = 365): Promise<Record<string, number>> {
  return {
    oidc_payloads: await db('oidc_payloads').where('expires_at', '<=', now).delete(),
    // finished login requests stay a day for support questions ("did my link work?"), then go
    login_requests: await db('login_requests').where('expires_at', '<=', now - DAY).delete(),
    mail_outbox: await db('mail_outbox').whereIn('status', ['sent', 'failed', 'expired', 'suppressed']).andWhere('created_at', '<=', now - DAY).delete(),
    // address changes: unconfirmed ones are marked expired, and every one goes a day after its link died
    email_changes: await sweepEmailChanges(db, now),
    // logout tokens owed to apps: kept a day after they were delivered or given up on
    backchannel_logouts: await db('backchannel_logouts').whereIn('status', ['sent', 'skipped', 'failed']).andWhere('created_at', '<=', now - DAY).delete(),
    // the browser a session signed in from goes with the session (an hour's grace: it is recorded
    // during the sign-in request, before that request stores the session)
    session_devices: await db('session_devices')
      .where('signed_in_at', '<', now - 3600 * 1000)
      .whereNotExists((q) => q.select(db.raw('1')).from('oidc_payloads').where('oidc_payloads.type', 'Session').whereRaw('oidc_payloads.uid = session_devices.session_uid'))
      .delete(),
    // rate windows are at most a day long
    // a passkey ceremony's challenge lives minutes
    webauthn_challenges: await db('webauthn_challenges').where('expires_at', '<=', now).delete(),
    rate_events: await db('rate_events').where('at', '<=', now - DAY).delete(),
    audit_events: await db('audit_events').where('at', '<=', now - auditRetentionDays * DAY).delete(),
  };
}

async function sweepEmailChanges(db: Db, now: number): Promise<number> {
  await db('email_changes').where('state', 'pending').andWhere('expires_at', '<=', now).update({ state: 'expired' });
  return db('email_changes').where('expires_at', '<=', now - DAY).delete();
}

export function startSweeper(db: Db, intervalSeconds: number, logger: Logger, auditRetentionDays = 365): () => void {
  const timer = setInterval(() => {
    sweepExpired(db, Date.now(), auditRetentionDays).then(
      (deleted) => logger.debug({ deleted }, 'swept expired rows'),
      (error) => logger.error({ err: error }, 'sweep failed'),
    );
  }, intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
