import type { Provider } from 'oidc-provider';
import type { AccountService } from '../accounts/account-service.js';
import type { ClientService } from '../clients/client-service.js';
import type { Config } from '../config/config.js';
import type { LoginService } from '../login/login-service.js';
import type { Logger } from '../shared/logger.js';
import type { Templates } from '../shared/templates.js';
import type { Db } from '../store/db.js';
import type { Csrf } from './csrf.js';

/** What the HTTP layer is given by the composition root. */
export interface HttpDeps {
  config: Config;
  provider: Provider;
  login: LoginService;
  accounts: AccountService;
  clients: ClientService;
  templates: Templates;
  csrf: Csrf;
  logger: Logger;
  db: Db;
}
