import type { Config, Mode } from '../config/config.js';
import { databaseLabel, databaseSetting } from '../config/database-label.js';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Core } from '../core.js';
import { AppError } from '../shared/errors.js';
import { SigningKeyUnreadable } from '../oidc/signing-keys.js';
import { DatabaseOpenError } from '../store/database-open.js';
import { accountsCommand } from './accounts.js';
import { adminTokensCommand } from './admin-tokens.js';
import { auditCommand } from './audit.js';
import { clientsCommand } from './clients.js';
import type { CliIo } from './io.js';
import { keysCommand } from './keys.js';
import { passkeysCommand } from './passkeys.js';
import { didYouMean } from './suggest.js';
import { DatabaseNotReady } from './database-not-ready.js';
import { commandsOf, subcommandsOf, usageFor } from './usage.js';
import { UsageError } from './usage-error.js';

export const USAGE = `Usage: sesame <command> [options]

Commands:
  serve                          start the server in production: refuses to start
                                 without ISSUER (https), COOKIE_KEYS,
                                 HMAC_SECRETS, SMTP_URL and MAIL_FROM (build
                                 first: npm run build)
  dev                            start the server for development (what npm
                                 start runs): generated secrets, mail printed to
                                 the console, the demo app; never in production
  migrate                        apply database migrations and exit (creates
                                 the SQLite file if there is none)
  clients add --name NAME [--redirect-uri URI …]
              [--post-logout-redirect-uri URI …] [--logo-uri URL]
              [--public] [--first-party] [--auth-method METHOD]
              [--jwks-file FILE | --jwks-uri URL] [--grant-type GRANT …]
              [--scope SCOPE …] [--access-token-ttl S] [--id-token-ttl S]
              [--refresh-token-ttl S] [--backchannel-logout-uri URL]
              [--dpop-bound] [--no-pkce] [--json]
                                 register a relying app; prints client_id (and
                                 client_secret, once, for a client using one);
                                 --no-pkce: a confidential app that cannot send
                                 PKCE must send a nonce instead
  clients list [--json]          list registered apps
  clients show CLIENT_ID [--json]
  clients update CLIENT_ID [--name NAME] [--redirect-uri URI …]
              [--post-logout-redirect-uri URI …] [--logo-uri URL]
              [--first-party | --no-first-party] [--dpop-bound | --no-dpop-bound]
              [--pkce | --no-pkce]
              [the metadata options of add] [--json]
                                 change an app (a list given replaces the old one;
                                 an empty --logo-uri, --jwks-uri or
                                 --backchannel-logout-uri removes it)
  clients disable CLIENT_ID      stop an app from signing anyone in (enable undoes)
  clients enable CLIENT_ID
  clients rotate-secret CLIENT_ID [--json]
                                 new secret for a confidential app, shown once;
                                 the old one stops working at once
  clients remove CLIENT_ID       delete an app (its tokens stop working)
  accounts list [--search TEXT] [--after EMAIL] [--limit N] [--json]
  accounts show|create|disable|enable|delete ACCOUNT [--json]
                                 ACCOUNT is an id or an email address; disable
                                 and delete revoke sessions, grants and tokens;
                                 delete asks first (--yes: without asking)
  accounts set-name ACCOUNT NAME [--json]
                                 how the person is called (the name claim of
                                 the profile scope); "" removes it
  accounts change-email ACCOUNT NEW_EMAIL [--json]
                                 email NEW_EMAIL a link that confirms the
                                 change; the address changes once it is
                                 confirmed, and the old address is told
  passkeys list ACCOUNT [--json] an account's passkeys (id, name, kind, when
                                 added and last used)
  passkeys remove ACCOUNT PASSKEY_ID [--json]
                                 the passkey stops signing in at once; the
                                 emailed link keeps working
  keys list [--json]             signing keys and their state (next, signing,
                                 retiring)
  keys rotate [--activate-after SECONDS] [--json]
                                 publish a new key now; it signs after the delay
                                 (default KEY_ACTIVATION_DELAY_SECONDS)
  audit [--account ID] [--client ID] [--email ADDRESS] [--type TYPE]
        [--since WHEN] [--until WHEN] [--limit N] [--json]
                                 security events, newest first (WHEN: ISO date
                                 or 15m, 24h, 7d back from now); --email: the
                                 events naming the address and those of the
                                 accounts it belongs or belonged to
  admin-tokens create --name NAME --scope read|write|register [--scope …]
              [--expires-in 30d] [--json]
                                 a bearer token for the admin API (read, write)
                                 or for client registration (register); shown once
  admin-tokens list [--json]     tokens with their scopes, state and last use
  admin-tokens revoke ID         the token stops working at once
  help [COMMAND]                 show this text, or a command's (also
                                 sesame COMMAND --help); --version: the version

Configuration comes from environment variables (see README.md). The commands
other than serve and dev use the server's COOKIE_KEYS and HMAC_SECRETS, or the
development secrets that sesame dev keeps in DATA_DIR. Each names on stderr the
database (DATABASE_URL, or DATA_DIR) and issuer it works on, and stops if that
database does not exist or is not migrated: only migrate, serve and dev create
one.
`;

/** `sesame serve` and `sesame dev`: a server, which only `sesame` itself (its own process) starts; a negative code: it keeps running. */
export type StartServer = (mode: Extract<Mode, 'production' | 'development'>) => Promise<number>;

/**
 * `sesame …` from its arguments to its exit code. Everything it reads from its process (the
 * environment, the directory, the terminal) and everything it prints goes through `io`, so that the
 * same path runs in a test's own process; `startServer` (serve, dev) only the process has.
 */
export async function runSesame(argv: string[], io: CliIo, startServer?: StartServer): Promise<number> {
  try {
    return await run(argv, io, startServer);
  } catch (error) {
    return fail(error, argv, io);
  }
}

// core.js (the database and the domain services) is loaded on demand: --help and a supervisor of
// worker processes never need it; main.js (the whole server) only serve and dev load
async function openCore(config: Config, io: CliIo): Promise<Core> {
  const [{ openCore }, { createLogger }] = await Promise.all([import('../core.js'), import('../shared/logger.js')]);
  // pino's own destination would be file descriptor 1: the same stdout, given
  return openCore(config, createLogger(config.logLevel, { write: (line: string) => io.stdout(line) }));
}

/** Commands other than the server: the server's secrets, none of its issuer or mail rules. */
function commandConfig(io: CliIo): Config {
  const config = loadConfig({ mode: 'cli', env: io.env, cwd: io.cwd });
  // on stderr, so that what a command prints on stdout stays machine-readable
  io.stderr(`sesame: database ${databaseLabel(config.database)} (${databaseSetting(config.database)}), issuer ${config.issuer}\n`);
  return config;
}

// loaded on demand, like core.js: the check opens the database (knex), which --help never needs
const databaseCheck = () => import('./database-check.js');

async function withCore(io: CliIo, command: (core: Core) => Promise<number>): Promise<number> {
  const config = commandConfig(io);
  await (await databaseCheck()).requireReadyDatabase(config.database);
  const core = await openCore(config, io);
  try {
    return await command(core);
  } finally {
    await core.close();
  }
}

/** `sesame migrate`: the one command besides the server that creates a database. */
async function migrateCommand(io: CliIo): Promise<number> {
  const config = commandConfig(io);
  await (await databaseCheck()).prepareMigration(config.database, (line) => io.stderr(`sesame: ${line}\n`));
  const core = await openCore(config, io);
  await core.close();
  io.stdout('migrations applied\n');
  return 0;
}

/** The version in package.json (the CLI reads it only for --version). */
async function version(): Promise<string> {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { projectRoot } = await import('../shared/paths.js');
  return (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** `--help` anywhere after a command: that command's part of the usage, nothing run. */
function helpFor(argv: string[]): string | undefined {
  if (!argv.some((arg) => arg === '--help' || arg === '-h')) return undefined;
  const words = argv.filter((arg) => !arg.startsWith('-')).slice(0, 2);
  return usageFor(USAGE, words) ?? usageFor(USAGE, words.slice(0, 1)) ?? USAGE;
}

/** An unknown command or subcommand, refused before anything opens the database. */
function checkCommand(command: string, sub: string | undefined): void {
  const commands = commandsOf(USAGE);
  if (!commands.includes(command)) throw new UsageError(`unknown command "${command}".${didYouMean(command, commands)}`);
  const subs = subcommandsOf(USAGE, command);
  if (subs.length && sub !== undefined && !sub.startsWith('-') && !subs.includes(sub)) {
    throw new UsageError(`unknown ${command} command "${sub}".${didYouMean(sub, subs)}`);
  }
}

async function run(argv: string[], io: CliIo, startServer: StartServer | undefined): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-V' || command === 'version') {
    io.stdout(`sesame ${await version()}\n`);
    return 0;
  }
  if (command === 'help' && rest.length) {
    io.stdout(helpFor([...rest, '--help'])!);
    return 0;
  }
  const help = command && command !== 'help' && !command.startsWith('-') ? helpFor(argv) : undefined;
  if (help) {
    io.stdout(help);
    return 0;
  }
  if (command && command !== 'help' && !command.startsWith('-')) checkCommand(command, rest[0]);
  switch (command) {
    case 'serve':
    case 'dev':
      if (!startServer) throw new UsageError(`"sesame ${command}" starts a server: it runs only as its own process`);
      return startServer(command === 'serve' ? 'production' : 'development');
    case 'migrate':
      return migrateCommand(io);
    case 'clients':
      return withCore(io, (core) => clientsCommand(core, rest, io.stdout));
    case 'audit':
      return withCore(io, (core) => auditCommand(core, rest, io.stdout));
    case 'accounts':
      return withCore(io, (core) => accountsCommand(core, rest, io));
    case 'keys':
      return withCore(io, (core) => keysCommand(core, rest, io));
    case 'passkeys':
      return withCore(io, (core) => passkeysCommand(core, rest, io.stdout));
    case 'admin-tokens':
      return withCore(io, (core) => adminTokensCommand(core, rest, io.stdout));
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.stdout(USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function fail(error: unknown, argv: string[], io: CliIo): number {
  if (error instanceof ConfigError) {
    io.stderr(`${error.message}\n`);
    return 2;
  }
  if (error instanceof DatabaseNotReady) {
    io.stderr(`error: ${error.message}\n`);
    return 2;
  }
  if (error instanceof UsageError || (error as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')) {
    // the usage of the command that was called, not the whole manual
    const words = argv.filter((arg) => !arg.startsWith('-')).slice(0, 2);
    const usage = usageFor(USAGE, words) ?? usageFor(USAGE, words.slice(0, 1)) ?? USAGE;
    io.stderr(`error: ${(error as Error).message}\n\n${usage}${usage === USAGE ? '' : `\n(sesame help: every command)\n`}`);
    return 2;
  }
  if (error instanceof DatabaseOpenError) {
    // the setting, the place and the cause in one line; the driver's stack would only repeat it
    io.stderr(`error: ${error.message}\n`);
    return 1;
  }
  if (error instanceof SigningKeyUnreadable) {
    io.stderr(`error: ${error.message}\n`);
    return 2;
  }
  if (error instanceof AppError && error.expose) {
    io.stderr(`error: ${error.message}\n`);
    return 1;
  }
  io.stderr(`error: ${(error as Error)?.stack ?? String(error)}\n`);
  return 1;
}
