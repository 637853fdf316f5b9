import { z } from 'zod';
import { isMailFrom } from './mail-from.js';

/**
 * Every setting, its default and its meaning, in one place: docs/configuration.md is generated from
 * this file (`npm run docs`, src/docs/generate.ts), and a unit test fails when it is stale. Values come from the environment, or from the optional JSON file
 * (`SESAME_CONFIG`, default `config/sesame.json`) under the same names; the environment wins.
 * The mode (production, development) is not a setting: it comes from the command (`sesame serve`,
 * `sesame dev`), so that no variable left over or forgotten can turn production into development.
 */
const seconds = (fallback: number, min: number, max: number) =>
  z.coerce.number({ error: 'must be a whole number of seconds' }).int('must be a whole number of seconds')
    .min(min, `must be at least ${min}`).max(max, `must be at most ${max}`).default(fallback);

const list = z.string().transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean));

const boolean = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((value) => ['true', '1', 'yes'].includes(value));

/** "COUNT/SECONDS" (e.g. 3/900: at most 3 per 15 minutes), or "off". */
const rate = (fallback: string) =>
  z.string()
    .regex(/^(off|[1-9]\d{0,6}\/[1-9]\d{0,5})$/, 'must be COUNT/SECONDS (e.g. 3/900) or off')
    .default(fallback)
    .transform((value) => {
      if (value === 'off') return undefined;
      const [limit, windowSeconds] = value.split('/').map(Number);
      return { limit, windowSeconds };
    })
    .refine((value) => !value || value.windowSeconds <= 86_400, 'the window must be at most 86400 seconds');

export const settingsSchema = z.object({
  ISSUER: z.url({ error: 'must be an absolute http(s) URL', protocol: /^https?$/ }).optional(),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: z.coerce.number({ error: 'must be a port number' }).int().min(0, 'must be a port number').max(65535, 'must be a port number').default(3000),
  TRUST_PROXY: boolean.default(false),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z.string().min(1).optional(),
  SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must start with smtp:// or smtps://').optional(),
  MAIL_FROM: z.string().trim().refine(isMailFrom, 'must be an address (no-reply@example.com) or a name and an address (Example ID <no-reply@example.com>)').optional(),
  COOKIE_KEYS: list.pipe(z.array(z.string().min(32, 'each key must be at least 32 characters')).min(1, 'must list at least one key')).optional(),
  HMAC_SECRETS: list.pipe(z.array(z.string().min(32, 'each secret must be at least 32 characters')).min(1, 'must list at least one secret')).optional(),
  LOGIN_TTL_SECONDS: seconds(600, 60, 3600),
  EMAIL_CHANGE_TTL_SECONDS: seconds(24 * 3600, 300, 7 * 24 * 3600),
  LOGIN_CODE_MAX_ATTEMPTS: z.coerce.number().int().min(1, 'must be at least 1').max(20, 'must be at most 20').default(5),
  SIGNUP_POLICY: z.enum(['open', 'domains', 'invite'], { error: 'must be open, domains or invite' }).default('open'),
  SIGNUP_DOMAINS: list.optional(),
  RATE_LIMIT_EMAIL: rate('3/900'),
  RATE_LIMIT_EMAIL_INTERVAL_SECONDS: z.coerce.number().int().min(0, 'must be 0 or more').max(3600, 'must be at most 3600').default(60),
  RATE_LIMIT_IP: rate('30/900'),
  RATE_LIMIT_MAIL: rate('1000/3600'),
  RATE_LIMIT_VERIFY_FAILURES_IP: rate('20/900'),
  RATE_LIMIT_EMAIL_ALL: rate('10/3600'),
  RATE_LIMIT_CLIENT_AUTH_FAILURES_IP: rate('20/900'),
  RATE_LIMIT_CODE_ATTEMPTS_EMAIL: rate('10/3600'),
  RATE_LIMIT_IPV6_PREFIX: z.coerce.number().int().min(32, 'must be at least 32').max(128, 'must be at most 128').default(64),
  LOGIN_MATCH_MAX_ATTEMPTS: z.coerce.number().int().min(1, 'must be at least 1').max(5, 'must be at most 5').default(3),
  PRODUCT_NAME: z.string().trim().min(1).max(60, 'must be at most 60 characters').default('Sesame'),
  BRAND_COLOR: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour like #3b3bd6').default('#3b3bd6'),
  BRAND_LOGO_URL: z.url({ error: 'must be an absolute https URL', protocol: /^https$/ }).optional(),
  // unset: on only while an admin token is active (see Config.adminApi)
  ADMIN_API_ENABLED: boolean.optional(),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(0, 'must be 0 or more').max(600, 'must be at most 600').default(10),
  HTTP_REQUEST_TIMEOUT_SECONDS: seconds(30, 1, 300),
  SMTP_TIMEOUT_SECONDS: z.coerce.number().int().min(1, 'must be at least 1').max(120, 'must be at most 120').default(10),
  DKIM_DOMAIN: z.string().min(3).optional(),
  DKIM_SELECTOR: z.string().min(1).optional(),
  DKIM_PRIVATE_KEY: z.string().min(1).optional(),
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1, 'must be at least 1').max(3650, 'must be at most 3650').default(365),
  SQLITE_BUSY_TIMEOUT_MS: z.coerce.number().int().min(0).max(60_000, 'must be at most 60000').default(5000),
  KEY_ACTIVATION_DELAY_SECONDS: z.coerce.number().int().min(0, 'must be 0 or more').max(30 * 86_400, 'must be at most 2592000').default(3600),
  KEY_RETIREMENT_SECONDS: z.coerce.number().int().min(3600, 'must be at least 3600 (the ID token lifetime)').max(90 * 86_400, 'must be at most 7776000').default(3900),
  KEYS_REFRESH_SECONDS: z.coerce.number().int().min(1, 'must be at least 1').max(3600, 'must be at most 3600').default(5),
  REGISTRATION_ENABLED: boolean.default(false),
  // passkeys (WebAuthn) next to the emailed link; relying-party id and origin come from ISSUER
  PASSKEYS_ENABLED: boolean.default(true),
  DPOP_REQUIRE_NONCE: boolean.default(false),
  OUTBOUND_ALLOW_PRIVATE: boolean.optional(),
  SESSION_TTL_SECONDS: seconds(14 * 24 * 3600, 300, 365 * 24 * 3600),
  SWEEP_INTERVAL_SECONDS: seconds(300, 1, 24 * 3600),
  // server processes: 1, a number, or auto (one per CPU core); they share the port and the database
  WORKERS: z.string().trim().regex(/^(auto|[1-9]\d?)$/, 'must be auto or a whole number from 1 to 99').default('1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'must be one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
});

export type Settings = z.infer<typeof settingsSchema>;
export const settingNames = Object.keys(settingsSchema.shape) as (keyof Settings)[];

/** The part of docs/configuration.md a setting is listed under. */
export type SettingGroup = 'server' | 'storage' | 'secrets' | 'mail' | 'sign-in' | 'rate-limits' | 'branding' | 'protocol' | 'operations';

export interface SettingDoc {
  readonly group: SettingGroup;
  /** one line, Markdown: what it does and what the values mean */
  readonly about: string;
  /** what happens when it is not set, for a setting whose default is not a fixed value in the schema */
  readonly unset?: string;
}

/** What each setting is for, one line each; the default comes from the schema above unless `unset` says it. */
export const settingDocs: { readonly [Name in keyof Settings]-?: SettingDoc } = {
  ISSUER: { group: 'server', unset: '`http://localhost:$PORT` with `sesame dev`; required (https) by `sesame serve`', about: 'The public URL of Sesame. Every link in every email, discovery and every redirect use it; it is never taken from the request\'s `Host` or `X-Forwarded-*`.' },
  HOST: { group: 'server', about: 'Address to listen on.' },
  PORT: { group: 'server', about: 'Port to listen on. `0`: any free port, named in the start-up line; an issuer on port 0 (ISSUER unset, or e.g. `http://127.0.0.1:0`) then names the port bound.' },
  TRUST_PROXY: { group: 'server', about: '`true` behind one TLS-terminating proxy: the client IP is then the last hop of `X-Forwarded-For` (what the proxy appended); otherwise forwarding headers are ignored. Scheme and host are always the issuer\'s.' },
  DATA_DIR: { group: 'storage', about: 'Where the default SQLite file, the development secrets and the development mail (`mail/*.eml`) live.' },
  DATABASE_URL: { group: 'storage', unset: '`$DATA_DIR/sesame.sqlite`', about: '`postgres://user:pass@host:5432/db` for PostgreSQL; `sqlite://<path>` or a plain file path for SQLite.' },
  SMTP_URL: { group: 'mail', unset: '`sesame dev` prints mail to the console and keeps `.eml` files; required by `sesame serve`', about: 'The mail relay: `smtp://user:pass@host:587` or `smtps://user:pass@host:465` (a nodemailer connection URL).' },
  MAIL_FROM: { group: 'mail', unset: '`$PRODUCT_NAME <no-reply@<issuer host>>` with `sesame dev`; required by `sesame serve`', about: 'The `From` of every email: `no-reply@example.com` or `Example ID <no-reply@example.com>` (the name may be in double quotes).' },
  COOKIE_KEYS: { group: 'secrets', unset: 'generated once by `sesame dev` into `$DATA_DIR/dev-secrets.json`; required by `sesame serve`', about: 'Comma-separated keys (at least 32 characters each) that sign cookies; newest first, older ones still verify, so keys can rotate.' },
  HMAC_SECRETS: { group: 'secrets', unset: 'generated once by `sesame dev` into `$DATA_DIR/dev-secrets.json`; required by `sesame serve`', about: 'Comma-separated secrets (at least 32 characters each) from which every keyed hash, every encryption at rest and the DPoP nonces derive a key per purpose; newest first, older ones still verify and decrypt (see [rotation](production.md#rotating-hmac_secrets)).' },
  LOGIN_TTL_SECONDS: { group: 'sign-in', about: 'How long an emailed link and code stay valid (60–3600), never longer than the sign-in itself.' },
  EMAIL_CHANGE_TTL_SECONDS: { group: 'sign-in', about: 'How long the link that confirms a change of an account\'s address works (300–604800).' },
  LOGIN_CODE_MAX_ATTEMPTS: { group: 'sign-in', about: 'Wrong codes allowed per email before its request dies (1–20).' },
  SIGNUP_POLICY: { group: 'sign-in', about: '`open`: any address gets an account at its first sign-in; `domains`: only addresses in `SIGNUP_DOMAINS`; `invite`: only existing accounts. Refused addresses see the same page and get no email.' },
  SIGNUP_DOMAINS: { group: 'sign-in', unset: 'none (required with `SIGNUP_POLICY=domains`)', about: 'Comma-separated domains for `SIGNUP_POLICY=domains`.' },
  RATE_LIMIT_EMAIL: { group: 'rate-limits', about: 'Sign-in emails per address asked for from one browser: `COUNT/SECONDS` (window at most 86400) or `off`. Case and spaces do not make a new address; someone else asking from their own browser does not use this up.' },
  RATE_LIMIT_EMAIL_INTERVAL_SECONDS: { group: 'rate-limits', about: 'Minimum time between two emails to one address from one browser (`0`: none; only while `RATE_LIMIT_EMAIL` is on).' },
  RATE_LIMIT_IP: { group: 'rate-limits', about: 'Sign-in emails asked for from one client IP (see `TRUST_PROXY` and `RATE_LIMIT_IPV6_PREFIX`).' },
  RATE_LIMIT_MAIL: { group: 'rate-limits', about: 'All sign-in emails together, across every instance.' },
  RATE_LIMIT_VERIFY_FAILURES_IP: { group: 'rate-limits', about: 'Links that do not work (guessed or mangled tokens) opened from one client IP; refused passkeys are limited by the same rate, counted apart.' },
  RATE_LIMIT_EMAIL_ALL: { group: 'rate-limits', about: 'Sign-in emails per address from all browsers together: what protects a mailbox from a flood.' },
  RATE_LIMIT_CLIENT_AUTH_FAILURES_IP: { group: 'rate-limits', about: 'Failed client authentications (`invalid_client`) from one client IP; past it the token, introspection, revocation and PAR endpoints answer that IP 429.' },
  RATE_LIMIT_CODE_ATTEMPTS_EMAIL: { group: 'rate-limits', about: 'Codes typed for one address across all its sign-in emails; past it only the link works.' },
  RATE_LIMIT_IPV6_PREFIX: { group: 'rate-limits', about: 'How many leading bits of an IPv6 address the per-IP limits count as one client (32–128).' },
  LOGIN_MATCH_MAX_ATTEMPTS: { group: 'sign-in', about: 'Numbers typed on another device per sign-in email, the right one included, before the request stops (1–5).' },
  PRODUCT_NAME: { group: 'branding', about: 'The name on every page and email (at most 60 characters).' },
  BRAND_COLOR: { group: 'branding', about: 'Accent colour (`#rrggbb`) of buttons and links; the text on it is black or white, whichever is readable.' },
  BRAND_LOGO_URL: { group: 'branding', unset: 'none: the product name is shown', about: 'An https URL of the logo shown above pages and in emails.' },
  ADMIN_API_ENABLED: { group: 'operations', unset: 'on only while an admin token is active', about: 'The [admin API](admin-api.md) under `/admin/api/`: `true` on; `false` those paths answer 404; unset, on only while at least one admin token is neither revoked nor expired (checked at every request).' },
  METRICS_TOKEN: { group: 'operations', unset: '`sesame serve`: `/metrics` is off (404); `sesame dev`: open', about: 'At least 16 characters. `/metrics` then requires `Authorization: Bearer <token>`, and the same bearer gets the reason of a failing `/readyz` in production.' },
  SHUTDOWN_GRACE_SECONDS: { group: 'server', about: 'On SIGTERM, how long requests in flight may take before connections are cut (0–600).' },
  HTTP_REQUEST_TIMEOUT_SECONDS: { group: 'server', about: 'How long one request, headers and body, may take to arrive (1–300); past it 408 and the connection is closed. The headers alone must arrive within 10 s (or this, if shorter).' },
  SMTP_TIMEOUT_SECONDS: { group: 'mail', about: 'How long the SMTP client waits to connect and for the relay\'s greeting (1–120). Once connected, each answer is waited for up to 10 minutes (RFC 5321 §4.5.3.2).' },
  DKIM_DOMAIN: { group: 'mail', unset: 'none: mail is not DKIM-signed', about: 'DKIM-sign outgoing mail for this domain; needs `DKIM_SELECTOR` and `DKIM_PRIVATE_KEY` too.' },
  DKIM_SELECTOR: { group: 'mail', unset: 'none', about: 'The DKIM selector (with `DKIM_DOMAIN`).' },
  DKIM_PRIVATE_KEY: { group: 'mail', unset: 'none', about: 'The DKIM private key as PEM text, or the path of a PEM file (with `DKIM_DOMAIN`).' },
  AUDIT_RETENTION_DAYS: { group: 'storage', about: 'How long audit events are kept (1–3650).' },
  SQLITE_BUSY_TIMEOUT_MS: { group: 'storage', about: 'SQLite: how long a request may wait for the database (a connection, then the lock), counted from when it began; past it 503 with `Retry-After`.' },
  KEY_ACTIVATION_DELAY_SECONDS: { group: 'protocol', about: '`keys rotate`: how long a new signing key is published before it signs, so relying apps have fetched it.' },
  KEY_RETIREMENT_SECONDS: { group: 'protocol', about: 'How long a replaced signing key stays published (at least 3600, the ID token lifetime).' },
  KEYS_REFRESH_SECONDS: { group: 'protocol', about: 'How often each instance re-reads the signing keys; a rotation through any instance is used by all within this time.' },
  PASSKEYS_ENABLED: { group: 'sign-in', about: 'Passkeys (WebAuthn) next to the emailed link: offered after an emailed sign-in, usable from the email page (autofill and a button), demanded by an app with `acr_values=urn:sesame:acr:passkey` (see [passkeys](passkeys.md)). The relying-party id is the host name of `ISSUER`, the origin its origin; an issuer on an IP address has no passkeys (WebAuthn needs a domain). `false`: no passkey anywhere; stored ones stay, and operators can still list and remove them.' },
  REGISTRATION_ENABLED: { group: 'protocol', about: 'Dynamic Client Registration at `/reg` (RFC 7591/7592), guarded by initial access tokens (see [registering apps](connecting-apps/README.md#dynamic-client-registration)).' },
  DPOP_REQUIRE_NONCE: { group: 'protocol', about: '`true`: every DPoP proof (token, PAR, userinfo) must carry a nonce Sesame issued (RFC 9449 §8); clients that follow RFC 9449 retry with the `DPoP-Nonce` given, others fail.' },
  OUTBOUND_ALLOW_PRIVATE: { group: 'protocol', unset: '`false` with `sesame serve`, `true` with `sesame dev`', about: 'Whether Sesame may call loopback and private addresses when it posts back-channel logout tokens or fetches a client\'s `jwks_uri` (off in production: no SSRF into the internal network).' },
  SESSION_TTL_SECONDS: { group: 'sign-in', about: 'Lifetime of the sign-in session at Sesame (300–31536000).' },
  SWEEP_INTERVAL_SECONDS: { group: 'storage', about: 'How often expired rows are deleted.' },
  WORKERS: { group: 'server', about: 'Server processes: a number or `auto` (one per CPU core). With more than one, `serve` or `dev` supervises that many workers sharing the port and the database: the first migrates, one sweeps, a worker that dies is restarted, SIGTERM drains them all.' },
  LOG_LEVEL: { group: 'server', about: '`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. Logs are JSON lines (pino) with a request id with `sesame serve`, readable lines with `sesame dev`; query strings (which may hold link tokens) are never logged.' },
};
