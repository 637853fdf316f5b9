import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomToken } from '../shared/crypto.js';

/** COOKIE_KEYS and HMAC_SECRETS as `sesame dev` generates them when they are not set. */
export interface DevSecrets {
  readonly cookieKeys: string[];
  readonly hmacSecrets: string[];
}

export const devSecretsPath = (dataDir: string): string => join(dataDir, 'dev-secrets.json');

/** The secrets kept in DATA_DIR, if there are any; a file that holds something else is a problem. */
export function readDevSecrets(dataDir: string, problems: string[]): DevSecrets | undefined {
  const path = devSecretsPath(dataDir);
  if (!existsSync(path)) return undefined;
  try {
    const stored = JSON.parse(readFileSync(path, 'utf8')) as Partial<DevSecrets>;
    const valid = (list: unknown) => Array.isArray(list) && list.length > 0 && list.every((item) => typeof item === 'string' && item.length >= 32);
    if (valid(stored.cookieKeys) && valid(stored.hmacSecrets)) return { cookieKeys: stored.cookieKeys!, hmacSecrets: stored.hmacSecrets! };
  } catch {
    // reported below
  }
  problems.push(`DATA_DIR: ${path} does not hold development secrets ({"cookieKeys": […], "hmacSecrets": […]}); remove it to have new ones generated`);
  return undefined;
}

/** Development and tests only: generated once and kept in DATA_DIR, so restarts keep sessions and links valid. */
export function createDevSecrets(dataDir: string): DevSecrets {
  mkdirSync(dataDir, { recursive: true });
  const secrets = { cookieKeys: [randomToken()], hmacSecrets: [randomToken()] };
  writeFileSync(devSecretsPath(dataDir), `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}
