/** The one typed configuration: parsed once at start, frozen, passed down. */

/**
 * What the process runs as, chosen by its command and never by the environment: `sesame serve` is
 * production, `sesame dev` development, the other CLI commands `cli`; `test` only from the test
 * suite's own code. See src/config/load.ts for what each one requires and allows.
 */
export type Mode = 'production' | 'development' | 'test' | 'cli';

/** `on`, `off`, or (ADMIN_API_ENABLED unset) on only while an admin token that is neither revoked nor expired exists. */
export type AdminApiSwitch = 'on' | 'off' | 'while-a-token-is-active';
export type SignupPolicy = 'open' | 'domains' | 'invite';

export interface Rate {
  readonly limit: number;
  readonly windowSeconds: number;
}

/** Limits on asking for sign-in emails and on guessing links; an absent rate is switched off. */
export interface RateLimitSettings {
  /** emails per address asked for from one browser (case and surrounding spaces folded: one mailbox) */
  readonly perEmail?: Rate;
  /** minimum time between two emails to one address asked for from one browser */
  readonly emailIntervalSeconds: number;
  /** emails per address from all browsers together (what protects the mailbox from a flood) */
  readonly perEmailAllBrowsers?: Rate;
  /** codes typed for one address, across its requests (after which only the link works) */
  readonly codeAttemptsPerEmail?: Rate;
  /** sign-in emails asked for from one client IP (an IPv6 client by its network prefix) */
  readonly perIp?: Rate;
  /** failed client authentications (token, introspection, revocation, PAR) from one client IP */
  readonly clientAuthFailuresPerIp?: Rate;
  /** how many leading bits of an IPv6 address the per-IP limits count as one client */
  readonly ipv6PrefixBits: number;
  /** every sign-in email, all addresses and instances together */
  readonly mailGlobal?: Rate;
  /** failed link look-ups (guessed or mangled tokens) from one client IP; refused passkeys are counted the same way, apart */
  readonly verifyFailuresPerIp?: Rate;
}

export interface DatabaseConfig {
  readonly client: 'sqlite' | 'postgres';
  /** SQLite file path (absolute) */
  readonly filename?: string;
  /** SQLite: how long a query waits for a lock held by another connection before it fails */
  readonly busyTimeoutMs?: number;
  /** PostgreSQL connection string */
  readonly url?: string;
  /** the setting it comes from: DATABASE_URL, or (that not set) DATA_DIR's sesame.sqlite */
  readonly setting?: 'DATABASE_URL' | 'DATA_DIR';
}

export interface Config {
  readonly env: Mode;
  readonly issuer: string;
  readonly host: string;
  readonly port: number;
  readonly trustProxy: boolean;
  readonly dataDir: string;
  readonly database: DatabaseConfig;
  readonly mail: {
    readonly smtpUrl?: string;
    readonly from: string;
    /** connection, greeting and socket timeouts */
    readonly timeoutSeconds: number;
    readonly dkim?: { readonly domainName: string; readonly keySelector: string; readonly privateKey: string };
    /** where the development transport keeps `.eml` copies */
    readonly devDir: string;
  };
  readonly secrets: {
    readonly cookieKeys: readonly string[];
    readonly hmacSecrets: readonly string[];
  };
  readonly login: {
    readonly ttlSeconds: number;
    readonly codeMaxAttempts: number;
    /** numbers typed on another device per request, the right one included */
    readonly matchMaxAttempts: number;
  };
  /** how long the link that confirms a change of an account's address works */
  readonly emailChangeTtlSeconds: number;
  readonly signup: {
    readonly policy: SignupPolicy;
    readonly domains: readonly string[];
  };
  readonly rateLimits: RateLimitSettings;
  /** how the hosted pages and emails look: product name, accent colour, logo */
  readonly brand: {
    readonly productName: string;
    readonly color: string;
    readonly logoUrl?: string;
  };
  /** Dynamic Client Registration (RFC 7591/7592) at /reg, with an initial access token from `sesame admin-tokens` */
  readonly registration: { readonly enabled: boolean };
  /**
   * Passkeys (WebAuthn) next to the emailed link. The relying-party id is the issuer's host name and
   * the origin the issuer's origin; an issuer on an IP address cannot have passkeys (WebAuthn needs a
   * domain), so they are off there.
   */
  readonly passkeys: { readonly enabled: boolean; readonly rpId: string; readonly origin: string };
  /** DPoP (RFC 9449): whether every proof at the token, PAR and userinfo endpoints must carry a nonce Sesame issued (§8) */
  readonly dpop: { readonly requireNonce: boolean };
  /** whether Sesame may call apps on loopback and private addresses (back-channel logout, jwks_uri) */
  readonly outboundAllowPrivate: boolean;
  readonly sessionTtlSeconds: number;
  /** the admin API under /admin/api (bearer admin tokens); off: those paths answer 404 */
  readonly adminApi: AdminApiSwitch;
  /**
   * bearer token required by /metrics (and for the reason of a failed /readyz in production);
   * unset: /metrics is off (404) in production, open otherwise
   */
  readonly metricsToken?: string;
  readonly shutdownGraceSeconds: number;
  /** how long one HTTP request (headers and body) may take to arrive */
  readonly httpRequestTimeoutSeconds: number;
  readonly keys: {
    /** `keys rotate`: how long a new key is published before it signs */
    readonly activationDelaySeconds: number;
    /** how long a replaced key stays published (at least the ID token lifetime) */
    readonly retirementSeconds: number;
    /** how often each instance re-reads the keys (and so picks up rotations) */
    readonly refreshSeconds: number;
  };
  readonly auditRetentionDays: number;
  readonly sweepIntervalSeconds: number;
  /** server processes (`WORKERS`, `auto` resolved to the number of CPU cores) */
  readonly workers: number;
  readonly logLevel: string;
  /** notes for the start-up log: development defaults that were applied */
  readonly notices: readonly string[];
}
