import type { ClientService } from '../clients/client-service.js';
import type { ClientRecord } from '../clients/client.js';

/** Where /demo lives on the issuer; its callback and its signed-out page are under it. */
export function demoUrls(issuer: string): { home: string; callback: string } {
  const home = new URL('/demo', issuer).href;
  return { home, callback: `${home}/callback` };
}

/**
 * The demo app's own client: public (PKCE, no secret) and first-party (no consent page), found by
 * its redirect URI so that every start in development reuses it; a new issuer gets a new one.
 */
export async function ensureDemoClient(clients: ClientService, issuer: string): Promise<ClientRecord> {
  const { home, callback } = demoUrls(issuer);
  const existing = (await clients.list()).find((client) => client.authMethod === 'none' && client.enabled && client.redirectUris.includes(callback));
  if (existing) return existing;
  const { client } = await clients.add({ name: 'Sesame demo', redirectUris: [callback], postLogoutRedirectUris: [home], isPublic: true, firstParty: true });
  return client;
}
