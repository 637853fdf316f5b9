import { z } from 'zod';
import { isMailFrom } from './mail-from.js';

/**
 * Every setting, its default and its meaning, in one place. The README's configuration reference
 * mirrors this table. Values come from the environment, or from the optional JSON file
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
