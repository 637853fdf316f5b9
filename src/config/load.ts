import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { randomToken } from '../shared/crypto.js';
import type { Config, DatabaseConfig } from './config.js';
import { settingNames, settingsSchema, type Settings } from './settings.js';

/** Thrown for every invalid setting; the message names the setting so start-up can print it as is. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export function loadConfig({ env = process.env, cwd = process.cwd() }: LoadOptions = {}): Config {
  const raw: Record<string, string> = { ...readFile(env, cwd), ...pickSettings(env) };
  const parsed = settingsSchema.safeParse(raw);
  // every problem at once: a bad value and a missing production setting are reported together
  const problems = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'config'}: ${issue.message}`);
  if (raw.NODE_ENV === 'production') {
    for (const [name, why] of Object.entries(REQUIRED_IN_PRODUCTION)) {
      if (!raw[name]) problems.push(`${name}: required in production (${why})`);
    }
  }
  if (problems.length || !parsed.success) throw new ConfigError(problems);
  return build(parsed.data, cwd);
}

const REQUIRED_IN_PRODUCTION: Record<string, string> = {
  ISSUER: 'the public https URL of this server',
  COOKIE_KEYS: 'comma-separated, newest first, each at least 32 characters',
  HMAC_SECRETS: 'comma-separated, newest first, each at least 32 characters',
  SMTP_URL: 'development prints mail to the console instead',
  MAIL_FROM: 'e.g. "Example ID <no-reply@example.com>"',
};

function pickSettings(env: Record<string, string | undefined>): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of settingNames) {
    const value = env[name];
    if (value !== undefined && value !== '') picked[name] = value;
  }
  return picked;
}

function readFile(env: Record<string, string | undefined>, cwd: string): Record<string, string> {
  const explicit = env.SESAME_CONFIG || undefined;
  const path = resolve(cwd, explicit ?? 'config/sesame.json');
  if (!existsSync(path)) {
    if (explicit) throw new ConfigError([`SESAME_CONFIG: file ${path} does not exist`]);
    return {};
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError([`SESAME_CONFIG: ${path} is not valid JSON (${(error as Error).message})`]);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError([`SESAME_CONFIG: ${path} must hold a JSON object of settings`]);
  }
  const out: Record<string, string> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (!(settingNames as string[]).includes(key)) problems.push(`${key}: unknown setting in ${path}`);
    else if (value !== null) out[key] = Array.isArray(value) ? value.join(',') : String(value);
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}

function build(s: Settings, cwd: string): Config {
  const problems: string[] = [];
  const notices: string[] = [];
  const production = s.NODE_ENV === 'production';
  const dataDir = resolve(cwd, s.DATA_DIR);

  let issuer = s.ISSUER;
  if (!issuer) {
    issuer = `http://localhost:${s.PORT || 3000}`;
    notices.push(`ISSUER not set: using ${issuer} (development default)`);
  }
  issuer = issuer.replace(/\/+$/, '');
  const issuerUrl = new URL(issuer);
  if (issuerUrl.search || issuerUrl.hash) problems.push('ISSUER: must not have a query or fragment');
  if (production && issuerUrl.protocol !== 'https:') problems.push('ISSUER: must be https in production');

  const database = { ...parseDatabaseUrl(s.DATABASE_URL, dataDir, cwd, problems), busyTimeoutMs: s.SQLITE_BUSY_TIMEOUT_MS };

  const from = s.MAIL_FROM ?? `${s.PRODUCT_NAME.replace(/[^\w .-]/g, '')} <no-reply@${issuerUrl.hostname}>`;

  if (s.SIGNUP_POLICY === 'domains' && !s.SIGNUP_DOMAINS?.length) {
    problems.push('SIGNUP_DOMAINS: required when SIGNUP_POLICY is "domains" (comma-separated, e.g. example.com,example.org)');
  }

  const dkimSettings = dkim(s, cwd, problems);
  if (problems.length) throw new ConfigError(problems);

  let cookieKeys = s.COOKIE_KEYS;
  let hmacSecrets = s.HMAC_SECRETS;

  if (!cookieKeys || !hmacSecrets) {
    const generated = developmentSecrets(dataDir);
    cookieKeys ??= generated.cookieKeys;
    hmacSecrets ??= generated.hmacSecrets;
    notices.push(`secrets not set: using development secrets kept in ${generated.path}`);
  }

  return deepFreeze({
    env: s.NODE_ENV,
    issuer,
    host: s.HOST,
    port: s.PORT,
    trustProxy: s.TRUST_PROXY,
    dataDir,
    database,
    mail: { smtpUrl: s.SMTP_URL, from, devDir: join(dataDir, 'mail'), timeoutSeconds: s.SMTP_TIMEOUT_SECONDS, dkim: dkimSettings },
    secrets: { cookieKeys, hmacSecrets },
    login: { ttlSeconds: s.LOGIN_TTL_SECONDS, codeMaxAttempts: s.LOGIN_CODE_MAX_ATTEMPTS },
    emailChangeTtlSeconds: s.EMAIL_CHANGE_TTL_SECONDS,
    signup: { policy: s.SIGNUP_POLICY, domains: (s.SIGNUP_DOMAINS ?? []).map((d) => d.toLowerCase()) },
    rateLimits: {
      perEmail: s.RATE_LIMIT_EMAIL,
      emailIntervalSeconds: s.RATE_LIMIT_EMAIL_INTERVAL_SECONDS,
      perIp: s.RATE_LIMIT_IP,
      mailGlobal: s.RATE_LIMIT_MAIL,
      verifyFailuresPerIp: s.RATE_LIMIT_VERIFY_FAILURES_IP,
    },
    brand: { productName: s.PRODUCT_NAME, color: s.BRAND_COLOR.toLowerCase(), logoUrl: s.BRAND_LOGO_URL },
    sessionTtlSeconds: s.SESSION_TTL_SECONDS,
    adminApi: { enabled: s.ADMIN_API_ENABLED },
    metricsToken: s.METRICS_TOKEN,
    shutdownGraceSeconds: s.SHUTDOWN_GRACE_SECONDS,
    httpRequestTimeoutSeconds: s.HTTP_REQUEST_TIMEOUT_SECONDS,
    keys: { activationDelaySeconds: s.KEY_ACTIVATION_DELAY_SECONDS, retirementSeconds: s.KEY_RETIREMENT_SECONDS, refreshSeconds: s.KEYS_REFRESH_SECONDS },
    registration: { enabled: s.REGISTRATION_ENABLED },
    dpop: { requireNonce: s.DPOP_REQUIRE_NONCE },
    // apps under development run on localhost; in production an app's URI must not reach the internal network
    outboundAllowPrivate: s.OUTBOUND_ALLOW_PRIVATE ?? !production,
    auditRetentionDays: s.AUDIT_RETENTION_DAYS,
    sweepIntervalSeconds: s.SWEEP_INTERVAL_SECONDS,
    workers: s.WORKERS === 'auto' ? availableParallelism() : Number(s.WORKERS),
    logLevel: s.LOG_LEVEL,
    notices,
  });
}

function parseDatabaseUrl(value: string | undefined, dataDir: string, cwd: string, problems: string[]): DatabaseConfig {
  if (!value) return { client: 'sqlite', filename: join(dataDir, 'sesame.sqlite') };
  if (/^postgres(ql)?:\/\//.test(value)) {
    try {
      new URL(value);
    } catch {
      problems.push('DATABASE_URL: not a valid postgres:// URL');
    }
    return { client: 'postgres', url: value };
  }
  if (value.startsWith('sqlite:')) {
    const path = value.replace(/^sqlite:(\/\/)?/, '');
    if (!path) problems.push('DATABASE_URL: sqlite:// needs a file path, e.g. sqlite://./data/sesame.sqlite');
    return { client: 'sqlite', filename: isAbsolute(path) ? path : resolve(cwd, path) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    problems.push('DATABASE_URL: must be postgres://…, sqlite://<path> or a file path');
    return { client: 'sqlite' };
  }
  return { client: 'sqlite', filename: resolve(cwd, value) };
}

/** DKIM signing: all three settings or none; the key may be PEM text or the path of a PEM file. */
function dkim(s: Settings, cwd: string, problems: string[]): Config['mail']['dkim'] {
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

interface DevSecrets { cookieKeys: string[]; hmacSecrets: string[]; path: string }

/** Development only: generated once, kept in the data folder so restarts keep sessions and links valid. */
function developmentSecrets(dataDir: string): DevSecrets {
  const path = join(dataDir, 'dev-secrets.json');
  if (existsSync(path)) {
    const stored = JSON.parse(readFileSync(path, 'utf8')) as Omit<DevSecrets, 'path'>;
    return { ...stored, path };
  }
  mkdirSync(dataDir, { recursive: true });
  const secrets = { cookieKeys: [randomToken()], hmacSecrets: [randomToken()] };
  writeFileSync(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return { ...secrets, path };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
