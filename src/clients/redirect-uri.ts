const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'file:', 'vbscript:', 'about:', 'blob:', 'ftp:', 'ws:', 'wss:']);

export type RedirectKind = 'web' | 'loopback' | 'custom-scheme';

/**
 * Redirect URI rules (RFC 6749 §3.1.2, RFC 8252 for native apps, OAuth 2.0 Security BCP):
 * absolute, no fragment, no wildcards; https, or http only on a loopback host, or a private-use
 * scheme in reverse-domain form (`com.example.app:/callback`). Returns a reason when refused.
 */
export function checkRedirectUri(value: string): { kind: RedirectKind } | { error: string } {
  if (value.includes('*')) return { error: `${value}: wildcards are not allowed` };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { error: `${value}: not an absolute URI` };
  }
  if (url.hash || value.includes('#')) return { error: `${value}: must not contain a fragment (#)` };
  if (url.username || url.password) return { error: `${value}: must not contain credentials` };
  if (FORBIDDEN_SCHEMES.has(url.protocol)) return { error: `${value}: the ${url.protocol} scheme is not allowed` };
  if (url.protocol === 'https:') return { kind: 'web' };
  if (url.protocol === 'http:') {
    if (LOOPBACK_HOSTS.has(url.hostname)) return { kind: 'loopback' };
    return { error: `${value}: http is only allowed for loopback hosts (localhost, 127.0.0.1, [::1]); use https` };
  }
  if (!url.protocol.slice(0, -1).includes('.')) {
    return { error: `${value}: a custom scheme must be in reverse-domain form, e.g. com.example.app:/callback` };
  }
  return { kind: 'custom-scheme' };
}
