import { CookieJar } from 'tough-cookie';

export interface Page {
  status: number;
  url: string;
  headers: Headers;
  body: string;
  /** the Location of a redirect that left the server (the app's redirect_uri) */
  location?: string;
}

/**
 * A cookie-keeping HTTP client that follows redirects on the server under test and stops at the
 * first redirect elsewhere (the relying app), like a browser would navigate. Cookies obey path,
 * expiry and SameSite=Lax semantics well enough for same-site flows (tough-cookie).
 */
export class Browser {
  readonly jar = new CookieJar();
  /** sent with every request, like a browser's own Accept-Language */
  readonly headers: Record<string, string> = {};

  /** `fetcher`: how requests are sent (the deployment test's goes through nginx with its own CA) */
  constructor(private readonly origin: string, readonly userAgent = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36', private readonly fetcher: typeof fetch = fetch) {}

  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Page> {
    let method = init.method ?? (init.form ? 'POST' : 'GET');
    let body: string | undefined = init.form ? new URLSearchParams(init.form).toString() : undefined;
    let current = new URL(url, this.origin).toString();
    for (let hops = 0; hops < 20; hops++) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'text/html', ...this.headers, ...init.headers };
      const cookie = await this.jar.getCookieString(current);
      if (cookie) headers.cookie = cookie;
      if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      const res = await this.fetcher(current, { method, headers, body, redirect: 'manual' });
      for (const setCookie of res.headers.getSetCookie()) await this.jar.setCookie(setCookie, current);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        const next = new URL(location, current);
        await res.arrayBuffer();
        if (next.origin !== new URL(this.origin).origin) {
          return { status: res.status, url: current, headers: res.headers, body: '', location: next.toString() };
        }
        current = next.toString();
        if (res.status !== 307 && res.status !== 308) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      return { status: res.status, url: current, headers: res.headers, body: await res.text() };
    }
    throw new Error('too many redirects');
  }

  /** One request, no redirect followed, cookies kept: for looking at a response's own status and headers. */
  async send(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Response> {
    const target = new URL(url, this.origin).toString();
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'text/html', ...this.headers, ...init.headers };
    const cookie = await this.jar.getCookieString(target);
    if (cookie) headers.cookie = cookie;
    if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await this.fetcher(target, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      headers,
      body: init.form ? new URLSearchParams(init.form).toString() : undefined,
      redirect: 'manual',
    });
    for (const setCookie of res.headers.getSetCookie()) await this.jar.setCookie(setCookie, target);
    return res;
  }

  get(url: string, headers?: Record<string, string>): Promise<Page> {
    return this.request(url, { headers });
  }

  /** Submits the form whose action matches, with its hidden fields plus `fields`. */
  submit(page: Page, action: string | RegExp, fields: Record<string, string> = {}): Promise<Page> {
    const form = findForm(page.body, action);
    return this.request(new URL(form.action, page.url).toString(), { form: { ...form.fields, ...fields } });
  }
}

export function findForm(html: string, action: string | RegExp): { action: string; fields: Record<string, string> } {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)];
  for (const [, attributes, inner] of forms) {
    const formAction = decode(/action="([^"]*)"/.exec(attributes)?.[1] ?? '');
    if (typeof action === 'string' ? formAction !== action : !action.test(formAction)) continue;
    const fields: Record<string, string> = {};
    for (const [input] of inner.matchAll(/<input\b[^>]*>/g)) {
      const name = /name="([^"]*)"/.exec(input)?.[1];
      const type = /type="([^"]*)"/.exec(input)?.[1];
      if (name && type === 'hidden') fields[name] = decode(/value="([^"]*)"/.exec(input)?.[1] ?? '');
    }
    return { action: formAction, fields };
  }
  throw new Error(`no form with action ${action} in:\n${html}`);
}

function decode(value: string): string {
  return value.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&#x3D;/g, '=').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}
