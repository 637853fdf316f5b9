import { expect } from 'chai';
import { Browser, findForm, type Page } from '../support/browser.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { client, discover, exchangeCode, REDIRECT_URI, registerClient, startAuthorization } from '../support/relying-party.js';
import { loginDetails, SmtpSink } from '../support/smtp-sink.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

/** the other-device page asks for the number; the same-browser page does not */
const asksForNumber = (page: Page) => page.body.includes('name="number"');
const matchNumberOn = (page: Page) => Number(/id="match-number">(\d+)</.exec(page.body)?.[1]);
/** The form POST of a page, sent once without following the redirect. */
function sendForm(browser: Browser, page: Page, action: string | RegExp, fields: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Response> {
  const form = findForm(page.body, action);
  return browser.send(new URL(form.action, page.url).toString(), { form: { ...form.fields, ...fields }, headers });
}

describe('two instances on one PostgreSQL database', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let sink: SmtpSink;
  let a: TestServer;
  let b: TestServer;
  let configA: client.Configuration;
  let n = 0;

  before(async () => {
    database = await createTestDatabase('postgres', { migrated: true });
    // one SMTP server for both: either instance's worker may send a message queued by the other
    sink = await new SmtpSink().start();
    a = await startTestServer('postgres', { SMTP_URL: sink.url }, { database });
    b = await startTestServer('postgres', { SMTP_URL: sink.url }, { database });
    configA = await discover(a.issuer, await registerClient(a.sesame, { isPublic: true, firstParty: true }));
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await sink?.close();
    await database?.drop();
  });

  /** The browser asks for the email through A; the link (A's issuer) is rewritten to B's origin, as a load balancer would route it. */
  async function askThroughA() {
    const email = `twin${++n}@example.com`;
    const browser = new Browser(a.issuer);
    const start = await startAuthorization(configA);
    const checkEmail = await browser.submit(await browser.get(start.url.toString()), /\/email$/, { email });
    expect(checkEmail.url.startsWith(`${a.issuer}/interaction/`)).to.equal(true);
    expect(checkEmail.body).to.include('Check your email');
    const { link } = loginDetails(await sink.waitFor(email));
    const onB = `${b.issuer}${new URL(link).pathname}${new URL(link).search}`;
    return { email, browser, start, checkEmail, link, onB };
  }

  async function finishOnA(asked: Awaited<ReturnType<typeof askThroughA>>) {
    // what the waiting tab on A does next (it polls, then reloads)
    const status = await asked.browser.get(`${asked.checkEmail.url}/status`, { accept: 'application/json' });
    expect(JSON.parse(status.body)).to.deep.equal({ status: 'approved' });
    const done = await asked.browser.get(asked.checkEmail.url);
    expect(done.location, done.body).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
    expect(new URL(done.location!).searchParams.get('iss')).to.equal(a.issuer);
    const tokens = await exchangeCode(configA, asked.start, done.location!);
    const claims = tokens.claims()!;
    expect(claims.iss).to.equal(a.issuer);
    expect(claims.amr).to.deep.equal(['email']);
    return tokens;
  }

  // Variant 1: the same browser. Tests give each instance its own issuer (port), so the link's path
  // and query are opened on B's origin with the browser's cookies (the binding cookie
  // `sesame.device` and its `.sig`). They verify on B because both instances share COOKIE_KEYS,
  // which is what running instances behind one load balancer requires.
  it('the link opened in the same browser through B is recognised there; the original tab on A finishes and the code is exchanged on A', async () => {
    const asked = await askThroughA();
    const atB = new Browser(b.issuer);
    const cookies = await asked.browser.jar.getCookies(a.issuer, { allPaths: true });
    expect(cookies.map((c) => c.key)).to.include.members(['sesame.device', 'sesame.device.sig']);
    for (const cookie of cookies) await atB.jar.setCookie(cookie.toString(), `${b.issuer}/`);

    const page = await atB.get(asked.onB);
    expect(page.status).to.equal(200);
    expect(asksForNumber(page), 'the same-browser page, not the other-device one').to.equal(false);
    const approve = await sendForm(atB, page, '/login/verify');
    expect(approve.status).to.equal(303);
    expect(approve.headers.get('location')).to.equal(new URL(asked.checkEmail.url).pathname);
    const row = await a.sesame.db('login_requests').where({ email: asked.email }).first();
    expect(row.status).to.equal('approved');

    await finishOnA(asked);
  });

  // Variant 2: another device approves through B with the number the tab on A shows. Needs no
  // cookie copying at all: only the shared database links the two instances.
  it('another device approves through B with the number shown on A; the tab on A finishes and the code is exchanged on A', async () => {
    const asked = await askThroughA();
    const phone = new Browser(b.issuer, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1');
    const page = await phone.get(asked.onB);
    const number = matchNumberOn(asked.checkEmail);
    expect(asksForNumber(page)).to.equal(true);
    const approved = await phone.request('/login/verify', { form: { ...findForm(page.body, '/login/verify').fields, number: String(number) } });
    expect(approved.status).to.equal(200);
    expect(approved.body).to.include('Sign-in approved');
    const tokens = await finishOnA(asked);
    expect((await client.fetchUserInfo(configA, tokens.access_token, tokens.claims()!.sub)).email).to.equal(asked.email);
  });
});
