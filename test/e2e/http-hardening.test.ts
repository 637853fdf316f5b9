import { expect } from 'chai';
import { Browser, findForm, type Page } from '../support/browser.js';
import { DB_KINDS } from '../support/databases.js';
import { client, discover, exchangeCode, POST_LOGOUT_URI, REDIRECT_URI, registerClient, signInWithLink, startAuthorization, type RegisteredClient } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

let emailCounter = 0;
const nextEmail = (label: string) => `${label}-${++emailCounter}@example.com`;

/** A stack frame (`at fn (/path/file.js:1:2)`, `at file:///…`, `at C:\…`) or a dependency path. */
const STACK_TRACE = /\bat\s+(?:[^\s()]+\s+\()?(?:file:\/\/|\/|[A-Za-z]:\\)[^\s)]*|node_modules/;

function expectNoStackTrace(body: string, label: string): void {
  expect(STACK_TRACE.exec(body)?.[0], `${label}: ${body.slice(0, 500)}`).to.equal(undefined);
}

/** The CSP as directive → values, names lower-cased. */
function parseCsp(header: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const part of header.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) directives.set(name.toLowerCase(), values);
  }
  return directives;
}

/** What every HTML page Sesame (or oidc-provider inside it) renders must carry. */
function expectHardenedHtml(page: { status: number; headers: Headers; body: string }, label: string): void {
  expect(page.headers.get('content-type'), label).to.include('text/html');

  const header = page.headers.get('content-security-policy');
  expect(header, `${label}: Content-Security-Policy`).to.be.a('string');
  const csp = parseCsp(header!);
  expect(csp.get('default-src'), `${label}: ${header}`).to.deep.equal(["'none'"]);
  expect(csp.get('frame-ancestors'), `${label}: ${header}`).to.deep.equal(["'none'"]);
  for (const directive of ['script-src', 'script-src-elem', 'script-src-attr']) {
    expect(csp.get(directive) ?? [], `${label}: ${directive} in ${header}`).not.to.include("'unsafe-inline'");
  }

  expect(page.headers.get('x-content-type-options'), label).to.equal('nosniff');
  expect(page.headers.has('x-powered-by'), `${label}: X-Powered-By`).to.equal(false);
  // plain-http issuer: an HSTS header here would be meaningless at best
  expect(page.headers.has('strict-transport-security'), `${label}: HSTS`).to.equal(false);

  const openings = page.body.match(/<script\b/gi) ?? [];
  const scripts = [...page.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)];
  expect(scripts, `${label}: unclosed <script>`).to.have.length(openings.length);
  for (const [tag, attributes, content] of scripts) {
    expect(attributes, `${label}: ${tag}`).to.match(/\ssrc\s*=/i);
    expect(content.trim(), `${label}: inline script ${tag}`).to.equal('');
  }
  const handler = /<[a-z][^>]*?\son[a-z]+\s*=/i.exec(page.body);
  expect(handler?.[0], `${label}: event-handler attribute`).to.equal(undefined);
  expect(page.body, `${label}: javascript: URL`).not.to.match(/(?:href|src|action)\s*=\s*["']?\s*javascript:/i);
}

interface RecordedResponse {
  url: string;
  status: number;
  setCookies: string[];
}

/** Runs `fn` with the global fetch (used by Browser and openid-client) recording every response's Set-Cookie. */
async function recordingResponses<T>(fn: () => Promise<T>): Promise<{ result: T; responses: RecordedResponse[] }> {
  const original = globalThis.fetch;
  const responses: RecordedResponse[] = [];
  globalThis.fetch = async (input, init) => {
    const res = await original(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    responses.push({ url, status: res.status, setCookies: res.headers.getSetCookie() });
    return res;
  };
  try {
    return { result: await fn(), responses };
  } finally {
    globalThis.fetch = original;
  }
}

function cookieName(setCookie: string): string {
  return setCookie.slice(0, setCookie.indexOf('=')).trim();
}

function cookieAttributes(setCookie: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const part of setCookie.split(';').slice(1)) {
    const [name, ...value] = part.split('=');
    attributes.set(name.trim().toLowerCase(), value.join('=').trim());
  }
  return attributes;
}

// Headers, cookies and error rendering do not depend on the database.
describe('HTTP hardening of every page (sqlite)', function () {
  let server: TestServer;
  let thirdParty: RegisteredClient;
  let thirdPartyConfig: client.Configuration;

  before(async () => {
    server = await startTestServer('sqlite');
    thirdParty = await registerClient(server.sesame, { name: 'Third Party App' });
    thirdPartyConfig = await discover(server.issuer, thirdParty);
  });
  after(() => server?.close());

  it('sends CSP, nosniff, no X-Powered-By and no inline script on every HTML page', async () => {
    const pages: [string, Page][] = [];
    const email = nextEmail('headers');
    const browser = new Browser(server.issuer);
    const start = await startAuthorization(thirdPartyConfig, { scope: 'openid email', prompt: '' });

    const form = await browser.get(start.url.toString());
    expect(form.body).to.include('name="email"');
    pages.push(['email form', form]);

    const checkEmail = await browser.submit(form, /\/email$/, { email });
    expect(checkEmail.body).to.include('Check your email');
    pages.push(['check your email', checkEmail]);

    const { link } = loginDetails(await server.smtp.waitFor(email));
    const otherDevice = await new Browser(server.issuer).get(link);
    expect(otherDevice.body).to.include('Is this you signing in?');
    pages.push(['link page, other device', otherDevice]);

    const sameBrowser = await browser.get(link);
    expect(sameBrowser.body).to.include('data-autosubmit');
    pages.push(['link page, same browser', sameBrowser]);

    const unknownLink = await browser.get(`/login/verify?t=${'A'.repeat(43)}`);
    expect(unknownLink.status).to.equal(404);
    pages.push(['error page (unknown link)', unknownLink]);

    const consent = await browser.submit(sameBrowser, '/login/verify');
    expect(consent.body).to.include('Third Party App wants to use your account');
    pages.push(['consent page', consent]);

    const callback = await browser.submit(consent, /\/consent$/);
    expect(callback.location).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
    const tokens = await exchangeCode(thirdPartyConfig, start, callback.location!);
    const logoutUrl = client.buildEndSessionUrl(thirdPartyConfig, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI });
    const logout = await browser.get(logoutUrl.toString());
    expect(logout.body).to.include('Sign out');
    pages.push(['logout confirmation', logout]);

    const unknownClient = new URL(`${server.issuer}/auth`);
    unknownClient.search = new URLSearchParams({ client_id: 'no-such-client', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }).toString();
    const providerError = await new Browser(server.issuer).get(unknownClient.toString());
    expect(providerError.status).to.equal(400);
    expect(providerError.body).to.include('invalid_client');
    pages.push(['oidc-provider error page', providerError]);

    for (const [label, page] of pages) expectHardenedHtml(page, label);

    // forms may go to this origin and, where the flow returns to the app, to the app's origin only
    const formAction = (page: Page) => /form-action ([^;]*)/.exec(page.headers.get('content-security-policy') ?? '')?.[1];
    const app = new URL(REDIRECT_URI).origin;
    for (const [label, page] of pages) {
      const leadsToApp = ['email form', 'check your email', 'link page, same browser', 'consent page', 'logout confirmation'].includes(label);
      expect(formAction(page), label).to.equal(leadsToApp ? `'self' ${app}` : "'self'");
    }
    expect(new URL(POST_LOGOUT_URI).origin, 'the logout page leads to the app too').to.equal(app);
  });

  it('sets every cookie HttpOnly with SameSite, and signs each of its own and oidc-provider\'s cookies', async () => {
    const email = nextEmail('cookies');
    const { responses } = await recordingResponses(async () => {
      const browser = new Browser(server.issuer);
      const start = await startAuthorization(thirdPartyConfig, { scope: 'openid email', prompt: '' });
      const callback = await signInWithLink(browser, server.smtp, start, email, { consent: true });
      const tokens = await exchangeCode(thirdPartyConfig, start, callback);
      const logoutUrl = client.buildEndSessionUrl(thirdPartyConfig, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI });
      const done = await browser.submit(await browser.get(logoutUrl.toString()), /\/session\/end\/confirm$/, { logout: 'yes' });
      expect(done.location).to.equal(POST_LOGOUT_URI);
    });

    const all = responses.flatMap((response) => response.setCookies.map((setCookie) => ({ response, setCookie })));
    expect(all.length).to.be.greaterThan(0);
    for (const { response, setCookie } of all) {
      const attributes = cookieAttributes(setCookie);
      const label = `${response.status} ${new URL(response.url).pathname}: ${setCookie}`;
      expect(attributes.has('httponly'), label).to.equal(true);
      expect(attributes.get('samesite') ?? '', label).to.match(/^(lax|strict)$/i);
    }

    const names = new Set(all.map(({ setCookie }) => cookieName(setCookie)));
    const signed = ['sesame.csrf', 'sesame.device', '_interaction', '_interaction_resume', '_session'];
    expect([...names]).to.include.members(signed);
    for (const response of responses) {
      const inResponse = new Set(response.setCookies.map(cookieName));
      for (const name of inResponse) {
        if (name.endsWith('.sig')) continue;
        expect(inResponse.has(`${name}.sig`), `${name} without ${name}.sig from ${response.status} ${new URL(response.url).pathname}`).to.equal(true);
      }
    }
  });

  it('answers malformed paths, unknown interactions and unsupported methods with a 4xx and no stack trace', async () => {
    const cases: [string, string, Record<string, string>][] = [
      ['GET', '/interaction/%E0%A4%A', { accept: 'text/html' }],
      ['GET', '/interaction/%E0%A4%A/status', { accept: 'application/json' }],
      ['POST', '/interaction/%E0%A4%A/email', { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' }],
      ['GET', '/login/verify/%E0%A4%A', { accept: 'text/html' }],
      ['GET', '/%E0%A4%A', { accept: 'text/html' }],
      ['GET', '/interaction/no-such-interaction', { accept: 'text/html' }],
      ['GET', '/interaction/no-such-interaction/status', { accept: 'application/json' }],
      ['POST', '/interaction/no-such-interaction/code', { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' }],
      ['PUT', '/login/verify', { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' }],
      ['PUT', '/login/verify', { accept: 'application/json', 'content-type': 'application/json' }],
    ];
    for (const [method, path, headers] of cases) {
      const label = `${method} ${path} (${headers.accept})`;
      const body = method === 'GET' ? undefined : headers['content-type'] === 'application/json' ? '{"t":' : 'code=123456';
      const res = await fetch(`${server.issuer}${path}`, { method, headers, body, redirect: 'manual' });
      const text = await res.text();
      expect(res.status, `${label}: ${text.slice(0, 300)}`).to.be.within(400, 499);
      expectNoStackTrace(text, label);
    }
  });
});

// Request bodies create (or must not create) login requests and mail: that is state in the database.
for (const kind of DB_KINDS) {
  describe(`HTTP hardening of request bodies and the link (${kind})`, function () {
    let server: TestServer;
    let registered: RegisteredClient;
    let config: client.Configuration;

    before(async () => {
      server = await startTestServer(kind);
      registered = await registerClient(server.sesame, { isPublic: true, firstParty: true });
      config = await discover(server.issuer, registered);
    });
    after(() => server?.close());

    /** A fresh browser on the email form: where to post, its CSRF token and the browser's cookies. */
    async function openEmailForm() {
      const browser = new Browser(server.issuer);
      const page = await browser.get((await startAuthorization(config)).url.toString());
      expect(page.body).to.include('name="email"');
      const form = findForm(page.body, /\/email$/);
      const action = new URL(form.action, page.url).toString();
      const cookie = await browser.jar.getCookieString(action);
      const post = async (body: string, contentType = 'application/x-www-form-urlencoded', accept = 'text/html') => {
        const res = await fetch(action, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': contentType, accept }, body });
        return { status: res.status, headers: res.headers, body: await res.text() };
      };
      return { browser, page, action, csrf: form.fields.csrf, post };
    }

    async function expectNothingSentTo(...addresses: string[]): Promise<void> {
      // the outbox polls every 200 ms: give a wrongly queued mail the time to arrive
      await new Promise((resolve) => setTimeout(resolve, 1000));
      for (const address of addresses) {
        expect(await server.sesame.db('login_requests').where({ email: address }).first(), address).to.equal(undefined);
        expect(server.smtp.countTo(address), address).to.equal(0);
      }
    }

    it('refuses a 100 kB form with a 413 page without a stack trace', async () => {
      const { post, csrf } = await openEmailForm();
      const email = nextEmail(`large-${kind}`);
      const res = await post(new URLSearchParams({ csrf, email, padding: 'a'.repeat(100_000) }).toString());
      expect(res.status).to.equal(413);
      expect(res.headers.get('content-type')).to.include('text/html');
      expectNoStackTrace(res.body, '413');
      await expectNothingSentTo(email);
    });

    it('answers JSON and unknown content types with a 4xx, not a 500', async () => {
      const { post, csrf } = await openEmailForm();
      const email = nextEmail(`types-${kind}`);
      const cases: [string, string][] = [
        ['application/json', JSON.stringify({ csrf, email })],
        ['application/json', '{"csrf":'],
        ['application/x-garbage', `csrf=${csrf}&email=${email}`],
        ['text/plain', `csrf=${csrf}&email=${email}`],
        ['multipart/form-data; boundary=xyz', `--xyz\r\nContent-Disposition: form-data; name="email"\r\n\r\n${email}\r\n--xyz--\r\n`],
        [';;;=', `csrf=${csrf}&email=${email}`],
      ];
      for (const [type, body] of cases) {
        const res = await post(body, type);
        expect(res.status, `${type}: ${res.body.slice(0, 300)}`).to.be.within(400, 499);
        expectNoStackTrace(res.body, type);
      }
      await expectNothingSentTo(email);
    });

    it('answers a body that claims an encoding it does not have with 400, on every form route and oidc-provider\'s endpoints', async () => {
      const { page, csrf } = await openEmailForm();
      const uid = new URL(page.url).pathname.split('/')[2];
      const garbage = Buffer.from('this is not gzip at all, just bytes \u0000\u0001');
      const routes = [`/interaction/${uid}/email`, `/interaction/${uid}/code`, `/interaction/${uid}/resend`, `/interaction/${uid}/consent`, `/interaction/${uid}/abort`,
        '/login/verify', '/login/verify/deny', '/account/email/confirm', '/token', '/token/introspection', '/token/revocation', '/request', '/session/end/confirm'];
      for (const route of routes) {
        for (const encoding of ['gzip', 'deflate', 'br']) {
          const res = await fetch(`${server.issuer}${route}`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': encoding, accept: 'text/html' },
            body: garbage,
          });
          const body = await res.text();
          expect(res.status, `${route} ${encoding}: ${body.slice(0, 200)}`).to.be.within(400, 499);
          expectNoStackTrace(body, route);
        }
      }
      expect(csrf).to.be.a('string');
    });

    it('refuses a repeated email field with 400 and sends nothing', async () => {
      const first = nextEmail(`a-${kind}`);
      const second = nextEmail(`b-${kind}`);
      for (const fields of [`email[]=${first}&email[]=${second}`, `email=${first}&email=${second}`, `email[0]=${first}&email[1]=${second}`, `email[x]=${first}`]) {
        const { post, csrf } = await openEmailForm();
        const res = await post(`csrf=${encodeURIComponent(csrf)}&${fields}`);
        expect(res.status, `${fields}: ${res.body.slice(0, 300)}`).to.equal(400);
        expect(res.body).to.include('role="alert"');
      }
      await expectNothingSentTo(first, second);
    });

    it('is unharmed by prototype-pollution payloads', async () => {
      const { post, csrf } = await openEmailForm();
      const email = nextEmail(`proto-${kind}`);
      const payload = `__proto__[polluted]=1&constructor[prototype][polluted]=1&__proto__.polluted=1&csrf=${encodeURIComponent(csrf)}&email=${encodeURIComponent(email)}`;
      const res = await post(payload);
      expect(res.status, res.body.slice(0, 300)).to.be.below(500);
      expectNoStackTrace(res.body, 'prototype pollution');
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      expect(Object.prototype).not.to.have.own.property('polluted');

      // the same on the link and the code routes
      const verify = await fetch(`${server.issuer}/login/verify`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        body: '__proto__[polluted]=1&constructor[prototype][polluted]=1&token=x&csrf=x',
      });
      expect(verify.status).to.be.within(400, 499);
      expectNoStackTrace(await verify.text(), 'verify');
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    });

    it('sets no session cookie and changes nothing on GET or HEAD of the link, from either browser', async () => {
      const browser = new Browser(server.issuer);
      const page = await browser.get((await startAuthorization(config)).url.toString());
      const email = nextEmail(`head-${kind}`);
      const checkEmail = await browser.submit(page, /\/email$/, { email });
      expect(checkEmail.body).to.include('Check your email');
      const { link } = loginDetails(await server.smtp.waitFor(email));
      const before = await server.sesame.db('login_requests').where({ email }).first();
      expect(before.status).to.equal('pending');

      const ownCookies = await browser.jar.getCookieString(link);
      expect(ownCookies).to.include('sesame.device');
      for (const method of ['HEAD', 'GET']) {
        for (const [who, cookie] of [['same browser', ownCookies], ['stranger', '']]) {
          const res = await fetch(link, { method, redirect: 'manual', headers: { accept: 'text/html', ...(cookie ? { cookie } : {}) } });
          await res.arrayBuffer();
          expect(res.status, `${method} ${who}`).to.equal(200);
          expect(res.headers.getSetCookie().filter((c) => /^_session/.test(c)), `${method} ${who}`).to.have.length(0);
        }
      }

      const after = await server.sesame.db('login_requests').where({ email }).first();
      expect(after).to.deep.equal(before);
      const status = await browser.get(`${checkEmail.url}/status`, { accept: 'application/json' });
      expect((JSON.parse(status.body) as { status: string }).status).to.equal('pending');
    });
  });
}
