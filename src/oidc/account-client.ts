import type { ClientMetadata } from 'oidc-provider';

/**
 * Sesame's own account page (/account) signs people in like any app does: it is a client of
 * Sesame, with the same emailed link or code, through oidc-provider's authorization endpoint and
 * interaction pages. It is a static client of the provider's configuration, not a row in the
 * clients table: it exists on every instance from the start, cannot be changed or removed through
 * the CLI, the admin API or registration, and is not listed among the operator's clients.
 */
export const ACCOUNT_CLIENT_ID = 'sesame-account';

export const ACCOUNT_CALLBACK_PATH = '/account/callback';

export function accountCallbackUri(issuer: string): string {
  return new URL(ACCOUNT_CALLBACK_PATH, issuer).href;
}

/** Public (PKCE), first-party (no consent page), code flow only, `openid` only: it needs nothing but who signed in. */
export function accountClientMetadata(issuer: string, productName: string): ClientMetadata {
  return {
    client_id: ACCOUNT_CLIENT_ID,
    client_name: productName,
    application_type: 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [accountCallbackUri(issuer)],
    post_logout_redirect_uris: [],
    scope: 'openid',
    first_party: true,
  };
}
