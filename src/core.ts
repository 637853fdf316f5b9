import { AccountService } from './accounts/account-service.js';
import { EmailChangeService } from './accounts/email-change-service.js';
import { AdminTokens } from './admin/admin-tokens.js';
import { AuditLog } from './audit/audit.js';
import { ClientService } from './clients/client-service.js';
import type { Config } from './config/config.js';
import { emailChangeMailComposer } from './mail/email-change-mail.js';
import type { SigningKeyStore } from './oidc/signing-keys.js';
import { PasskeyService } from './passkeys/passkey-service.js';
import { KeyedHasher, SecretBox } from './shared/crypto.js';
import { Messages } from './shared/i18n.js';
import { createLogger, knexLog, type Logger } from './shared/logger.js';
import { localesDir, viewsDir } from './shared/paths.js';
import { Templates } from './shared/templates.js';
import { KnexAccountStore } from './store/account-store.js';
import { KnexAdminTokenStore } from './store/admin-token-store.js';
import { KnexAuditStore } from './store/audit-store.js';
import { KnexClientStore } from './store/client-store.js';
import { explainOpenFailure } from './store/database-open.js';
import { closeDatabase, migrate, openDatabase, type Db } from './store/db.js';
import { KnexEmailChangeStore } from './store/email-change-store.js';
import { KnexPasskeyStore } from './store/passkey-store.js';
import { KnexSigningKeyStore } from './store/signing-key-store.js';

/**
 * The part of the composition root that the CLI needs: the database and the domain services. The
 * server's part (src/main.ts: `createSesame`, with oidc-provider, the mailer and the HTTP routes)
 * builds on it. Nothing here imports koa, oidc-provider, the HTTP layer or the mail transport, so
 * that a CLI command loads only what it runs.
 */
export interface Core {
  config: Config;
  logger: Logger;
  db: Db;
  hasher: KeyedHasher;
  accounts: AccountService;
  clients: ClientService;
  audit: AuditLog;
  keys: SigningKeyStore;
  /** address changes confirmed by the new address (requested through `accounts.requestEmailChange`) */
  emailChanges: EmailChangeService;
  /** seals mail bodies in the outbox */
  mailBox: SecretBox;
  templates: Templates;
  adminTokens: AdminTokens;
  /** passkeys of accounts: ceremonies and management */
  passkeys: PasskeyService;
  close(): Promise<void>;
}

export async function openCore(config: Config, logger = createLogger(config.logLevel)): Promise<Core> {
  const source = { dataDir: config.dataDir };
  const db = openDatabase(config.database, { ...source, log: knexLog(logger) });
  try {
    await migrate(db);
  } catch (error) {
    await closeDatabase(db);
    // one line naming the setting, the place and the cause (not the driver's stack)
    throw explainOpenFailure(config.database, source, error);
  }
  const hasher = new KeyedHasher(config.secrets.hmacSecrets);
  const audit = new AuditLog(new KnexAuditStore(db), logger);
  // the CLI renders emails too (an address change queues one), so the templates are part of the core
  const templates = new Templates(viewsDir, new Messages(localesDir));
  const accountStore = new KnexAccountStore(db);
  const mailBox = new SecretBox(config.secrets.hmacSecrets, 'mail encryption');
  const emailChanges = new EmailChangeService(new KnexEmailChangeStore(db, mailBox), accountStore, hasher, emailChangeMailComposer(templates, config.brand), audit, {
    issuer: config.issuer,
    ttlSeconds: config.emailChangeTtlSeconds,
  });
  const accounts = new AccountService(accountStore, config.signup, emailChanges);
  return {
    config,
    logger,
    db,
    hasher,
    accounts,
    clients: new ClientService(new KnexClientStore(db), hasher),
    audit,
    keys: new KnexSigningKeyStore(db, new SecretBox(config.secrets.hmacSecrets, 'signing key encryption')),
    emailChanges,
    mailBox,
    templates,
    adminTokens: new AdminTokens(new KnexAdminTokenStore(db), hasher),
    passkeys: new PasskeyService(new KnexPasskeyStore(db), accounts, hasher, { ...config.passkeys, name: config.brand.productName }),
    close: async () => {
      await audit.flush();
      await closeDatabase(db);
    },
  };
}
