import { bodyParser } from '@koa/bodyparser';
import { errors, type AdapterPayload, type KoaContextWithOIDC } from 'oidc-provider';
import type { ClientRecord } from '../clients/client.js';
import type { ClientService } from '../clients/client-service.js';
import { bearerToken } from '../shared/bearer.js';
import { randomId } from '../shared/crypto.js';
import { AppError } from '../shared/errors.js';
import { fromProviderMetadata, OPERATOR_ONLY_METADATA, toProviderMetadata } from './client-metadata.js';

/**
 * Whether a presented initial access token may register a client (an admin token with the
 * `register` scope): its name in the audit trail (AuditEvent.actor) if so, undefined if not.
 */
export type InitialAccessCheck = (token: string) => Promise<string | undefined>;

/** Whether `secret` is the current client_secret of the (enabled) client `clientId`. */
export type ClientSecretCheck = (clientId: string, secret: string) => Promise<boolean>;

export type RegistrationChange = 'client.registered' | 'client.registration_updated' | 'client.registration_deleted';

/** Records a registration change done by this request; `actor` is who did it (see AuditEvent.actor). */
export type RegistrationAudit = (ctx: KoaContextWithOIDC, change: RegistrationChange, clientId: string, actor: string) => Promise<void>;

/**
 * Where oidc-provider's Client model is read from and, for Dynamic Client Registration, written to:
 * our clients table through the client service, so a registered app obeys the operators' rules and
 * its secret is stored as a keyed hash like every other.
 */
export function providerClientSource(clients: ClientService, findClient: (clientId: string) => Promise<ClientRecord | undefined>) {
  return {
    async findProviderMetadata(clientId: string): Promise<AdapterPayload | undefined> {
      const client = await findClient(clientId);
      return client?.enabled ? toProviderMetadata(client) : undefined;
    },
    async saveProviderMetadata(clientId: string, metadata: AdapterPayload): Promise<void> {
      try {
        const secret = typeof metadata.client_secret === 'string' ? metadata.client_secret : undefined;
        await clients.saveDynamic(clientId, fromProviderMetadata(metadata), secret);
      } catch (error) {
        if (error instanceof AppError && error.status < 500) throw new errors.InvalidClientMetadata(error.message);
        throw error;
      }
    },
    async removeClient(clientId: string): Promise<void> {
      await clients.remove(clientId);
    },
  };
}

/** oidc-provider's own limit on a request body */
const registrationBody = bodyParser({ enableTypes: ['json'], jsonLimit: '56kb' });

/**
 * RFC 7592 §2.2 lets an update carry the app's client_secret, which must then be its current one.
 * oidc-provider compares it with the secret it was given, which here is our keyed hash, so it would
 * refuse the right secret and accept the hash. The body is parsed here instead: the current secret
 * is taken out of it (the same update without it), any other value replaced by one that matches
 * nothing, for oidc-provider to refuse. oidc-provider then uses the parsed body (and says once, in
 * the log, that it found one: patch 5 of patches.ts).
 */
async function acceptCurrentSecret(ctx: KoaContextWithOIDC, isClientSecret: ClientSecretCheck): Promise<void> {
  if (!ctx.is('application/json')) return;
  await registrationBody(ctx as unknown as Parameters<typeof registrationBody>[0], async () => {});
  const body = (ctx.request as { body?: unknown }).body;
  if (!body || typeof body !== 'object' || Array.isArray(body) || !Object.hasOwn(body, 'client_secret')) return;
  const fields = body as { client_secret?: unknown };
  const clientId = clientIdOf(ctx.path);
  if (typeof fields.client_secret === 'string' && clientId && (await isClientSecret(clientId, fields.client_secret))) {
    delete fields.client_secret;
  } else {
    // nor may anything else pass oidc-provider's comparison (the stored hash would): refused there,
    // after the registration access token is checked, so this answer tells nothing about the secret
    fields.client_secret = randomId();
  }
}

/** The client id of `/reg/{client_id}` (any case, one trailing slash), or undefined. */
function clientIdOf(path: string): string | undefined {
  const segment = path.replace(/\/$/, '').split('/')[2];
  try {
    return segment ? decodeURIComponent(segment) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The guard in front of oidc-provider's registration endpoints. Registering needs a bearer initial
 * access token (issued with `sesame admin-tokens create --scope register`, stored hashed, revocable),
 * which oidc-provider's own mechanism would keep in plain text. Reading a registration back returns
 * no `client_secret` (we only hold its hash; the secret was shown once, at registration) and none of
 * the metadata only operators set. Each change is audited with who made it: the initial access token
 * for a registration, the app itself (its registration access token) for an update or deletion.
 */
export function registrationGuard(enabled: boolean, mayRegister: InitialAccessCheck, isClientSecret: ClientSecretCheck, audit: RegistrationAudit) {
  return async function guardRegistration(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
    // oidc-provider's router matches paths case-insensitively and with one trailing slash, so
    // /REG and /reg/ reach the registration endpoint too: compare the way it does
    const path = ctx.path.toUpperCase().replace(/(.)\/$/, '$1');
    if (!enabled || !(path === '/REG' || path.startsWith('/REG/'))) return next();
    let registeredBy: string | undefined;
    if (ctx.method === 'POST' && path === '/REG') {
      const token = bearerToken(ctx.get('authorization'));
      registeredBy = token ? await mayRegister(token) : undefined;
      if (!registeredBy) {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', 'Bearer realm="registration", error="invalid_token"');
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: 'invalid_token', error_description: 'registration needs a valid initial access token' };
        return;
      }
    }
    if (ctx.method === 'PUT' && path.startsWith('/REG/')) await acceptCurrentSecret(ctx, isClientSecret);
    await next();
    const clientId = clientIdOf(ctx.path);
    if (registeredBy && ctx.status === 201) {
      await audit(ctx, 'client.registered', String((ctx.body as { client_id?: unknown }).client_id), registeredBy);
    } else if (clientId && ctx.method === 'PUT' && ctx.status === 200) {
      await audit(ctx, 'client.registration_updated', clientId, `client:${clientId}`);
    } else if (clientId && ctx.method === 'DELETE' && ctx.status === 204) {
      await audit(ctx, 'client.registration_deleted', clientId, `client:${clientId}`);
    }
    // what an operator set is not the app's to see or send back (an update carrying it is refused)
    if (ctx.body && typeof ctx.body === 'object') {
      const body = ctx.body as Record<string, unknown>;
      for (const key of OPERATOR_ONLY_METADATA) delete body[key];
      if (ctx.method !== 'POST') delete body.client_secret;
    }
  };
}
