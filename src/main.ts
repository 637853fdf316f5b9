import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Provider } from 'oidc-provider';
import { AccountDeletion } from './accounts/account-deletion.js';
import { AccountConnections } from './accounts/connections.js';
import { allows, tokenActor } from './admin/admin-tokens.js';
import { countAuditEvent } from './audit/audit-metrics.js';
import { ClientService } from './clients/client-service.js';
import type { ClientRecord } from './clients/client.js';
import type { Config } from './config/config.js';
import { openCore, type Core } from './core.js';
import { databaseLabel } from './config/database-label.js';
import { ConfigError, withBoundPort } from './config/load.js';
import { httpServer } from './http/http-server.js';
import { logFailure } from './http/log-failure.js';
import { ClientAuthThrottle } from './login/client-auth-throttle.js';
import { FailureThrottle } from './login/failure-throttle.js';
import { LoginService } from './login/login-service.js';
import { accountDeletionMailComposer } from './mail/account-deletion-mail.js';
import { loginMailComposer } from './mail/login-mail.js';
import { OutboxWorker, type OutboxOptions } from './mail/outbox.js';
import { consoleTransport, senderDomain, smtpTransport, type MailTransport } from './mail/transport.js';
import { demoUrls, ensureDemoClient } from './demo/demo-client.js';
import { ACCOUNT_CLIENT_ID } from './oidc/account-client.js';
import { ensureSigningKeys, keySet, type KeySet, type SigningKey, type SigningKeyStore } from './oidc/signing-keys.js';
import { SecretBox } from './shared/crypto.js';
import { serverLogger, type Logger } from './shared/logger.js';
import { logProcessOutput } from './shared/process-log.js';
import { Metrics } from './shared/metrics.js';
import { KnexAccountStore } from './store/account-store.js';
import { KnexConnectionStore } from './store/connection-store.js';
import { probeWrite } from './store/health.js';
import { migrationsPending, type Db } from './store/db.js';
import { KnexLoginRequestStore } from './store/login-request-store.js';
import { KnexMailQueue } from './store/mail-queue.js';
import { KnexOutboxStore } from './store/outbox-store.js';
import type { PayloadSecrets } from './store/oidc-adapter.js';
import { KnexRateLimitStore } from './store/rate-limit-store.js';
import { startSweeper } from './store/sweeper.js';
import { revokedAccount } from './oidc/revoked-account.js';
import { finishUnitOfWork, withUnitOfWork } from './store/unit-of-work.js';

/**
 * The composition root: the only place, with src/core.ts, where concrete stores, the mailer and the
 * services are wired together. The CLI uses `openCore` (database and domain services, src/core.ts);
 * the server uses `createSesame` (all of it, plus oidc-provider and the HTTP routes).
 */
export { openCore, type Core };

export interface SesameOptions {
  logger?: Logger;
  /** replaces the configured transport (tests) */
  mailTransport?: MailTransport;
  outbox?: OutboxOptions;
  backchannel?: { pollIntervalMs?: number; baseBackoffMs?: number };
  /**
   * The time as the signing keys' states see it (tests move it forward instead of waiting);
   * oidc-provider and the stores keep the real time.
   */
  now?: () => number;
  /** how often the signing keys are re-read (default KEYS_REFRESH_SECONDS) */
  keyRefreshMs?: number;
  /** how the waiting page polls (tests poll faster instead of waiting seconds for the next look) */
  waitingPagePoll?: { firstMs: number; maxMs: number };
}

export interface Sesame extends Core {
  provider: Provider;
  login: LoginService;
  metrics: Metrics;
  outbox: OutboxWorker;
  /** the request listener for node:http */
  callback: ReturnType<Provider['callback']>;
  /** starts the background work (mail outbox, sweeper unless `sweeper: false`, key refresh) */
  start(options?: { sweeper?: boolean }): void;
  /** re-reads the signing keys now (otherwise every KEYS_REFRESH_SECONDS) */
  refreshKeys(): Promise<void>;
  /** development only: the URL of the built-in demo app */
  demoUrl?: string;
}

/** How long the emailed link that deletes an account works. */
const ACCOUNT_DELETION_TTL_SECONDS = 60 * 60;

/**
 * A sign-in's mail that has failed to go out for this long is "delayed" on its waiting page: a
 * relay that hiccups once and takes the retry a few seconds later is not worth a word.
 */
const MAIL_DELAYED_AFTER_MS = 15_000;

/**
 * The waiting page looks at its sign-in's status after 1.5 s, then 1.2 times later each time, up
 * to every 8 s: quick while the person is likely on their way to the email, light on the server
 * for a tab left open.
 */
const WAITING_PAGE_POLL = { firstMs: 1_500, maxMs: 8_000 };

export async function createSesame(config: Config, options: SesameOptions = {}): Promise<Sesame> {
  // loaded here, not at the top: CLI commands that only need the core start without oidc-provider
  const [{ createProvider }, { providerClientSource }, { BackchannelLogoutWorker }, { KnexOwedLogoutStore }, { createAdapterFactory, hashStoredIds }, { mountHttp }, { Csrf }] = await Promise.all([
    import('./oidc/provider.js'),
    import('./oidc/registration.js'),
    import('./oidc/backchannel-logout.js'),
    import('./store/backchannel-logout-store.js'),
    import('./store/oidc-adapter.js'),
    import('./http/app.js'),
    import('./http/csrf.js'),
  ]);
  const core = await openCore(config, options.logger);
  let storedKeys: SigningKey[];
  try {
    storedKeys = await ensureSigningKeys(core.keys, await sealOutdatedKeys(core.keys, core.logger));
    const hashed = await hashStoredIds(core.db, payloadSecrets(core));
    if (hashed) core.logger.info({ rows: hashed }, 'tokens and sessions of an earlier version now stored under hashed ids');
    // compiled now, not at the first request (the CLI compiles them only when it renders a mail):
    // no request waits for them, and a broken views folder stops the start
    core.templates.load();
  } catch (error) {
    // e.g. keys no configured secret opens: nothing has started yet but the database pool
    await core.close();
    throw error;
  }
  const { db, logger, hasher, accounts, clients, audit, templates, emailChanges, adminTokens, passkeys } = core;
  const transport = options.mailTransport
    ?? (config.mail.smtpUrl
      ? smtpTransport(config.mail.smtpUrl, config.mail.from, { timeoutSeconds: config.mail.timeoutSeconds, dkim: config.mail.dkim })
      : consoleTransport(config.mail.from, config.mail.devDir, (text) => process.stdout.write(text)));
  const outboxStore = new KnexOutboxStore(db, core.mailBox, senderDomain(config.mail.from));
  const metrics = new Metrics(async () => {
    const now = Date.now();
    const { pending, oldestCreatedAt } = await outboxStore.depth(now);
    return { depth: pending, oldestAgeSeconds: oldestCreatedAt === undefined ? 0 : (now - oldestCreatedAt) / 1000 };
  });
  const outbox = new OutboxWorker(outboxStore, transport, logger, {
    onRelayFailure: (stage) => metrics.mailRelayFailures.inc({ stage }),
    onRelayState: (health) => metrics.relayState(health.state === 'failing' ? health.since : undefined),
    ...options.outbox,
  }, audit);
  audit.observe((event) => countAuditEvent(metrics, event));
  const delayedAfterMs = options.outbox?.delayedAfterMs ?? MAIL_DELAYED_AFTER_MS;
  emailChanges.onMailQueued(() => outbox.wake());
  const rateLimits = new KnexRateLimitStore(db);
  const clientAuth = new ClientAuthThrottle(rateLimits, config.rateLimits.clientAuthFailuresPerIp, config.rateLimits.ipv6PrefixBits);
  // refused passkeys count like links that do not work: the same limit per IP, a separate count
  const passkeyFailures = new FailureThrottle(rateLimits, 'passkey-ip', config.rateLimits.verifyFailuresPerIp, config.rateLimits.ipv6PrefixBits);
  const login = new LoginService(
    new KnexLoginRequestStore(db, core.mailBox),
    accounts,
    hasher,
    loginMailComposer(templates, config.brand),
    rateLimits,
    { issuer: config.issuer, ttlSeconds: config.login.ttlSeconds, codeMaxAttempts: config.login.codeMaxAttempts, matchMaxAttempts: config.login.matchMaxAttempts, rateLimits: config.rateLimits },
  );
  // oidc-provider reads the client on nearly every request: each request reads it once (the store
  // answers its later reads from the request memo), so a client disabled or changed through the CLI
  // or another instance stops or changes at once everywhere (DESIGN: no cache may let a client work later)
  const readClient = (clientId: string) => clients.find(clientId);
  // the account page's client lives in the provider's configuration, not in the clients table (oidc/account-client.ts)
  const accountPage = { name: config.brand.productName, redirectUris: [] } as unknown as ClientRecord;
  const findClient = (clientId: string) => (clientId === ACCOUNT_CLIENT_ID ? Promise.resolve(accountPage) : readClient(clientId));
  const adapter = createAdapterFactory(db, providerClientSource(clients, readClient), payloadSecrets(core));
  // initial access tokens for Dynamic Client Registration: admin tokens with the `register` scope
  const mayRegister = async (token: string) => {
    const actor = await adminTokens.verify(token);
    return actor && allows(actor.scopes, 'register') ? tokenActor(actor.id) : undefined;
  };
  // read fresh, not through findClient: right after an operator rotated the secret, the old one must fail
  const isClientSecret = async (clientId: string, secret: string) => {
    const record = await clients.find(clientId);
    return Boolean(record?.enabled) && clients.verifySecret(record!, secret);
  };
  const csrf = new Csrf(config.secrets.hmacSecrets);
  const connections = new AccountConnections(new KnexConnectionStore(db), audit, new Set([ACCOUNT_CLIENT_ID]));
  const deletion = new AccountDeletion(new KnexAccountStore(db), hasher, accountDeletionMailComposer(templates, config.brand), new KnexMailQueue(db, core.mailBox), audit, {
    issuer: config.issuer,
    ttlSeconds: ACCOUNT_DELETION_TTL_SECONDS,
  });
  deletion.onMailQueued(() => outbox.wake());
  const demoClientId = config.env === 'development' ? await demoClient(clients, config.issuer, logger) : undefined;
  const build = (jwks: KeySet['jwks']) => {
    const provider = createProvider({ config, adapter, jwks, accounts, clientSecrets: hasher, templates });
    provider.on('server_error', (ctx, error) => logFailure(ctx.state.log ?? logger, error, ctx));
    provider.on('end_session.success', (ctx) => {
      void audit.record({ type: 'logout', accountId: ctx.oidc.session?.accountId, clientId: ctx.oidc.client?.clientId, ip: ctx.ip, requestId: ctx.state.requestId });
    });
    // a person signing out: oidc-provider posts the logout tokens itself, once; recorded like the
    // ones an operator's revocation owes (which the BackchannelLogoutWorker sends with retries)
    provider.on('backchannel.success', (ctx, client, accountId, sid) => {
      void audit.record({ type: 'logout.backchannel_sent', accountId, clientId: client.clientId, ip: ctx.ip, requestId: ctx.state.requestId, details: { sid, via: 'sign_out' } });
    });
    provider.on('backchannel.error', (ctx, error, client, accountId, sid) => {
      void audit.record({ type: 'logout.backchannel_failed', accountId, clientId: client.clientId, ip: ctx.ip, requestId: ctx.state.requestId, details: { sid, via: 'sign_out', reason: error instanceof Error ? error.message : String(error) } });
    });
    // a sign-in finished in this browser: the account page names its session by the browser
    provider.on('interaction.ended', (ctx) => {
      const { session, result } = ctx.oidc;
      if (!result?.login || !session?.uid || !session.accountId) return;
      connections.recordSignIn(session.uid, session.accountId, { userAgent: ctx.get('User-Agent') || undefined, ip: ctx.ip })
        .catch((error: unknown) => logger.warn({ err: error }, 'the device of a new session was not recorded'));
    });
    provider.on('grant.revoked', (ctx, grantId) => {
      void audit.record({ type: 'token.revoked', accountId: revokedAccount(ctx), clientId: ctx.oidc?.client?.clientId, ip: ctx.ip, requestId: ctx.state.requestId, details: { grantId } });
    });
    return mountHttp({
      config, provider, login, accounts, clients, findClient, templates, csrf, logger, audit, metrics, emailChanges, connections, deletion, adminTokens, passkeys, passkeyFailures, signingKeys: core.keys,
      readiness: async () => ({ ...await readiness(db), mail: outbox.health() }), mayRegister, isClientSecret, demoClientId, clientAuth, finishUnitOfWork,
      deliverMail: (outboxId) => outbox.deliverQueued(outboxId),
      waitingMail: (loginRequestId) => outboxStore.waitingMail(loginRequestId, Date.now(), delayedAfterMs),
      waitingPagePoll: options.waitingPagePoll ?? WAITING_PAGE_POLL,
    });
  };

  // oidc-provider reads its keys once, at construction. All state lives in the database, so when
  // the keys change (a rotation through any instance, or a key's activation time passing) a new
  // provider is built and takes the next request; requests under way finish on the old one.
  const keyStore = core.keys;
  const now = options.now ?? Date.now;
  const retireAfterMs = config.keys.retirementSeconds * 1000;
  let keys = keySet(storedKeys, now(), retireAfterMs);
  let provider = build(keys.jwks);
  let handler = provider.callback();
  const refreshKeys = async () => {
    const next = keySet(await sealOutdatedKeys(keyStore, logger), now(), retireAfterMs);
    const expired = next.entries.filter((entry) => entry.state === 'expired').map((entry) => entry.key.kid);
    await keyStore.remove(expired);
    if (next.fingerprint === keys.fingerprint) return;
    keys = next;
    provider = build(next.jwks);
    handler = provider.callback();
    logger.info({ keys: next.entries.map((e) => `${e.key.kid}:${e.state}`) }, 'signing keys changed');
  };
  let keyTimer: NodeJS.Timeout | undefined;
  const backchannel = new BackchannelLogoutWorker(new KnexOwedLogoutStore(db), () => provider, logger, audit, options.backchannel);

  let stopSweeper: (() => void) | undefined;
  return {
    ...core,
    get provider() {
      return provider;
    },
    login,
    outbox,
    metrics,
    // each request gets its own memo of oidc-provider's reads and its own unit of work (see withUnitOfWork)
    callback: (req, res) => withUnitOfWork(() => handler(req, res)),
    refreshKeys,
    demoUrl: demoClientId ? demoUrls(config.issuer).home : undefined,
    start({ sweeper = true } = {}) {
      outbox.start();
      backchannel.start();
      if (sweeper) stopSweeper = startSweeper(db, config.sweepIntervalSeconds, logger, config.auditRetentionDays);
      // the next refresh is scheduled when one ends: a slow database never has them pile up
      const refreshEvery = options.keyRefreshMs ?? config.keys.refreshSeconds * 1000;
      const scheduleRefresh = () => {
        keyTimer = setTimeout(() => {
          refreshKeys().catch((error) => logger.error({ err: error }, 'key refresh failed')).finally(() => {
            if (keyTimer) scheduleRefresh();
          });
        }, refreshEvery);
        keyTimer.unref();
      };
      scheduleRefresh();
    },
    async close() {
      clearTimeout(keyTimer);
      keyTimer = undefined;
      stopSweeper?.();
      await outbox.stop();
      await backchannel.stop();
      await core.close();
    },
  };
}

/** How oidc-provider's artefacts are kept unusable at rest: hashed ids, a sealed PAR id in interactions. */
function payloadSecrets({ hasher, config }: Core): PayloadSecrets {
  return { hasher, box: new SecretBox(config.secrets.hmacSecrets, 'interaction') };
}

/**
 * Re-encrypts signing keys stored in the clear or with an older secret than this instance's newest:
 * at start, and with every key refresh, so that a key added during a rotation of HMAC_SECRETS (by
 * an instance or CLI not yet given the new secret first) is re-encrypted too before the old secret
 * is dropped. Gives every stored key, from the same read.
 */
async function sealOutdatedKeys(store: SigningKeyStore, logger: Logger): Promise<SigningKey[]> {
  const { keys, resealed } = await store.sealOutdated();
  if (resealed) logger.info({ keys: resealed }, 'signing keys encrypted with the newest HMAC secret');
  return keys;
}

/** The demo app's client, registered at the first start in development; without it, no /demo. */
async function demoClient(clients: ClientService, issuer: string, logger: Logger): Promise<string | undefined> {
  try {
    return (await ensureDemoClient(clients, issuer)).clientId;
  } catch (error) {
    // e.g. an http issuer that is not loopback cannot be a redirect URI
    logger.warn({ err: error }, 'the demo app at /demo is off: its client could not be registered');
    return undefined;
  }
}

/** Ready: the database answers, its schema is current, and it takes a write. */
async function readiness(db: Db): Promise<{ ready: boolean; reason?: string }> {
  try {
    const pending = await migrationsPending(db);
    if (pending > 0) return { ready: false, reason: `${pending} database migration(s) not applied` };
  } catch {
    return { ready: false, reason: 'database unreachable' };
  }
  try {
    await probeWrite(db);
    return { ready: true };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { ready: false, reason: `database cannot be written${typeof code === 'string' ? ` (${code})` : ''}` };
  }
}

/**
 * Runs the server until SIGTERM/SIGINT: stop accepting, finish in-flight requests, stop the worker,
 * close the database. In a worker process of `WORKERS` > 1 (src/cli/workers.ts) the supervisor has
 * printed the notices and says when all workers listen; only worker 0 runs the sweeper.
 */
export async function serve(given: Config, worker?: { index: number }): Promise<{ server: Server; sesame: Sesame }> {
  const logger = serverLogger(given.logLevel, { readable: given.env === 'development' });
  // before oidc-provider is loaded: it prints its notices with console.warn
  logProcessOutput(logger);
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const { server, drain } = httpServer((req, res) => handler!(req, res), { requestTimeoutMs: given.httpRequestTimeoutSeconds * 1000 });
  const listen = () => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(given.port, given.host, resolve);
  }).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    const why = { EADDRINUSE: 'PORT: already in use', EACCES: 'PORT: not permitted', EADDRNOTAVAIL: 'HOST: not an address of this machine' }[code ?? ''];
    if (why) throw new ConfigError([`${why} (cannot listen on ${given.host}:${given.port})`]);
    throw error;
  });
  // an issuer on port 0 names the port the system gives: listen first, then build on that issuer;
  // otherwise build first, so that a server that cannot start never listened
  const issuerNamesBoundPort = new URL(given.issuer).port === '0';
  if (issuerNamesBoundPort) await listen();
  const port = () => (server.address() as AddressInfo).port;
  const config = issuerNamesBoundPort ? withBoundPort(given, port()) : given;
  let sesame: Sesame;
  try {
    sesame = await createSesame(config, { logger });
  } catch (error) {
    if (issuerNamesBoundPort) server.close();
    throw error;
  }
  handler = sesame.callback;
  if (!worker) for (const notice of config.notices) logger.warn(notice);
  if (!issuerNamesBoundPort) {
    try {
      await listen();
    } catch (error) {
      // nothing has started but the database pool, which would keep the process alive
      await sesame.close();
      throw error;
    }
  }
  sesame.start({ sweeper: !worker || worker.index === 0 });
  if (worker) {
    logger.debug({ worker: worker.index }, 'worker listening');
    // the supervisor names the demo app in its own start-up line (it loads none of this)
    if (sesame.demoUrl) process.send?.({ sesame: 'demo', url: sesame.demoUrl });
  }
  else {
    const demo = sesame.demoUrl ? ` (try the demo app: ${sesame.demoUrl})` : '';
    // the port bound, also when PORT=0 let the system choose it
    logger.info({ issuer: config.issuer, port: port(), database: databaseLabel(config.database), demo: sesame.demoUrl }, `Sesame listening: ${config.issuer}${demo}`);
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    // a worker may get the signal twice (from the terminal's process group and from its supervisor)
    if (stopping) return;
    stopping = true;
    logger.info({ signal, worker: worker?.index }, 'shutting down');
    // stop accepting, answer what is under way with Connection: close, close connections as they
    // go idle (bounded), then stop the worker and the database
    await drain(config.shutdownGraceSeconds * 1000);
    await sesame.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // a worker whose supervisor is gone does not linger
  if (worker) process.on('disconnect', () => void shutdown('supervisor gone'));
  return { server, sesame };
}
