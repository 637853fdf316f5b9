import { expect } from 'chai';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/shared/logger.js';
import { Browser, findForm, type Page } from '../support/browser.js';
import { createTestDatabase, DB_KINDS } from '../support/databases.js';
import { discover, registerClient, startAuthorization, type client } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

interface Flow {
  browser: Browser;
  form: Page;
}

/** A browser (a fresh one unless given) at the email form of a new authorization request. */
async function openFormIn(server: TestServer, config: client.Configuration, browser = new Browser(server.issuer)): Promise<Flow> {
  const form = await browser.get((await startAuthorization(config)).url.toString());
  expect(form.body).to.include('name="email"');
  return { browser, form };
}

/** POSTs the email form once, without following the redirect. */
function postEmail({ browser, form }: Flow, email: string, headers: Record<string, string> = {}): Promise<Response> {
  const { action, fields } = findForm(form.body, /\/email$/);
  return browser.send(new URL(action, form.url).toString(), { form: { ...fields, email }, headers });
}

const openForm = (server: TestServer, config: client.Configuration) => openFormIn(server, config);

async function serverWithClient(kind: 'sqlite' | 'postgres', env: Record<string, string>, options = {}) {
  const server = await startTestServer(kind, env, options);
  const config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
  return { server, config };
}

for (const kind of DB_KINDS) {
  describe(`abuse of the login form (${kind})`, function () {
    this.timeout(60_000);

    describe('no account enumeration', () => {
      let server: TestServer;
      let config: client.Configuration;

      before(async () => {
        ({ server, config } = await serverWithClient(kind, { SIGNUP_POLICY: 'invite', RATE_LIMIT_EMAIL_ALL: '1/900' }));
        await server.sesame.accounts.create('known1@example.com');
        await server.sesame.accounts.create('disab1@example.com');
        await server.sesame.db('accounts').where({ email: 'disab1@example.com' }).update({ status: 'disabled' });
      });
      after(() => server?.close());

      /** The POST and the page after it, with what legitimately differs between two requests blanked out. */
      async function answerFor(email: string) {
        const flow = await openForm(server, config);
        const post = await postEmail(flow, email);
        const page = await flow.browser.get(post.headers.get('location')!);
        const uid = new URL(flow.form.url).pathname.split('/')[2];
        const blank = (text: string) => text.replaceAll(uid, 'UID').replaceAll(email, 'EMAIL').replace(/value="[A-Za-z0-9_-]{43}"/g, 'value="CSRF"')
          .replace(/id="match-number">\d+</, 'id="match-number">NN<');
        const headers = (res: { headers: Headers }) => [...res.headers.entries()]
          .filter(([name]) => !['date', 'x-request-id', 'set-cookie'].includes(name))
          .map(([name, value]) => `${name}: ${blank(value)}`);
        const cookieShapes = post.headers.getSetCookie().map((c) => c.replace(/=[^;]*/, '=VALUE').replace(/expires=[^;]*/, 'expires=DATE'));
        return { status: [post.status, page.status], headers: [headers(post), headers(page)], cookies: cookieShapes, body: blank(page.body) };
      }

      it('answers a known, an unknown and a disabled address identically, and mails only the known one', async () => {
        const known = await answerFor('known1@example.com');
        const unknown = await answerFor('unkno1@example.com');
        const disabled = await answerFor('disab1@example.com');
        expect(known.status).to.deep.equal([303, 200]);
        expect(unknown).to.deep.equal(known);
        expect(disabled).to.deep.equal(known);
        await server.smtp.waitFor('known1@example.com');
        // the same work was done for all three (one queued row each); two are never sent
        const statuses = async () => (await server.sesame.db('mail_outbox').select('status').orderBy('id')).map((r) => r.status);
        for (let i = 0; i < 50 && (await statuses()).some((status) => ['pending', 'sending'].includes(status)); i++) await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await statuses()).to.deep.equal(['sent', 'suppressed', 'suppressed']);
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(server.smtp.countTo('unkno1@example.com') + server.smtp.countTo('disab1@example.com')).to.equal(0);
      });

      it('throttles known, unknown and disabled addresses alike', async () => {
        // each address used its one email of the window in the test above
        const throttled = async (email: string) => {
          const res = await postEmail(await openForm(server, config), email);
          const retryAfter = Number(res.headers.get('retry-after'));
          const body = (await res.text()).replaceAll(email, 'EMAIL').replace(/\/interaction\/[\w-]+\//g, '/interaction/UID/').replace(/value="[\w-]{43}"/g, 'value="CSRF"');
          return { status: res.status, retryAfter, body };
        };
        const known = await throttled('known1@example.com');
        const unknown = await throttled('unkno1@example.com');
        const disabled = await throttled('disab1@example.com');
        expect(known.status).to.equal(429);
        for (const other of [unknown, disabled]) {
          expect(other.status).to.equal(429);
          expect(other.body).to.equal(known.body);
          expect(Math.abs(other.retryAfter - known.retryAfter)).to.be.at.most(2);
        }
      });
    });

    describe('rate limits', () => {
      it('allows 3 emails per address per window from one browser, at least the interval apart, counting address variants as one', async () => {
        const { server, config } = await serverWithClient(kind, { RATE_LIMIT_EMAIL: '3/900', RATE_LIMIT_EMAIL_INTERVAL_SECONDS: '60' });
        const pats = new Browser(server.issuer);
        const openForm = (s: TestServer, c: client.Configuration) => openFormIn(s, c, pats);
        try {
          expect((await postEmail(await openForm(server, config), 'pat@example.com')).status).to.equal(303);
          // someone else asking for the address from their own browser does not use up pat's budget
          expect((await postEmail(await openFormIn(server, config), 'pat@example.com')).status).to.equal(303);
          const tooSoon = await postEmail(await openForm(server, config), '  PAT@Example.COM ');
          expect(tooSoon.status).to.equal(429);
          const retryAfter = Number(tooSoon.headers.get('retry-after'));
          expect(retryAfter).to.be.within(55, 60);
          const body = await tooSoon.text();
          expect(body).to.include('Try again in 1 minute').and.include('name="email"');
          // the interval has passed (moved back in the database): two more, then the window is full
          await server.sesame.db('rate_events').update({ at: Date.now() - 61_000 });
          expect((await postEmail(await openForm(server, config), 'pat@example.com')).status).to.equal(303);
          await server.sesame.db('rate_events').update({ at: Date.now() - 61_000 });
          expect((await postEmail(await openForm(server, config), 'pat@example.com')).status).to.equal(303);
          await server.sesame.db('rate_events').update({ at: Date.now() - 61_000 });
          const full = await postEmail(await openForm(server, config), 'pat@example.com');
          expect(full.status).to.equal(429);
          expect(Number(full.headers.get('retry-after'))).to.be.within(800, 840);
          const json = await postEmail(await openForm(server, config), 'pat@example.com', { accept: 'application/json' });
          expect(json.status).to.equal(429);
          expect(await json.json()).to.include({ error: 'rate_limited' });
        } finally {
          await server.close();
        }
      });

      it('of 10 parallel requests for one address from 10 browsers with a limit of 3 for all browsers, exactly 3 get an email', async () => {
        const { server, config } = await serverWithClient(kind, { RATE_LIMIT_EMAIL_ALL: '3/900' });
        try {
          const flows = await Promise.all(Array.from({ length: 10 }, () => openForm(server, config)));
          const statuses = (await Promise.all(flows.map((flow) => postEmail(flow, 'crowd@example.com')))).map((r) => r.status);
          expect(statuses.filter((s) => s === 303)).to.have.length(3);
          expect(statuses.filter((s) => s === 429)).to.have.length(7);
        } finally {
          await server.close();
        }
      });

      it('limits per client IP, and ignores X-Forwarded-For unless the proxy is trusted', async () => {
        const { server, config } = await serverWithClient(kind, { RATE_LIMIT_IP: '2/900' });
        try {
          expect((await postEmail(await openForm(server, config), 'ip1@example.com', { 'x-forwarded-for': '198.51.100.1' })).status).to.equal(303);
          expect((await postEmail(await openForm(server, config), 'ip2@example.com', { 'x-forwarded-for': '198.51.100.2' })).status).to.equal(303);
          const third = await postEmail(await openForm(server, config), 'ip3@example.com', { 'x-forwarded-for': '198.51.100.3', forwarded: 'for=198.51.100.3' });
          expect(third.status).to.equal(429);
        } finally {
          await server.close();
        }
        const trusted = await serverWithClient(kind, { RATE_LIMIT_IP: '2/900', TRUST_PROXY: 'true' });
        try {
          const ask = async (email: string, xff: string) => (await postEmail(await openForm(trusted.server, trusted.config), email, { 'x-forwarded-for': xff })).status;
          expect(await ask('t1@example.com', '198.51.100.1')).to.equal(303);
          expect(await ask('t2@example.com', '198.51.100.1')).to.equal(303);
          expect(await ask('t3@example.com', '198.51.100.2')).to.equal(303);
          // entries left of the proxy's own are the client's word: spoofing them changes nothing
          expect(await ask('t4@example.com', '203.0.113.9, 198.51.100.1')).to.equal(429);
        } finally {
          await trusted.server.close();
        }
      });

      it('caps all outgoing sign-in mail together', async () => {
        const { server, config } = await serverWithClient(kind, { RATE_LIMIT_MAIL: '2/3600' });
        try {
          expect((await postEmail(await openForm(server, config), 'g1@example.com')).status).to.equal(303);
          expect((await postEmail(await openForm(server, config), 'g2@example.com')).status).to.equal(303);
          expect((await postEmail(await openForm(server, config), 'g3@example.com')).status).to.equal(429);
        } finally {
          await server.close();
        }
      });

      it('holds across two instances sharing one database', async () => {
        const database = await createTestDatabase(kind);
        const env = { RATE_LIMIT_EMAIL_ALL: '1/900' };
        const a = await serverWithClient(kind, env, { database });
        const b = await startTestServer(kind, env, { database });
        try {
          expect((await postEmail(await openForm(a.server, a.config), 'shared@example.com')).status).to.equal(303);
          const bConfig = await discover(b.issuer, { clientId: a.config.clientMetadata().client_id });
          expect((await postEmail(await openForm(b, bConfig), 'shared@example.com')).status).to.equal(429);
        } finally {
          await a.server.close();
          await b.close();
          await database.drop();
        }
      });

      it('counts the IPv6 addresses of one /64 as one client', async () => {
        const { server, config } = await serverWithClient(kind, { RATE_LIMIT_IP: '2/900', TRUST_PROXY: 'true' });
        try {
          const ask = async (email: string, ip: string) => (await postEmail(await openForm(server, config), email, { 'x-forwarded-for': ip })).status;
          expect(await ask('v6a@example.com', '2001:db8:7:1::1')).to.equal(303);
          expect(await ask('v6b@example.com', '2001:db8:7:1:aaaa::2')).to.equal(303);
          expect(await ask('v6c@example.com', '2001:db8:7:1:ffff:ffff:ffff:fffe'), 'a third address of the same /64').to.equal(429);
          expect(await ask('v6d@example.com', '2001:db8:7:2::1'), 'another /64').to.equal(303);
        } finally {
          await server.close();
        }
      });

      it('gives each address a budget of codes across its requests, after which only the link works', async () => {
        const { server, config } = await serverWithClient(kind, { RATE_LIMIT_CODE_ATTEMPTS_EMAIL: '10/3600', LOGIN_CODE_MAX_ATTEMPTS: '5' });
        try {
          const browser = new Browser(server.issuer);
          const waitingPage = async () => {
            const page = await browser.submit(await browser.get((await startAuthorization(config)).url.toString()), /\/email$/, { email: 'budget@example.com' });
            return { page, ...loginDetails(await server.smtp.waitFor('budget@example.com')) };
          };
          for (let request = 0; request < 2; request++) {
            const { page, code } = await waitingPage();
            const wrong = code === '000000' ? '000001' : '000000';
            for (let i = 0; i < 5; i++) await browser.submit(page, /\/code$/, { code: wrong });
          }
          // a third email, and now even the right code is refused: 10 tries per address per hour
          const third = await waitingPage();
          const refused = await browser.submit(third.page, /\/code$/, { code: third.code });
          expect(refused.status).to.equal(429);
          expect(refused.body).to.include('Use the link in the email');
          expect(refused.location).to.equal(undefined);
          const done = await browser.submit(await browser.get(third.link), '/login/verify');
          expect(done.location, 'the link still works').to.match(/code=/);
        } finally {
          await server.close();
        }
      });

      it('throttles guessing at the link endpoint per IP', async () => {
        const { server } = await serverWithClient(kind, { RATE_LIMIT_VERIFY_FAILURES_IP: '3/900' });
        try {
          const browser = new Browser(server.issuer);
          for (let i = 0; i < 3; i++) expect((await browser.get(`/login/verify?t=${'x'.repeat(42)}${i}`)).status).to.equal(404);
          const blocked = await browser.get(`/login/verify?t=${'y'.repeat(43)}`);
          expect(blocked.status).to.equal(429);
          expect(blocked.headers.get('retry-after')).to.match(/^\d+$/);
          expect(blocked.body).to.include('Try again in');
        } finally {
          await server.close();
        }
      });
    });

    describe('the link and the code', () => {
      let server: TestServer;
      let config: client.Configuration;
      before(async () => ({ server, config } = await serverWithClient(kind, {})));
      after(() => server?.close());

      it('of 30 parallel submissions of the right code, exactly one signs in', async () => {
        const flow = await openForm(server, config);
        const post = await postEmail(flow, 'codes@example.com');
        const page = await flow.browser.get(post.headers.get('location')!);
        const { code } = loginDetails(await server.smtp.waitFor('codes@example.com'));
        const { action, fields } = findForm(page.body, /\/code$/);
        const responses = await Promise.all(Array.from({ length: 30 }, () => flow.browser.send(new URL(action, page.url).toString(), { form: { ...fields, code } })));
        const toApp = responses.filter((r) => r.headers.get('location')?.includes('/auth/'));
        expect(toApp, 'exactly one goes on to the app').to.have.length(1);
        // the rest are told the request is over (back to the interaction page) or are throttled
        const others = responses.filter((r) => !toApp.includes(r));
        for (const r of others) expect([303, 429], String(r.status)).to.include(r.status);
        expect(others.filter((r) => r.status === 303).every((r) => /\/interaction\/[\w-]+$/.test(r.headers.get('location') ?? ''))).to.equal(true);
      });

      it('refuses a CSRF token from another interaction, even in the same browser', async () => {
        const browser = new Browser(server.issuer);
        const first = await browser.get((await startAuthorization(config)).url.toString());
        const second = await browser.get((await startAuthorization(config)).url.toString());
        const stolen = findForm(first.body, /\/email$/).fields.csrf;
        const { action } = findForm(second.body, /\/email$/);
        const res = await browser.send(new URL(action, second.url).toString(), { form: { csrf: stolen, email: 'csrf@example.com' } });
        expect(res.status).to.equal(403);
      });

      it('refuses the code, consent, cancel and logout forms without their CSRF token', async () => {
        const thirdParty = await discover(server.issuer, await registerClient(server.sesame, { name: 'Other App' }));
        const flow = await openForm(server, thirdParty);
        const post = await postEmail(flow, 'forms@example.com');
        const checkEmail = await flow.browser.get(post.headers.get('location')!);
        const { link } = loginDetails(await server.smtp.waitFor('forms@example.com'));
        for (const action of [/\/code$/, /\/abort$/]) {
          const target = new URL(findForm(checkEmail.body, action).action, checkEmail.url).toString();
          expect((await flow.browser.send(target, { form: { csrf: 'forged', code: '123456' } })).status, String(action)).to.equal(403);
        }
        const consent = await flow.browser.submit(await flow.browser.get(link), '/login/verify');
        expect(consent.body).to.include('Other App wants to use your account');
        const consentAction = new URL(findForm(consent.body, /\/consent$/).action, consent.url).toString();
        expect((await flow.browser.send(consentAction, { form: { csrf: 'forged' } })).status).to.equal(403);
        const done = await flow.browser.submit(consent, /\/consent$/);
        expect(done.location).to.match(/code=/);
        const logout = await flow.browser.get('/session/end');
        const confirm = new URL(findForm(logout.body, /\/session\/end\/confirm$/).action, logout.url).toString();
        const forged = await flow.browser.send(confirm, { form: { xsrf: 'forged', logout: 'yes' } });
        expect(forged.status).to.equal(400);
      });

      it('never writes a link token or code to the logs, even at trace level', async () => {
        const lines: string[] = [];
        const sink = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } });
        const { server: logged, config: loggedConfig } = await serverWithClient(kind, {}, { logger: createLogger('trace', sink) });
        try {
          const flow = await openForm(logged, loggedConfig);
          const post = await postEmail(flow, 'logs@example.com');
          await flow.browser.get(post.headers.get('location')!);
          const { link, code } = loginDetails(await logged.smtp.waitFor('logs@example.com'));
          const done = await flow.browser.submit(await flow.browser.get(link), '/login/verify');
          expect(done.location).to.match(/code=/);
          const log = lines.join('');
          expect(log).to.include('"path":"/login/verify"');
          expect(log).not.to.include(new URL(link).searchParams.get('t')!);
          expect(log).not.to.match(new RegExp(`\\b${code}\\b`));
        } finally {
          await logged.close();
        }
      });
    });
  });
}

describe('an https issuer behind a TLS terminator', () => {
  it('marks every cookie Secure, sends HSTS, and keeps its own origin whatever the forwarded headers say', async () => {
    // the test talks plain http to the server, as a TLS terminator in front of it would
    const server = await startTestServer('sqlite', {}, { scheme: 'https' });
    try {
      const { clientId } = await registerClient(server.sesame, { isPublic: true });
      const origin = server.issuer.replace(/^https:/, 'http:');
      const auth = new URL(`${origin}/auth`);
      auth.search = new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: 'http://127.0.0.1:9/callback', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }).toString();
      const start = await fetch(auth, { redirect: 'manual', headers: { 'x-forwarded-proto': 'http', 'x-forwarded-host': 'evil.example' } });
      expect(start.status).to.equal(303);
      const location = new URL(start.headers.get('location')!, server.issuer);
      expect(location.origin).to.equal(server.issuer);
      const cookies = start.headers.getSetCookie();
      const page = await fetch(`${origin}${location.pathname}`, { headers: { cookie: cookies.map((c) => c.split(';')[0]).join('; ') } });
      expect(page.status).to.equal(200);
      const all = [...cookies, ...page.headers.getSetCookie()];
      expect(all.map((c) => c.split('=')[0])).to.include.members(['_interaction', '_interaction_resume', 'sesame.csrf']);
      for (const cookie of all) expect(cookie, cookie).to.match(/;\s*secure/i).and.match(/;\s*httponly/i).and.match(/;\s*samesite=/i);
      expect(page.headers.get('strict-transport-security')).to.match(/max-age=\d+/);
    } finally {
      await server.close();
    }
  });
});
