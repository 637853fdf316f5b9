import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomToken } from '../shared/crypto.js';
import { ConfigError } from './config-error.js';

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
  const secrets = { cookieKeys: [randomToken()], hmacSecrets: [randomToken()] };
  const path = devSecretsPath(dataDir);
  try {
    // DATA_DIR itself, not its parents: a mistyped path is reported, not made
    if (!existsSync(dataDir)) mkdirSync(dataDir);
    writeFileSync(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  } catch (error) {
    throw new ConfigError([`DATA_DIR: cannot keep development secrets in ${path}: ${fileProblem(error)}`]);
  }
  return secrets;
}

function fileProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'the directory above DATA_DIR does not exist (create it, or correct the path)';
  if (code === 'EACCES' || code === 'EPERM') return `not writable (${code}: permission denied)`;
  if (code === 'EROFS') return 'on a read-only file system (EROFS)';
  if (code === 'ENOSPC') return 'the disk is full (ENOSPC)';
  return (error as Error).message;
}
