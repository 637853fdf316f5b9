import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { AccountService } from '../accounts/account-service.js';

/**
 * Which grant a request may reuse without showing the consent page: the one in the session, else
 * (first-party clients) one covering everything asked, else one built from what the person
 * consented to before for this client (remembered across sessions).
 */
export function grantLoader(accounts: AccountService) {
  return async function loadExistingGrant(ctx: KoaContextWithOIDC) {
    const { oidc } = ctx;
    const client = oidc.client!;
    const session = oidc.session!;
    const grantId = oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
    if (grantId) {
      const existing = await oidc.provider.Grant.find(grantId);
      if (existing) return existing;
    }
    if (!session.accountId) return undefined;
    const requested = [...(oidc.requestParamOIDCScopes as Set<string>)];
    let allowed = requested;
    if (!isFirstParty(client)) {
      const remembered = new Set((await accounts.rememberedConsent(session.accountId, client.clientId)) ?? []);
      allowed = requested.filter((scope) => remembered.has(scope));
      if (allowed.length === 0) return undefined;
    }
    const grant = new oidc.provider.Grant({ accountId: session.accountId, clientId: client.clientId });
    grant.addOIDCScope(allowed.join(' '));
    await grant.save();
    return grant;
  };
}

export function isFirstParty(client: { [key: string]: unknown }): boolean {
  return client['first_party'] === true;
}

/** The consent page's "Allow": everything the prompt says is missing is granted and remembered. */
export async function grantMissing(provider: Provider, details: Awaited<ReturnType<Provider['interactionDetails']>>): Promise<{ grantId: string; scopes: string[] }> {
  const accountId = details.session!.accountId;
  const clientId = details.params.client_id as string;
  const grant = (details.grantId && (await provider.Grant.find(details.grantId))) || new provider.Grant({ accountId, clientId });
  const info = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  const scopes = info.missingOIDCScope ?? [];
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  if (info.missingOIDCClaims?.length) grant.addOIDCClaims(info.missingOIDCClaims);
  for (const [indicator, resourceScopes] of Object.entries(info.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, resourceScopes.join(' '));
  }
  return { grantId: await grant.save(), scopes };
}
