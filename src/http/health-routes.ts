import Router from '@koa/router';
import { bearerToken } from '../shared/bearer.js';
import { constantTimeEqual } from '../shared/crypto.js';
import type { HttpDeps } from './context.js';

export function healthRoutes({ readiness, metrics, config }: HttpDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  // ready = the database answers and its schema is the one this code expects
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const { ready, reason } = await readiness();
    ctx.status = ready ? 200 : 503;
    ctx.body = ready ? { status: 'ready' } : { status: 'unavailable', reason };
  });
  router.get('/metrics', async (ctx) => {
    const token = config.metricsToken;
    if (token && !constantTimeEqual(bearerToken(ctx.get('Authorization')) ?? '', token)) {
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
