import type { Account, AccountActivity } from '../accounts/account.js';
import type { StoredAuditEvent } from '../audit/audit.js';
import type { KeySetEntry } from '../oidc/signing-keys.js';
import type { Passkey } from '../passkeys/passkey.js';
import type { AdminTokenInfo } from './admin-tokens.js';

/**
 * The JSON shapes the CLI's `--json` and the admin API share: one description of each thing,
 * snake_case, times as ISO strings.
 */
const iso = (at: number | null | undefined) => (at === null || at === undefined ? null : new Date(at).toISOString());

export function accountToJson(account: Account) {
  return {
    id: account.id,
    email: account.email,
    email_verified: account.emailVerified,
    name: account.name ?? null,
    status: account.status,
    created_at: iso(account.createdAt),
    last_sign_in_at: iso(account.lastLoginAt),
  };
}

/** `accounts show`: the account with its live sessions and the apps holding a grant. */
export function accountDetailsToJson(account: Account, activity: AccountActivity) {
  return { ...accountToJson(account), sessions: activity.sessions, apps_with_access: activity.clients };
}

export function signingKeyToJson({ key, state, retiresAt }: KeySetEntry) {
  return {
    kid: key.kid,
    alg: key.alg,
    state,
    created_at: iso(key.createdAt),
    signs_from: iso(key.activateAt),
    ...(retiresAt ? { published_until: iso(retiresAt) } : {}),
  };
}

export function auditEventToJson(event: StoredAuditEvent) {
  return { ...event, at: iso(event.at) };
}

export function adminTokenToJson(token: AdminTokenInfo) {
  return {
    id: token.id,
    name: token.name,
    scopes: [...token.scopes],
    state: token.state,
    created_at: iso(token.createdAt),
    expires_at: iso(token.expiresAt),
    revoked_at: iso(token.revokedAt),
    last_used_at: iso(token.lastUsedAt),
  };
}

/** A passkey as operators see it: never its public key (not secret, but of no use to them). */
export function passkeyToJson(passkey: Passkey) {
  return {
    id: passkey.id,
    name: passkey.name,
    credential_id: passkey.credentialId,
    device_type: passkey.deviceType === 'multiDevice' ? 'synced' : 'device_bound',
    transports: [...passkey.transports],
    created_at: iso(passkey.createdAt),
    last_used_at: iso(passkey.lastUsedAt),
  };
}
