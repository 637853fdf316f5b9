import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { clientToJson, parseClientChanges, parseNewClient } from '../clients/client-json.js';
import { accountDetailsToJson, accountToJson, auditEventToJson, passkeyToJson, signingKeyToJson } from '../admin/json.js';
import { integerField, invalid, limitParam, objectBody, queryParams, stringField } from '../admin/input.js';
import { openApiDocument } from '../admin/openapi.js';
import { parseWhen } from '../admin/time.js';
import type { AuditEvent } from '../audit/audit.js';
import type { RegistrationPosition } from '../clients/client.js';
import { keySet, rotateSigningKey } from '../oidc/signing-keys.js';
import { AppError } from '../shared/errors.js';
import { ADMIN_API_PREFIX, adminFrame, auditActor, jsonBody, requireScope } from './admin-api.js';
import { audited, type HttpDeps } from './context.js';

/**
 * Everything under /admin/api: answered here, whatever the path (never by oidc-provider, so none
 * of its CORS handling applies), inside the admin frame (JSON errors, no-store, no CORS).
 */
export function adminApi(deps: HttpDeps): Middleware {
  const router = adminRoutes(deps);
  const frame = adminFrame(deps.logger);
  // koa's plain middleware type: the router adds its own context fields when it runs
  const routes = router.routes() as Middleware;
  const allowed = router.allowedMethods() as Middleware;
  const end = async () => undefined;
  // ADMIN_API_ENABLED unset: the API exists only while someone holds a token that could use it.
  // Asked on every request to it, never remembered, so revoking the last token closes it at once
  // on every instance; other paths never pay for the query.
  const exists = deps.config.adminApi === 'while-a-token-is-active' ? () => deps.adminTokens.anyActive() : async () => true;
  return async (ctx, next) => {
    if (ctx.path !== ADMIN_API_PREFIX && !ctx.path.startsWith(`${ADMIN_API_PREFIX}/`)) return next();
    // off: the same 404 as ADMIN_API_ENABLED=false, as if there were no admin API
    if (!(await exists())) return next();
    return frame(ctx, () => routes(ctx, () => allowed(ctx, end)));
  };
}

/**
 * The admin API: thin routes over the services the CLI uses (parse → service → JSON). Every
 * change is audited with the token as the actor. Lists answer `{items, next}`; `next` is null on
 * the last page, otherwise the value to pass as `after` for the next one.
 */
export function adminRoutes(deps: HttpDeps): Router {
  const { adminTokens, accounts, audit, clients, config, templates, passkeys } = deps;
  const router = new Router({ prefix: ADMIN_API_PREFIX });
  const read = requireScope(adminTokens, 'read');
  const write = requireScope(adminTokens, 'write');

  const record = (ctx: Context, event: AuditEvent) => audit.record(audited(ctx, { ...event, actor: auditActor(ctx) }));

  router.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument();
  });

  // clients (relying apps), in the order they were registered
  router.get('/clients', read, async (ctx) => {
    const q = queryParams(ctx.query, ['limit', 'after']);
    const limit = limitParam(q.limit, 50, 500);
    const cursor = q.after === undefined ? undefined : parseClientCursor(q.after);
    // one more than the page: whether there is a next one
    const found = await clients.listAfter(cursor, limit + 1);
    const page = found.slice(0, limit);
    ctx.body = { items: page.map(clientToJson), next: found.length > limit ? clientCursor(page.at(-1)!) : null };
  });
  router.post('/clients', write, jsonBody, async (ctx) => {
    const { client, clientSecret } = await clients.add(parseNewClient(ctx.request.body ?? {}));
    await record(ctx, { type: 'admin.client.added', clientId: client.clientId });
    ctx.status = 201;
    // the secret is in this answer only: it is stored as a keyed hash
    ctx.body = { ...clientToJson(client), ...(clientSecret ? { client_secret: clientSecret } : {}) };
  });
  router.get('/clients/:client', read, async (ctx) => {
    noQuery(ctx);
    ctx.body = clientToJson(await clients.get(ctx.params.client));
  });
  router.patch('/clients/:client', write, jsonBody, async (ctx) => {
    const client = await clients.update(ctx.params.client, parseClientChanges(ctx.request.body ?? {}));
    await record(ctx, { type: 'admin.client.updated', clientId: client.clientId });
    ctx.body = clientToJson(client);
  });
  for (const action of ['enable', 'disable'] as const) {
    router.post(`/clients/:client/${action}`, write, jsonBody, async (ctx) => {
      objectBody(ctx.request.body, []);
      const client = await clients.setEnabled(ctx.params.client, action === 'enable');
      await record(ctx, { type: `admin.client.${action}d`, clientId: client.clientId });
      ctx.body = clientToJson(client);
    });
  }
  router.post('/clients/:client/rotate-secret', write, jsonBody, async (ctx) => {
    objectBody(ctx.request.body, []);
    const { client, clientSecret } = await clients.rotateSecret(ctx.params.client);
    await record(ctx, { type: 'admin.client.secret_rotated', clientId: client.clientId });
    ctx.body = { client_id: client.clientId, client_secret: clientSecret };
  });
  router.delete('/clients/:client', write, async (ctx) => {
    await clients.remove(ctx.params.client);
    await record(ctx, { type: 'admin.client.removed', clientId: ctx.params.client });
    ctx.status = 204;
  });

  // accounts: `:account` is an id or an email address, as in the CLI
  router.get('/accounts', read, async (ctx) => {
    const q = queryParams(ctx.query, ['limit', 'after', 'search']);
    const page = await accounts.list({ limit: limitParam(q.limit, 50, 500), after: q.after, search: q.search });
    ctx.body = { items: page.accounts.map(accountToJson), next: page.next ?? null };
  });
  router.post('/accounts', write, jsonBody, async (ctx) => {
    const body = objectBody(ctx.request.body, ['email']);
    const email = stringField(body, 'email', { required: true })!;
    const account = await fieldErrors('email', () => accounts.createNew(email));
    await record(ctx, { type: 'admin.account.created', accountId: account.id, email: account.email });
    ctx.status = 201;
    ctx.body = accountToJson(account);
  });
  router.get('/accounts/:account', read, async (ctx) => {
    noQuery(ctx);
    const { account, activity } = await accounts.details(ctx.params.account);
    ctx.body = accountDetailsToJson(account, activity);
  });
  for (const action of ['enable', 'disable'] as const) {
    router.post(`/accounts/:account/${action}`, write, jsonBody, async (ctx) => {
      objectBody(ctx.request.body, []);
      const account = action === 'enable' ? await accounts.enable(ctx.params.account) : await accounts.disable(ctx.params.account);
      await record(ctx, { type: `admin.account.${action}d`, accountId: account.id, email: account.email });
      ctx.body = accountToJson(account);
    });
  }
  // the display name (the `name` claim under `profile`); an empty one removes it
  router.patch('/accounts/:account', write, jsonBody, async (ctx) => {
    const body = objectBody(ctx.request.body, ['name']);
    const name = stringField(body, 'name', { required: true })!;
    const account = await fieldErrors('name', () => accounts.setName(ctx.params.account, name));
    await record(ctx, { type: 'admin.account.renamed', accountId: account.id, email: account.email });
    ctx.body = accountToJson(account);
  });
  // the new address must confirm through the emailed link; the service audits the request
  router.post('/accounts/:account/change-email', write, jsonBody, async (ctx) => {
    const body = objectBody(ctx.request.body, ['new_email', 'locale']);
    const newEmail = stringField(body, 'new_email', { required: true })!;
    const language = templates.messages.chosen(stringField(body, 'locale'));
    if ('problem' in language) throw invalid([`locale: ${language.problem}`]);
    const account = await accounts.get(ctx.params.account);
    const change = await fieldErrors('new_email', () => accounts.requestEmailChange(account, newEmail, {
      via: 'api',
      actor: auditActor(ctx),
      locale: language.locale,
      ip: ctx.ip,
      userAgent: ctx.get('User-Agent') || undefined,
      requestId: ctx.state.requestId,
    }));
    ctx.status = 202;
    ctx.body = { id: change.accountId, email: change.oldEmail, new_email: change.newEmail, state: change.state, expires_at: new Date(change.expiresAt).toISOString() };
  });
  router.delete('/accounts/:account', write, async (ctx) => {
    const account = await accounts.remove(ctx.params.account);
    await record(ctx, { type: 'admin.account.deleted', accountId: account.id, email: account.email });
    ctx.status = 204;
  });

  // an account's passkeys; removing one leaves the emailed link
  router.get('/accounts/:account/passkeys', read, async (ctx) => {
    noQuery(ctx);
    const { passkeys: list } = await passkeys.listFor(ctx.params.account);
    ctx.body = { items: list.map(passkeyToJson), next: null };
  });
  router.delete('/accounts/:account/passkeys/:passkey', write, async (ctx) => {
    const { account, passkey } = await passkeys.removeFor(ctx.params.account, ctx.params.passkey);
    await record(ctx, { type: 'passkey.removed', accountId: account.id, email: account.email, details: { passkey: passkey.id, via: 'api' } });
    ctx.status = 204;
  });

  // signing keys
  router.get('/keys', read, async (ctx) => {
    noQuery(ctx);
    const set = keySet(await deps.signingKeys.list(), Date.now(), config.keys.retirementSeconds * 1000);
    ctx.body = { items: set.entries.map(signingKeyToJson), next: null };
  });
  router.post('/keys/rotate', write, jsonBody, async (ctx) => {
    const body = objectBody(ctx.request.body, ['activate_after']);
    const delay = integerField(body, 'activate_after', 0, 30 * 86_400) ?? config.keys.activationDelaySeconds;
    const key = await rotateSigningKey(deps.signingKeys, delay);
    await record(ctx, { type: 'admin.key.rotated', details: { kid: key.kid, activateAfterSeconds: delay } });
    const set = keySet(await deps.signingKeys.list(), Date.now(), config.keys.retirementSeconds * 1000);
    ctx.status = 201;
    ctx.body = signingKeyToJson(set.entries.find((entry) => entry.key.kid === key.kid)!);
  });

  // the audit trail, newest first, with the CLI's filters
  router.get('/audit', read, async (ctx) => {
    const q = queryParams(ctx.query, ['account', 'client', 'email', 'type', 'actor', 'since', 'until', 'limit', 'after']);
    const limit = limitParam(q.limit, 100, 1000);
    const after = q.after === undefined ? undefined : /^[1-9]\d{0,15}$/.test(q.after) ? Number(q.after) : badParam('after', 'the `next` value of the previous page');
    const events = await audit.query({
      accountId: q.account,
      clientId: q.client,
      email: q.email?.trim().toLowerCase(),
      type: q.type,
      actor: q.actor,
      since: when('since', q.since),
      until: when('until', q.until),
      beforeId: after,
      limit: limit + 1,
    });
    const page = events.slice(0, limit);
    ctx.body = { items: page.map(auditEventToJson), next: events.length > limit ? String(page.at(-1)!.id) : null };
  });
  return router;
}

const clientCursor = (client: RegistrationPosition) => `${client.createdAt}.${client.clientId}`;

function parseClientCursor(value: string): RegistrationPosition {
  const match = /^(\d{1,15})\.(.+)$/.exec(value);
  return match ? { createdAt: Number(match[1]), clientId: match[2] } : badParam('after', 'the `next` value of the previous page');
}

function noQuery(ctx: Context): void {
  queryParams(ctx.query, []);
}

function badParam(name: string, what: string): never {
  throw invalid([`${name}: must be ${what}`]);
}

function when(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  return parseWhen(value) ?? badParam(name, 'an ISO date (2026-11-28 or 2026-11-28T18:00:00Z) or a duration like 15m, 24h, 7d');
}

/** A service's refusal of a value the caller sent (e.g. a malformed address, 400 on the login form) is a 422 naming the field. */
async function fieldErrors<T>(field: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof AppError && error.status === 400) throw invalid([`${field}: ${error.message}`]);
    throw error;
  }
}
