import { Agent, fetch as undiciFetch } from 'undici';

/** Which nginx a request goes to: the one in front of every instance, or one in front of a single instance. */
export type Route = 'all' | 'a' | 'b';

/** The address the clients connect from: not nginx's own (127.0.0.1), so that a test can tell them apart. */
export const CLIENT_ADDRESS = '127.0.0.2';

/**
 * A `fetch` for the browser and the relying app of the deployment test. It trusts the test's
 * self-signed certificate as its only CA (through an undici Agent; TLS verification stays on,
 * nothing is switched off process-wide) and connects from CLIENT_ADDRESS (over IPv4: localhost may resolve to ::1 first). A request for the
 * issuer's origin goes to the nginx that `route` chooses (by default the one in front of every
 * instance); the URL's scheme, host and path, and so the cookies, stay the issuer's.
 */
export function tlsFetch(options: { issuer: string; ca: string; ports: Record<Route, number>; route?: (url: URL) => Route }): typeof fetch {
  const dispatcher = new Agent({ localAddress: CLIENT_ADDRESS, connect: { ca: options.ca, family: 4 } });
  const { origin } = new URL(options.issuer);
  const route = options.route ?? (() => 'all');
  return ((input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    if (url.origin === origin) url.port = String(options.ports[route(url)]);
    return undiciFetch(url, { ...(init as object), dispatcher });
  }) as unknown as typeof fetch;
}
