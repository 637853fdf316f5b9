import type { KoaContextWithOIDC } from 'oidc-provider';

/**
 * Whose grant oidc-provider just revoked (its `grant.revoked` event names only the grant): the
 * account of the token, code or grant the request carried, or of the session that signed out.
 * Recorded so that `sesame audit --email` finds the revocation through the account.
 */
export function revokedAccount(ctx: KoaContextWithOIDC): string | undefined {
  const oidc = ctx.oidc;
  return oidc?.account?.accountId
    ?? oidc?.grant?.accountId
    ?? oidc?.accessToken?.accountId
    ?? oidc?.refreshToken?.accountId
    ?? oidc?.authorizationCode?.accountId
    ?? oidc?.session?.accountId;
}
