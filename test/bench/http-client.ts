import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * A small HTTP/1.1 client for load generation: node:http with a keep-alive agent (fetch costs the
 * load generator, which shares the two cores with the servers, several times more CPU per request).
 * Only 127.0.0.1 targets are allowed, so a mistyped option cannot send load anywhere else.
 */
export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Counts every response by status; the sign-in flow and the endpoint loops add what they expected. */
export class StatusCounter {
  readonly byStatus = new Map<string, number>();
  /** responses with a status the caller did not expect, by "label status" */
  readonly unexpected = new Map<string, number>();
  /** non-2xx answers the benchmark asked for on purpose (e.g. probing a grant that is not enabled) */
  readonly deliberate = new Map<string, number>();
  /** requests sent again because the server had closed the idle keep-alive connection they went out on */
  resent = 0;

  count(status: number): void {
    const key = String(status);
    this.byStatus.set(key, (this.byStatus.get(key) ?? 0) + 1);
  }

  flag(map: Map<string, number>, label: string, status: number | string): void {
    const key = `${label} ${status}`;
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  /** responses that were neither 2xx nor a redirect the flow expects */
  get errors(): number {
    let total = 0;
    for (const [status, n] of this.byStatus) if (Number(status) >= 400) total += n;
    return total;
  }

  get unexpectedTotal(): number {
    return [...this.unexpected.values()].reduce((a, b) => a + b, 0);
  }

  get deliberateTotal(): number {
    return [...this.deliberate.values()].reduce((a, b) => a + b, 0);
  }
}

/**
 * Servers here close a kept-alive connection after 5 s idle (Node's default keepAliveTimeout): one
 * idle this long may be closed just as a request is written to it.
 */
const MAY_BE_CLOSED_AS_IDLE_MS = 4_000;

export class HttpClient {
  readonly agent: Agent;
  readonly origin: URL;
  /** when each kept-alive connection last finished an answer */
  readonly #lastAnswer = new WeakMap<Socket, number>();

  constructor(origin: string, readonly counter: StatusCounter, maxSockets: number, readonly idleCloseAfterMs = MAY_BE_CLOSED_AS_IDLE_MS) {
    this.origin = new URL(origin);
    if (this.origin.hostname !== '127.0.0.1') throw new Error(`the benchmark only talks to 127.0.0.1, not ${this.origin.hostname}`);
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request(url: string, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url, this.origin);
    if (target.host !== this.origin.host) throw new Error(`refusing to leave ${this.origin.host} for ${target.host}`);
    return this.#send(target, init);
  }

  #send(target: URL, init: RequestInit): Promise<Response> {
    return new Promise((resolve, reject) => {
      let answered = false;
      let socket: Socket | undefined;
      const req = httpRequest({
        host: '127.0.0.1',
        port: target.port,
        path: target.pathname + target.search,
        method: init.method ?? 'GET',
        headers: init.body !== undefined ? { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) } : init.headers,
        agent: this.agent,
      }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          if (socket) this.#lastAnswer.set(socket, performance.now());
          this.counter.count(res.statusCode ?? 0);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      });
      req.on('socket', (assigned: Socket) => (socket = assigned));
      req.on('error', (err: NodeJS.ErrnoException) => {
        // The server closes a kept-alive connection after 5 s idle; a request written to it at that
        // moment meets a reset before any answer. Like browsers (and Node's documentation on
        // `reusedSocket`), send it again on a new connection, and count it in the report. A reset
        // on a new connection, on one that was not idle that long (a server process that died), or
        // after an answer began, is the server's failure.
        const idleMs = socket ? performance.now() - (this.#lastAnswer.get(socket) ?? Infinity) : 0;
        if (!answered && req.reusedSocket && err.code === 'ECONNRESET' && idleMs >= this.idleCloseAfterMs) {
          this.counter.resent++;
          resolve(this.#send(target, init));
        } else {
          reject(err);
        }
      });
      if (init.body !== undefined) req.write(init.body);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

interface StoredCookie {
  name: string;
  value: string;
  path: string;
  expires: number;
}

/**
 * Just enough of a cookie jar for one host: name, path and expiry (the flows here need the
 * interaction cookies, scoped to /interaction/:uid and /auth/:uid, to reach only their paths).
 */
export class CookieJar {
  readonly #cookies = new Map<string, StoredCookie>();

  store(setCookie: string[] | undefined, requestPath: string, now = Date.now()): void {
    for (const line of setCookie ?? []) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const cookie: StoredCookie = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), path: defaultPath(requestPath), expires: Infinity };
      let maxAge: number | undefined;
      for (const attribute of attributes) {
        const [rawKey, ...rest] = attribute.split('=');
        const key = rawKey.trim().toLowerCase();
        const value = rest.join('=').trim();
        if (key === 'path' && value.startsWith('/')) cookie.path = value;
        else if (key === 'max-age') maxAge = Number(value);
        else if (key === 'expires') cookie.expires = Date.parse(value);
      }
      if (maxAge !== undefined) cookie.expires = now + maxAge * 1000;
      const key = `${cookie.name}\u0000${cookie.path}`;
      if (!(cookie.expires > now)) this.#cookies.delete(key);
      else this.#cookies.set(key, cookie);
    }
  }

  header(path: string, now = Date.now()): string | undefined {
    const matching = [...this.#cookies.values()]
      .filter((c) => c.expires > now && pathMatches(path, c.path))
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }
}

function defaultPath(requestPath: string): string {
  const slash = requestPath.lastIndexOf('/');
  return slash <= 0 ? '/' : requestPath.slice(0, slash);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

export interface Page extends Response {
  url: string;
  /** set when a redirect left the server (to the relying app's redirect_uri) */
  location?: string;
}

/**
 * One simulated person's browser: a cookie jar over the shared keep-alive client, following
 * redirects on the server and stopping at the first redirect elsewhere. Every status on the way
 * must be in `expect` (default: 2xx and the 302/303 of a redirect), or it is counted as unexpected.
 */
export class BenchBrowser {
  readonly jar = new CookieJar();

  constructor(private readonly http: HttpClient, private readonly userAgent = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36 sesame-bench') {}

  async navigate(label: string, url: string, form?: Record<string, string>): Promise<Page> {
    let method = form ? 'POST' : 'GET';
    let body = form ? new URLSearchParams(form).toString() : undefined;
    let current = new URL(url, this.http.origin);
    for (let hops = 0; hops < 20; hops++) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'text/html' };
      const cookie = this.jar.header(current.pathname);
      if (cookie) headers.cookie = cookie;
      if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      const res = await this.http.request(current.toString(), { method, headers, body });
      this.jar.store(res.headers['set-cookie'], current.pathname);
      const location = res.headers.location;
      if ((res.status === 302 || res.status === 303) && location) {
        const next = new URL(location, current);
        if (next.host !== this.http.origin.host) return { ...res, url: current.toString(), location: next.toString() };
        current = next;
        method = 'GET';
        body = undefined;
        continue;
      }
      if (res.status >= 300) this.http.counter.flag(this.http.counter.unexpected, label, res.status);
      return { ...res, url: current.toString() };
    }
    throw new Error(`${label}: too many redirects`);
  }
}
