import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration, type JWK } from 'oidc-provider';
import { durableAdapter, openDurableStore } from './durable-adapter.js';

/**
 * The benchmark's reference: the bare library with its built-in in-memory adapter, the same
 * signing algorithm as Sesame (RS256, one 2048-bit RSA key), the same scopes, claims, token
 * lifetimes and features (PKCE for every client, refresh tokens rotated on use, introspection,
 * userinfo, revocation), and an interaction that signs the person in at once (no email) and grants
 * what is asked. client_credentials is on here so its figure exists for when Sesame enables it.
 * With REFERENCE_DB set to a file, it is the durable reference: the same configuration on the
 * simplest correct durable adapter (durable-adapter.ts) instead of the in-memory one.
 * Run as its own process; prints one line `{"ready":{…}}` when it listens.
 */
const REDIRECT_URI = 'http://127.0.0.1:9/callback';

const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid: 'bench-reference', alg: 'RS256', use: 'sig' };
const clientId = 'bench-reference-client';
const clientSecret = randomBytes(32).toString('base64url');

const durableFile = process.env.REFERENCE_DB;
const configuration: Configuration = {
  ...(durableFile ? { adapter: durableAdapter(await openDurableStore(durableFile)) } : {}),
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    client_name: 'Bench App',
    redirect_uris: [REDIRECT_URI],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  cookies: {
    keys: [randomBytes(32).toString('base64url')],
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
  },
  // accounts are the login_hint the benchmark sends: no storage, like the in-memory adapter
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: id, email_verified: true }),
  }),
  claims: {
    openid: ['sub', 'acr', 'amr', 'auth_time'],
    email: ['email', 'email_verified'],
    sid: null,
    iss: null,
  },
  scopes: ['openid', 'email', 'offline_access'],
  acrValues: ['urn:sesame:acr:email'],
  responseTypes: ['code'],
  pkce: { required: () => true },
  allowOmittingSingleRegisteredRedirectUri: false,
  rotateRefreshToken: true,
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  ttl: {
    AccessToken: 60 * 60,
    AuthorizationCode: 60,
    ClientCredentials: 10 * 60,
    IdToken: 60 * 60,
    RefreshToken: 14 * 24 * 60 * 60,
    Grant: 365 * 24 * 60 * 60,
    Session: 14 * 24 * 60 * 60,
    Interaction: 60 * 60,
  },
};

const provider = new Provider(origin, configuration);

// The whole interaction: whoever the login_hint names is signed in at once; consent grants all
// that is missing (what Sesame does for a first-party app).
provider.use(async (ctx, next) => {
  if (ctx.method !== 'GET' || !/^\/interaction\/[^/]+$/.test(ctx.path)) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.prompt.name === 'login') {
    const accountId = String(details.params.login_hint ?? 'person');
    await provider.interactionFinished(ctx.req, ctx.res, {
      login: { accountId, amr: ['email'], acr: 'urn:sesame:acr:email', remember: true },
    }, { mergeWithLastSubmission: false });
    ctx.respond = false;
    return;
  }
  const grant = (details.grantId && (await provider.Grant.find(details.grantId)))
    || new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
  if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  ctx.respond = false;
});

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ ready: { origin, clientId, clientSecret } })}\n`);
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
