import Router from '@koa/router';
import type { Context } from 'koa';
import { bearerToken } from '../shared/bearer.js';
import { constantTimeEqual } from '../shared/crypto.js';
import type { HttpDeps } from './context.js';

/**
 * Liveness, readiness and metrics, on the public port (no second listener). In production what
 * they tell beyond up/down is for the holder of METRICS_TOKEN only: without it /metrics does not
 * exist (404) and /readyz gives no reason and no mail detail; outside production both are open
 * unless METRICS_TOKEN is set for /metrics. docs/monitoring.md shows what to alert on.
 */
export function healthRoutes({ readiness, metrics, config }: HttpDeps): Router {
  const router = new Router();
  const token = config.metricsToken;
  const production = config.env === 'production';
  const bearsToken = (ctx: Context) => token !== undefined && constantTimeEqual(bearerToken(ctx.get('Authorization')) ?? '', token);

  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  // ready = the database answers and its schema is the one this code expects. Mail that does not go
  // out is a detail, not unreadiness: the outbox keeps every message, and an instance taken out of
  // the load balancer for it would serve no one, sign-ins by a link already sent included.
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const { ready, reason, mail } = await readiness();
    ctx.status = ready ? 200 : 503;
    // a load balancer needs only the status; why (database unreachable, migrations, mail) is for operators
    const detail = !production || bearsToken(ctx);
    const body: Record<string, unknown> = ready ? { status: 'ready' } : { status: 'unavailable', ...(detail ? { reason } : {}) };
    if (detail && mail?.state === 'failing') {
      body.mail = { status: 'failing', since: new Date(mail.since!).toISOString(), failures: mail.failures, reason: mail.reason };
    }
    ctx.body = body;
  });
  // production without METRICS_TOKEN: no metrics at all (the start-up log says so)
  if (production && token === undefined) return router;
  router.get('/metrics', async (ctx) => {
    if (token !== undefined && !bearsToken(ctx)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer');
      ctx.body = { error: 'unauthorized', error_description: 'metrics need the bearer token from METRICS_TOKEN' };
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}
