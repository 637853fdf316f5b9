import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import type { AdminApiSwitch, Config, DatabaseConfig, Mode } from './config.js';
import { ConfigError } from './config-error.js';
import { createDevSecrets, devSecretsPath, readDevSecrets } from './dev-secrets.js';
import { closestName } from './did-you-mean.js';
import { settingNames, settingsSchema, type Settings } from './settings.js';

export { ConfigError } from './config-error.js';

export interface LoadOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** from the command (`sesame serve`, `sesame dev`…) or the test suite's code, never from the environment */
  mode: Mode;
}

const REQUIRED_IN_PRODUCTION: Record<string, string> = {
  ISSUER: 'the public https URL of this server',
  COOKIE_KEYS: 'comma-separated, newest first, each at least 32 characters',
  HMAC_SECRETS: 'comma-separated, newest first, each at least 32 characters',
  SMTP_URL: 'sesame dev prints mail to the console instead',
  MAIL_FROM: 'e.g. "Example ID <no-reply@example.com>"',
};

/** What each mode requires and what it fills in: production fails closed, development is convenient. */
interface ModeRules {
  readonly required: Readonly<Record<string, string>>;
  readonly httpsIssuer: boolean;
  /** without ISSUER: http://localhost:PORT */
  readonly defaultIssuer: boolean;
  /**
   * COOKIE_KEYS and HMAC_SECRETS not set: generated once into DATA_DIR/dev-secrets.json (and read
   * from it afterwards), read from that file only if it exists, or nothing (they are required).
   */
  readonly missingSecrets: 'generate' | 'existing' | 'required';
  /** the default of OUTBOUND_ALLOW_PRIVATE: apps under development run on localhost */
  readonly outboundAllowPrivate: boolean;
}

const MODES: Record<Mode, ModeRules> = {
  production: { required: REQUIRED_IN_PRODUCTION, httpsIssuer: true, defaultIssuer: false, missingSecrets: 'required', outboundAllowPrivate: false },
  development: { required: {}, httpsIssuer: false, defaultIssuer: true, missingSecrets: 'generate', outboundAllowPrivate: true },
  test: { required: {}, httpsIssuer: false, defaultIssuer: true, missingSecrets: 'generate', outboundAllowPrivate: true },
  // clients, accounts, keys, audit, admin-tokens, migrate: they serve nothing and send no mail, but
  // must hash and encrypt with the server's secrets, so they never make new ones
  cli: { required: {}, httpsIssuer: false, defaultIssuer: true, missingSecrets: 'existing', outboundAllowPrivate: false },
};

/**
 * Reads, validates and freezes the configuration. Every problem is found in one pass (a bad value,
 * a missing production setting, an http issuer in production, a mistyped name), so an operator
 * fixes them all at once; nothing is written (development secrets) unless there are none.
 */
export function loadConfig({ env = process.env, cwd = process.cwd(), mode }: LoadOptions): Config {
  const rules = MODES[mode];
  if (!rules) throw new TypeError(`unknown mode: ${String(mode)}`);
  const problems: string[] = [];
  const notices: string[] = [];
  const raw: Record<string, string> = { ...readFile(env, cwd, problems), ...pickSettings(env, problems) };
  const s = parseEach(raw, problems);
  for (const [name, why] of Object.entries(rules.required)) {
    // a value given but invalid is already reported as such
    if (raw[name] === undefined) problems.push(`${name}: required in production (${why})`);
  }

  let issuer = s.ISSUER?.replace(/\/+$/, '');
  if (raw.ISSUER === undefined && rules.defaultIssuer) {
    issuer = `http://localhost:${s.PORT ?? 3000}`;
    notices.push(`ISSUER not set: using ${issuer} (development default)`);
  }
  const issuerUrl = issuer === undefined ? undefined : new URL(issuer);
  if (issuerUrl?.search || issuerUrl?.hash) problems.push('ISSUER: must not have a query or fragment');
  if (issuerUrl && rules.httpsIssuer && issuerUrl.protocol !== 'https:') problems.push('ISSUER: must be https in production');

  const dataDir = resolve(cwd, s.DATA_DIR ?? './data');
  const database = parseDatabaseUrl(s.DATABASE_URL, dataDir, cwd, problems);
  if (s.SIGNUP_POLICY === 'domains' && !s.SIGNUP_DOMAINS?.length) {
    problems.push('SIGNUP_DOMAINS: required when SIGNUP_POLICY is "domains" (comma-separated, e.g. example.com,example.org)');
  }
  const dkimSettings = dkim(s, cwd, problems);

  let cookieKeys = s.COOKIE_KEYS;
  let hmacSecrets = s.HMAC_SECRETS;
  // a value given but invalid is reported as such, never replaced
  const missing = (['COOKIE_KEYS', 'HMAC_SECRETS'] as const).filter((name) => raw[name] === undefined);
  if (missing.length && rules.missingSecrets !== 'required') {
    const stored = readDevSecrets(dataDir, problems);
    cookieKeys ??= stored?.cookieKeys;
    hmacSecrets ??= stored?.hmacSecrets;
    if (stored) notices.push(`secrets not set: using development secrets kept in ${devSecretsPath(dataDir)}`);
    else if (rules.missingSecrets === 'existing' && !problems.some((p) => p.startsWith('DATA_DIR:'))) {
      problems.push(`${missing.join(', ')}: not set, and there are no development secrets in ${devSecretsPath(dataDir)}: `
        + 'set them as the server has them, or start "sesame dev" once with this DATA_DIR');
    }
  }
  if (mode === 'production' && raw.METRICS_TOKEN === undefined) {
    notices.push('METRICS_TOKEN not set: /metrics is off (404); set it to scrape metrics with Authorization: Bearer <token>');
  }

  if (problems.length) throw new ConfigError(problems);
  const settings = s as Settings;
  if (!cookieKeys || !hmacSecrets) {
    // development and tests only: production requires them, the CLI read them or stopped above
    if (rules.missingSecrets !== 'generate') throw new Error(`${mode}: secrets missing after validation`);
    const generated = createDevSecrets(dataDir);
    cookieKeys ??= generated.cookieKeys;
    hmacSecrets ??= generated.hmacSecrets;
    // said apart from reading them: a DATA_DIR other than the one meant starts over, never silently
    notices.push(`secrets not set: new development secrets generated and kept in ${devSecretsPath(dataDir)}`);
  }
  return deepFreeze({
    ...build(settings, { mode, rules, issuer: issuer!, dataDir, database, dkim: dkimSettings, notices }),
    secrets: { cookieKeys, hmacSecrets },
  });
}

/** Environment variables that are settings; one that is not but nearly is (a typo) is a problem. */
function pickSettings(env: Record<string, string | undefined>, problems: string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value === '') continue;
    if ((settingNames as string[]).includes(name)) {
      picked[name] = value;
      continue;
    }
    const meant = closestName(name, settingNames);
    if (meant) problems.push(`${name}: not a setting; did you mean ${meant}?`);
  }
  return picked;
}

function readFile(env: Record<string, string | undefined>, cwd: string, problems: string[]): Record<string, string> {
  const explicit = env.SESAME_CONFIG || undefined;
  const path = resolve(cwd, explicit ?? 'config/sesame.json');
  if (!existsSync(path)) {
    if (explicit) problems.push(`SESAME_CONFIG: file ${path} does not exist`);
    return {};
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    problems.push(`SESAME_CONFIG: ${path} is not valid JSON (${(error as Error).message})`);
    return {};
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    problems.push(`SESAME_CONFIG: ${path} must hold a JSON object of settings`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(data)) {
    if (!(settingNames as string[]).includes(key)) {
      const meant = closestName(key, settingNames);
      problems.push(`${key}: not a setting (in ${path})${meant ? `; did you mean ${meant}?` : ''}`);
    } else if (value !== null) out[key] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return out;
}

/** Each setting on its own, so that one bad value does not hide the checks that need the others. */
function parseEach(raw: Record<string, string>, problems: string[]): Partial<Settings> {
  const values: Record<string, unknown> = {};
  for (const name of settingNames) {
    const result = settingsSchema.shape[name].safeParse(raw[name]);
    if (result.success) values[name] = result.data;
    // `COOKIE_KEYS.1: …` names the setting and which item of its list is wrong
    else for (const issue of result.error.issues) problems.push(`${[name, ...issue.path].join('.')}: ${issue.message}`);
  }
  return values as Partial<Settings>;
}

interface Checked {
  mode: Mode;
  rules: ModeRules;
  issuer: string;
  dataDir: string;
  database: DatabaseConfig;
  dkim: Config['mail']['dkim'];
  notices: string[];
}

function build(s: Settings, { mode, rules, issuer, dataDir, database, dkim: dkimSettings, notices }: Checked): Omit<Config, 'secrets'> {
  const from = s.MAIL_FROM ?? `${s.PRODUCT_NAME.replace(/[^\w .-]/g, '')} <no-reply@${new URL(issuer).hostname}>`;
  const adminApi: AdminApiSwitch = s.ADMIN_API_ENABLED === undefined ? 'while-a-token-is-active' : s.ADMIN_API_ENABLED ? 'on' : 'off';
  return {
    env: mode,
    issuer,
    host: s.HOST,
    port: s.PORT,
    trustProxy: s.TRUST_PROXY,
    dataDir,
    database: { ...database, busyTimeoutMs: s.SQLITE_BUSY_TIMEOUT_MS },
    mail: { smtpUrl: s.SMTP_URL, from, devDir: join(dataDir, 'mail'), timeoutSeconds: s.SMTP_TIMEOUT_SECONDS, dkim: dkimSettings },
    login: { ttlSeconds: s.LOGIN_TTL_SECONDS, codeMaxAttempts: s.LOGIN_CODE_MAX_ATTEMPTS, matchMaxAttempts: s.LOGIN_MATCH_MAX_ATTEMPTS },
    emailChangeTtlSeconds: s.EMAIL_CHANGE_TTL_SECONDS,
    signup: { policy: s.SIGNUP_POLICY, domains: (s.SIGNUP_DOMAINS ?? []).map((d) => d.toLowerCase()) },
    rateLimits: {
      perEmail: s.RATE_LIMIT_EMAIL,
      emailIntervalSeconds: s.RATE_LIMIT_EMAIL_INTERVAL_SECONDS,
      perIp: s.RATE_LIMIT_IP,
      mailGlobal: s.RATE_LIMIT_MAIL,
      verifyFailuresPerIp: s.RATE_LIMIT_VERIFY_FAILURES_IP,
      perEmailAllBrowsers: s.RATE_LIMIT_EMAIL_ALL,
      clientAuthFailuresPerIp: s.RATE_LIMIT_CLIENT_AUTH_FAILURES_IP,
      codeAttemptsPerEmail: s.RATE_LIMIT_CODE_ATTEMPTS_EMAIL,
      ipv6PrefixBits: s.RATE_LIMIT_IPV6_PREFIX,
    },
    brand: { productName: s.PRODUCT_NAME, color: s.BRAND_COLOR.toLowerCase(), logoUrl: s.BRAND_LOGO_URL },
    sessionTtlSeconds: s.SESSION_TTL_SECONDS,
    adminApi,
    metricsToken: s.METRICS_TOKEN,
    shutdownGraceSeconds: s.SHUTDOWN_GRACE_SECONDS,
    httpRequestTimeoutSeconds: s.HTTP_REQUEST_TIMEOUT_SECONDS,
    keys: { activationDelaySeconds: s.KEY_ACTIVATION_DELAY_SECONDS, retirementSeconds: s.KEY_RETIREMENT_SECONDS, refreshSeconds: s.KEYS_REFRESH_SECONDS },
    registration: { enabled: s.REGISTRATION_ENABLED },
    dpop: { requireNonce: s.DPOP_REQUIRE_NONCE },
    passkeys: passkeySettings(s.PASSKEYS_ENABLED, issuer, notices),
    // in production an app's URI must not reach the internal network
    outboundAllowPrivate: s.OUTBOUND_ALLOW_PRIVATE ?? rules.outboundAllowPrivate,
    auditRetentionDays: s.AUDIT_RETENTION_DAYS,
    sweepIntervalSeconds: s.SWEEP_INTERVAL_SECONDS,
    workers: s.WORKERS === 'auto' ? availableParallelism() : Number(s.WORKERS),
    logLevel: s.LOG_LEVEL,
    notices,
  };
}

/**
 * An issuer on port 0 (ISSUER unset with PORT=0, or ISSUER=http://127.0.0.1:0) names the port the
 * server was given when it listened on any free one: `sesame serve`/`dev` bind first, then call
 * this. Any other issuer is the operator's and stays as it is.
 */
export function withBoundPort(config: Config, port: number): Config {
  const url = new URL(config.issuer);
  if (url.port !== '0') return config;
  url.port = String(port);
  const issuer = url.toString().replace(/\/+$/, '');
  return {
    ...config,
    issuer,
    passkeys: { ...config.passkeys, origin: url.origin },
    notices: config.notices.map((notice) => notice.replaceAll(config.issuer, issuer)),
  };
}

/** Relying-party id and origin from the issuer; WebAuthn refuses an IP address as the id. */
function passkeySettings(enabled: boolean, issuer: string, notices: string[]): Config['passkeys'] {
  const { hostname, origin } = new URL(issuer);
  const onIpAddress = isIP(hostname.replace(/^\[|\]$/g, '')) !== 0;
  if (enabled && onIpAddress) notices.push(`PASSKEYS_ENABLED: passkeys are off because the issuer's host ${hostname} is an IP address (WebAuthn needs a domain name)`);
  return { enabled: enabled && !onIpAddress, rpId: hostname, origin };
}

function parseDatabaseUrl(value: string | undefined, dataDir: string, cwd: string, problems: string[]): Omit<DatabaseConfig, 'busyTimeoutMs'> {
  if (!value) return { client: 'sqlite', filename: join(dataDir, 'sesame.sqlite'), setting: 'DATA_DIR' };
  if (/^postgres(ql)?:\/\//.test(value)) {
    try {
      new URL(value);
    } catch {
      problems.push('DATABASE_URL: not a valid postgres:// URL');
    }
    return { client: 'postgres', url: value, setting: 'DATABASE_URL' };
  }
  if (value.startsWith('sqlite:')) {
    const path = value.replace(/^sqlite:(\/\/)?/, '');
    if (!path) problems.push('DATABASE_URL: sqlite:// needs a file path, e.g. sqlite://./data/sesame.sqlite');
    return { client: 'sqlite', filename: isAbsolute(path) ? path : resolve(cwd, path), setting: 'DATABASE_URL' };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    problems.push('DATABASE_URL: must be postgres://…, sqlite://<path> or a file path');
    return { client: 'sqlite' };
  }
  return { client: 'sqlite', filename: resolve(cwd, value), setting: 'DATABASE_URL' };
}

/** DKIM signing: all three settings or none; the key may be PEM text or the path of a PEM file. */
function dkim(s: Partial<Settings>, cwd: string, problems: string[]): Config['mail']['dkim'] {
  const given = [s.DKIM_DOMAIN, s.DKIM_SELECTOR, s.DKIM_PRIVATE_KEY].filter(Boolean).length;
  if (given === 0) return undefined;
  if (given < 3) {
    problems.push('DKIM_DOMAIN: DKIM needs DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY together');
    return undefined;
  }
  let privateKey = s.DKIM_PRIVATE_KEY!;
  if (!privateKey.includes('-----BEGIN')) {
    const path = resolve(cwd, privateKey);
    if (!existsSync(path)) {
      problems.push(`DKIM_PRIVATE_KEY: neither a PEM key nor an existing file (${path})`);
      return undefined;
    }
    privateKey = readFileSync(path, 'utf8');
  }
  return { domainName: s.DKIM_DOMAIN!, keySelector: s.DKIM_SELECTOR!, privateKey };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
