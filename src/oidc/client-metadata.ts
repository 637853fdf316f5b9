import type { AdapterPayload } from 'oidc-provider';
import type { ClientRecord } from '../clients/client.js';
import { checkRedirectUri } from '../clients/redirect-uri.js';

/** What oidc-provider sees of one of our clients. The secret field holds its keyed hash (see provider.ts). */
export function toProviderMetadata(client: ClientRecord): AdapterPayload {
  const native = client.redirectUris.some((uri) => {
    const checked = checkRedirectUri(uri);
    return 'kind' in checked && checked.kind === 'custom-scheme';
  });
  return {
    client_id: client.clientId,
    client_name: client.name,
    ...(client.logoUri ? { logo_uri: client.logoUri } : {}),
    application_type: native ? 'native' : 'web',
    redirect_uris: [...client.redirectUris],
    post_logout_redirect_uris: [...client.postLogoutRedirectUris],
    response_types: ['code'],
    grant_types: [...client.grantTypes],
    token_endpoint_auth_method: client.isPublic ? 'none' : 'client_secret_basic',
    ...(client.isPublic ? {} : { client_secret: client.secretHash }),
    first_party: client.firstParty,
  };
}
