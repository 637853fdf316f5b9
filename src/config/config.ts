/** The one typed configuration: parsed once at start, frozen, passed down. */
export type NodeEnv = 'development' | 'production' | 'test';
export type SignupPolicy = 'open' | 'domains' | 'invite';

export interface DatabaseConfig {
  readonly client: 'sqlite' | 'postgres';
  /** SQLite file path (absolute) */
  readonly filename?: string;
  /** PostgreSQL connection string */
  readonly url?: string;
}

export interface Config {
  readonly env: NodeEnv;
  readonly issuer: string;
  readonly host: string;
  readonly port: number;
  readonly trustProxy: boolean;
  readonly dataDir: string;
  readonly database: DatabaseConfig;
  readonly mail: {
    readonly smtpUrl?: string;
    readonly from: string;
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
  };
  readonly signup: {
    readonly policy: SignupPolicy;
    readonly domains: readonly string[];
  };
  readonly sessionTtlSeconds: number;
  readonly sweepIntervalSeconds: number;
  readonly logLevel: string;
  /** notes for the start-up log: development defaults that were applied */
  readonly notices: readonly string[];
}
