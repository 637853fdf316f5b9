/**
 * Where "back to the app" leads, when Sesame knows: the origin of the app's first web (http or
 * https) redirect URI. Only URIs the app registered are used, never one from a request; a native
 * app (custom scheme only) has none.
 */
export function appHome(redirectUris: readonly string[] | undefined): string | undefined {
  for (const uri of redirectUris ?? []) {
    try {
      const url = new URL(uri);
      if (url.protocol === 'https:' || url.protocol === 'http:') return `${url.origin}/`;
    } catch {
      // not a URL: no way back through it
    }
  }
  return undefined;
}
