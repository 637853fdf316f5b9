import type { Provider } from 'oidc-provider';
import type { AccountDeletion } from '../accounts/account-deletion.js';
import type { AccountService } from '../accounts/account-service.js';
import type { AccountConnections } from '../accounts/connections.js';
import type { EmailChangeService } from '../accounts/email-change-service.js';
import type { AdminTokens } from '../admin/admin-tokens.js';
import type { AuditEvent, AuditLog } from '../audit/audit.js';
import type { ClientService } from '../clients/client-service.js';
import type { ClientRecord } from '../clients/client.js';
import type { Config } from '../config/config.js';
import type { ClientAuthThrottle } from '../login/client-auth-throttle.js';
import type { FailureThrottle } from '../login/failure-throttle.js';
import type { LoginService } from '../login/login-service.js';
import type { ClientSecretCheck, InitialAccessCheck } from '../oidc/registration.js';
import type { SigningKeyStore } from '../oidc/signing-keys.js';
import type { PasskeyService } from '../passkeys/passkey-service.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { Templates } from '../shared/templates.js';
import type { Context } from 'koa';
import type { Csrf } from './csrf.js';
import type { RelayHealth } from '../mail/outbox.js';

/** What the HTTP layer is given by the composition root. */
export interface HttpDeps {
  config: Config;
  provider: Provider;
  login: LoginService;
  accounts: AccountService;
  clients: ClientService;
  /** `clients.find`, remembered for a moment (see main.ts) */
  findClient: (clientId: string) => Promise<ClientRecord | undefined>;
  templates: Templates;
  csrf: Csrf;
  logger: Logger;
  /** whether this instance can serve (database reachable, its schema current), and whether mail goes out */
  readiness: () => Promise<{ ready: boolean; reason?: string; mail?: RelayHealth }>;
  audit: AuditLog;
  metrics: Metrics;
  emailChanges: EmailChangeService;
  /** the account page: apps connected to an account and its sessions */
  connections: AccountConnections;
  /** the account page: deleting an account, confirmed by email */
  deletion: AccountDeletion;
  /** whether a bearer token may register a client at /reg (Dynamic Client Registration) */
  mayRegister: InitialAccessCheck;
  /** whether a secret is a client's current one (RFC 7592 updates may carry it) */
  isClientSecret: ClientSecretCheck;
  /** passkeys: sign-in, the offer after an emailed sign-in, management */
  passkeys: PasskeyService;
  /** refused passkeys, counted per client IP (RATE_LIMIT_VERIFY_FAILURES_IP) */
  passkeyFailures: FailureThrottle;
  /** the admin API's bearer tokens */
  adminTokens: AdminTokens;
  signingKeys: SigningKeyStore;
  /** hands a mail just queued to this instance's outbox worker (otherwise the next poll takes it) */
  deliverMail: (outboxId: number) => void;
  /** failed client authentication, counted per client IP */
  clientAuth: ClientAuthThrottle;
  /** development only: the client of the built-in demo app at /demo (absent: no /demo) */
  demoClientId?: string;
  /** whether the email of this login request was given up or is delayed (the waiting page says so) */
  waitingMail: (loginRequestId: string) => Promise<'failed' | 'delayed' | undefined>;
  /** how the waiting page's script polls the sign-in's status: first after `firstMs`, then 1.2 times longer each time, up to `maxMs` */
  waitingPagePoll: { firstMs: number; maxMs: number };
  /** commits (true) or rolls back the request's writes to oidc-provider's state; true when there were any */
  finishUnitOfWork: (commit: boolean) => Promise<boolean>;
}

/** An audit event with who asked: client IP, browser and request id. */
export function audited(ctx: Context, event: AuditEvent): AuditEvent {
  return { ip: ctx.ip, userAgent: ctx.get('User-Agent') || undefined, requestId: ctx.state.requestId, ...event };
}
