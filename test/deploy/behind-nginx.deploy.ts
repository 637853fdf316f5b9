import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as client from 'openid-client';
import { Browser, findForm } from '../support/browser.js';
import { freePort, runCli, ServerProcess } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { eventually } from '../support/eventually.js';
import { loginDetails, SmtpSink } from '../support/smtp-sink.js';
import { findNginx, Nginx, selfSignedCertificate, type Certificate } from './nginx.js';
import { CLIENT_ADDRESS, tlsFetch, type Route } from './tls-client.js';

const REDIRECT_URI = 'https://app.example/callback';

/**
 * Sesame as the operator's guide deploys it (docs/deploy/README.md): `sesame serve` (production,
 * https issuer) twice, on one PostgreSQL database, behind nginx running the shipped
 * docs/deploy/nginx.conf as TLS terminator with a self-signed certificate. The browser and the
 * relying app (openid-client) talk only to nginx, over TLS, trusting that certificate.
 *
 * To choose which instance serves a request, the test runs three nginx processes, each with the
 * shipped file: one in front of both instances (the issuer's port, as in production) and one in
 * front of each instance alone (its upstream lists only that instance). The clients' fetch sends a
 * request for the issuer to one of them (tls-client.ts); the URL, and so the cookies, stay the
 * issuer's. Each response's X-Request-Id (nginx's $request_id, which the config passes on) is found
 * in the log of the instance that served it, which shows where a request went.
 */
describe('deployment: two Sesame instances behind nginx (docs/deploy/nginx.conf), TLS, one PostgreSQL', function () {
  this.timeout(60_000);
  let dir: string;
  let database: TestDatabase | undefined;
  let smtp: SmtpSink | undefined;
  let certificate: Certificate;
  const nginxes: Nginx[] = [];
  const instances = {} as Record<'a' | 'b', ServerProcess>;
  let env: Record<string, string>;
  let issuer: string;
  let ports: Record<Route, number>;
  let httpPort: number;
  let registered: { clientId: string; clientSecret: string };
  let n = 0;

  before(async function () {
    const binary = findNginx();
    dir = mkdtempSync(join(tmpdir(), 'sesame-deploy-'));
    certificate = selfSignedCertificate(dir);
    database = await createTestDatabase('postgres');
    smtp = await new SmtpSink().start();
    ports = { all: await freePort(), a: await freePort(), b: await freePort() };
    issuer = `https://localhost:${ports.all}`;
    const instancePorts = { a: await freePort(), b: await freePort() };
    env = {
      ISSUER: issuer,
      HOST: '127.0.0.1',
      TRUST_PROXY: 'true',
      DATABASE_URL: database.url,
      DATA_DIR: database.dataDir,
      SMTP_URL: smtp.url,
      MAIL_FROM: 'Sesame Deploy Test <no-reply@sesame.test>',
      COOKIE_KEYS: randomBytes(32).toString('base64url'),
      HMAC_SECRETS: randomBytes(32).toString('base64url'),
      LOG_LEVEL: 'info',
    };
    // both at once on a fresh database, as an orchestrator may start them (migrations take a lock)
    for (const name of ['a', 'b'] as const) instances[name] = new ServerProcess({ ...env, PORT: String(instancePorts[name]) }, { command: 'serve' });
    await Promise.all(Object.values(instances).map((instance) => instance.waitFor(/Sesame listening/, 30_000)));

    const place = async (name: Route, upstream: string[]) => {
      const http = await freePort();
      if (name === 'all') httpPort = http;
      const nginxDir = join(dir, `nginx-${name}`);
      nginxes.push(await Nginx.start(binary, nginxDir, { httpPort: http, httpsPort: ports[name], serverName: 'localhost', certificate, instances: upstream }));
    };
    const address = (name: 'a' | 'b') => `127.0.0.1:${instancePorts[name]}`;
    await place('all', [address('a'), address('b')]);
    await place('a', [address('a')]);
    await place('b', [address('b')]);

    const added = await runCli(['clients', 'add', '--name', 'Deployed App', '--redirect-uri', REDIRECT_URI, '--first-party', '--json'], env);
    expect(added.code, added.stderr).to.equal(0);
    const json = JSON.parse(added.stdout) as { client_id: string; client_secret: string };
    registered = { clientId: json.client_id, clientSecret: json.client_secret };
  });

  after(async () => {
    for (const nginx of nginxes) await nginx.stop();
    for (const instance of Object.values(instances)) await instance.stop();
    await smtp?.close();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const fetchVia = (route: Route | ((url: URL) => Route)) =>
    tlsFetch({ issuer, ca: certificate.cert, ports, route: typeof route === 'function' ? route : () => route });

  /** The relying app: openid-client, its requests through nginx (`route`), trusting only the test's certificate. */
  async function relyingApp(route: Route = 'all'): Promise<client.Configuration> {
    const config = await client.discovery(new URL(issuer), registered.clientId, undefined, client.ClientSecretBasic(registered.clientSecret), {
      [client.customFetch]: appFetch(route),
    });
    return config;
  }

  // the same fetch: openid-client's type for it names the bodies it sends
  const appFetch = (route: Route) => fetchVia(route) as unknown as client.CustomFetch;

  const viaApp = (config: client.Configuration, route: Route) => {
    config[client.customFetch] = appFetch(route);
    return config;
  };

  interface Started { browser: Browser; email: string; verifier: string; state: string; nonce: string; checkEmailUrl: string; requestIds: string[] }

  /** The app sends the browser to Sesame; the person asks for a link. */
  async function askForLink(config: client.Configuration, browser: Browser): Promise<Started> {
    const email = `deployed${++n}@example.com`;
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI, scope: 'openid email offline_access', prompt: 'consent', state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const form = await browser.get(url.toString());
    expect(form.status, form.body).to.equal(200);
    const checkEmail = await browser.submit(form, /\/email$/, { email });
    expect(checkEmail.body, checkEmail.body).to.include('Check your email');
    return { browser, email, verifier, state, nonce, checkEmailUrl: checkEmail.url, requestIds: [form.headers.get('x-request-id')!, checkEmail.headers.get('x-request-id')!] };
  }

  const exchange = (config: client.Configuration, started: Started, callback: string) =>
    client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: started.verifier, expectedState: started.state, expectedNonce: started.nonce });

  /**
   * Which instance served the request with this id (nginx's $request_id, which Sesame logs as
   * requestId): waits for the line, since a child's log reaches the test a little after its answer.
   */
  async function servedBy(requestId: string | null): Promise<'a' | 'b'> {
    // nginx's $request_id (32 hex digits), which the config passes on; Sesame's own would be a UUID
    expect(requestId, 'every response carries nginx\'s X-Request-Id').to.match(/^[0-9a-f]{32}$/);
    const logged = (name: 'a' | 'b') => instances[name].output.includes(`"requestId":"${requestId}"`);
    await eventually(async () => expect(logged('a') || logged('b'), `request ${requestId} in an instance's log`).to.equal(true));
    expect(logged('a') && logged('b'), 'one request, one instance').to.equal(false);
    return logged('a') ? 'a' : 'b';
  }

  /** openid-client's error, with the status of the response it did not expect */
  const failure = (error: unknown) => {
    const { message, cause } = error as Error & { cause?: { status?: unknown } };
    return typeof cause?.status === 'number' ? `${message} (${cause.status})` : message;
  };

  it('answers over TLS with the https issuer, whatever Host the request had; plain http only redirects; Sesame sends HSTS once; large bodies stop at nginx', async () => {
    const res = await fetchVia('all')(`${issuer}/.well-known/openid-configuration`);
    expect(res.status).to.equal(200);
    const metadata = await res.json() as { issuer: string; token_endpoint: string };
    expect(metadata.issuer).to.equal(issuer);
    expect(metadata.token_endpoint).to.equal(`${issuer}/token`);
    expect(res.headers.get('strict-transport-security')).to.equal('max-age=31536000; includeSubDomains');
    expect(res.headers.get('server')).to.equal('nginx');

    // the pinned nginxes are reached as localhost:<their port>: Sesame still names only the issuer
    const pinned = await fetchVia('b')(`${issuer}/.well-known/openid-configuration`);
    expect((await pinned.json() as { issuer: string }).issuer).to.equal(issuer);

    // more than any endpoint of Sesame reads: refused by nginx, before an instance sees it
    const large = await fetchVia('all')(`${issuer}/token`, { method: 'POST', body: 'x'.repeat(128 * 1024), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(large.status).to.equal(413);
    expect(large.headers.get('x-request-id'), 'answered by nginx, not by an instance').to.equal(null);

    const plain = await fetch(`http://127.0.0.1:${httpPort}/.well-known/openid-configuration?x=1`, { redirect: 'manual' });
    expect(plain.status).to.equal(301);
    expect(plain.headers.get('location')).to.equal('https://127.0.0.1/.well-known/openid-configuration?x=1');
  });

  it('signs in end to end: the link is opened through one instance, the sign-in finishes on the other', async () => {
    const config = await relyingApp('all');
    // the browser: everything through instance A, except the link, which is opened through B
    const browser = new Browser(issuer, undefined, fetchVia((url) => (url.pathname.startsWith('/login/verify') ? 'b' : 'a')));
    // a client may send X-Forwarded-For; only the address nginx saw counts
    browser.headers['x-forwarded-for'] = '198.51.100.7';
    const started = await askForLink(config, browser);
    for (const id of started.requestIds) expect(await servedBy(id), 'asked through A').to.equal('a');

    const mail = await smtp!.waitFor(started.email);
    const { link } = loginDetails(mail);
    expect(link.startsWith(`${issuer}/login/verify?t=`), link).to.equal(true);
    // TRUST_PROXY and X-Forwarded-For: the email names the browser's own address, not nginx's nor the forged one
    expect(mail.parsed.text).to.include(CLIENT_ADDRESS).and.not.include('198.51.100.7');

    const verify = await browser.get(link);
    expect(verify.status, verify.body).to.equal(200);
    expect(await servedBy(verify.headers.get('x-request-id')), 'link shown by B').to.equal('b');
    // the same browser: one click (the page's script submits this form)
    const form = findForm(verify.body, '/login/verify');
    const consumed = await browser.send('/login/verify', { form: form.fields });
    expect(consumed.status).to.be.within(300, 399);
    expect(await servedBy(consumed.headers.get('x-request-id')), 'link consumed by B').to.equal('b');

    // the rest of the flow (resuming the authorization request) is A's
    const finished = await browser.get(new URL(consumed.headers.get('location')!, issuer).toString());
    expect(finished.location, finished.body).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
    expect(await servedBy(finished.headers.get('x-request-id')), 'finished through A').to.equal('a');

    const tokens = await exchange(viaApp(config, 'b'), started, finished.location!);
    const claims = tokens.claims()!;
    expect(claims.email).to.equal(started.email);
    expect(claims.iss).to.equal(issuer);
    expect(claims.amr).to.deep.equal(['email']);
    expect(tokens.refresh_token).to.be.a('string');
  });

  interface SignedIn { config: client.Configuration; tokens: { access: string; refresh: string }; sub: string }

  /** A sign-in through the balanced nginx (same browser, one click): an app holding tokens. */
  async function signedInApp(): Promise<SignedIn> {
    const config = await relyingApp('all');
    const browser = new Browser(issuer, undefined, fetchVia('all'));
    const started = await askForLink(config, browser);
    const done = await browser.submit(await browser.get(loginDetails(await smtp!.waitFor(started.email)).link), '/login/verify');
    expect(done.location, done.body).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
    const tokens = await exchange(config, started, done.location!);
    return { config, tokens: { access: tokens.access_token, refresh: tokens.refresh_token! }, sub: tokens.claims()!.sub };
  }

  it('a refresh works through either instance', async () => {
    const signedIn = await signedInApp();
    let { tokens } = signedIn;
    for (const route of ['a', 'b', 'a', 'b'] as const) {
      const config = viaApp(signedIn.config, route);
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh);
      expect(refreshed.access_token, route).to.be.a('string').and.not.equal(tokens.access);
      const userinfo = await client.fetchUserInfo(config, refreshed.access_token, signedIn.sub);
      expect(userinfo.sub).to.equal(signedIn.sub);
      tokens = { access: refreshed.access_token, refresh: refreshed.refresh_token ?? tokens.refresh };
    }
  });

  it('approved on another device through one instance, finished by the waiting tab through the other', async () => {
    const config = await relyingApp('all');
    const laptop = new Browser(issuer, undefined, fetchVia('a'));
    const started = await askForLink(config, laptop);
    const waiting = await laptop.get(started.checkEmailUrl);
    const number = /id="match-number">(\d+)</.exec(waiting.body)?.[1];
    expect(number, 'the number shown on the waiting tab').to.match(/^\d{2}$/);

    const phone = new Browser(issuer, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1', fetchVia('b'));
    const page = await phone.get(loginDetails(await smtp!.waitFor(started.email)).link);
    const approved = await phone.request('/login/verify', { form: { ...findForm(page.body, '/login/verify').fields, number: number! } });
    expect(approved.body).to.include('Sign-in approved');
    expect(await servedBy(approved.headers.get('x-request-id')), 'approved through B').to.equal('b');

    const status = await laptop.get(`${started.checkEmailUrl}/status`, { accept: 'application/json' });
    expect(await servedBy(status.headers.get('x-request-id')), 'polled through A').to.equal('a');
    expect(JSON.parse(status.body).status).to.equal('approved');
    const done = await laptop.get(started.checkEmailUrl);
    expect(done.location).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
    expect((await exchange(config, started, done.location!)).claims()!.email).to.equal(started.email);
  });

  it('stopping one instance mid-run (SIGTERM) loses no sign-in and fails no request', async () => {
    const signedIn = await signedInApp();
    const config = await relyingApp('all');
    // sign-ins under way on B: the link asked for (its mail in the outbox), not yet opened; once B
    // is gone, the same browsers go on through the balanced nginx
    let browsersGo: Route = 'b';
    const onB = await Promise.all([1, 2].map(async () => askForLink(config, new Browser(issuer, undefined, fetchVia(() => browsersGo)))));
    for (const started of onB) for (const id of started.requestIds) expect(await servedBy(id), 'asked through B').to.equal('b');

    // traffic through the balanced nginx while B stops: token refreshes (POST), userinfo and key
    // fetches (GET); every answer must be a success
    const failures: string[] = [];
    const counts = { refresh: 0, userinfo: 0, jwks: 0 };
    let running = true;
    const app = viaApp(signedIn.config, 'all');
    let { tokens } = signedIn;
    const loops = [
      (async () => {
        while (running) {
          try {
            const refreshed = await client.refreshTokenGrant(app, tokens.refresh);
            tokens = { access: refreshed.access_token, refresh: refreshed.refresh_token ?? tokens.refresh };
            counts.refresh++;
          } catch (error) {
            failures.push(`refresh: ${failure(error)}`);
          }
        }
      })(),
      (async () => {
        while (running) {
          try {
            await client.fetchUserInfo(app, tokens.access, signedIn.sub);
            counts.userinfo++;
          } catch (error) {
            failures.push(`userinfo: ${failure(error)}`);
          }
        }
      })(),
      (async () => {
        const get = fetchVia('all');
        while (running) {
          const res = await get(`${issuer}/jwks`).catch((error: Error) => ({ status: error.message, text: async () => '' }));
          if (res.status === 200) counts.jwks++;
          else failures.push(`jwks: ${res.status} ${await res.text()}`);
        }
      })(),
    ];

    // B is serving some of this traffic when it is told to stop
    const servedByB = () => [...instances.b.output.matchAll(/"requestId":"[0-9a-f]{32}"[^\n]*"path":"\/(token|me|jwks)"/g)].length;
    const earlier = servedByB();
    await eventually(async () => expect(servedByB()).to.be.at.least(earlier + 5), 10_000);
    instances.b.child.kill('SIGTERM');
    expect(await instances.b.exited, instances.b.output).to.equal(0);
    expect(instances.b.output).to.include('shutting down');

    // the sign-ins B had started finish through the balanced nginx, which now reaches only A
    browsersGo = 'all';
    for (const started of onB) {
      const { link } = loginDetails(await smtp!.waitFor(started.email, 20_000));
      const done = await started.browser.submit(await started.browser.get(link), '/login/verify');
      expect(done.location, done.body).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
      expect((await exchange(config, started, done.location!)).claims()!.email).to.equal(started.email);
    }
    // and the traffic goes on, on A alone
    const refreshes = counts.refresh;
    await eventually(async () => expect(counts.refresh).to.be.at.least(refreshes + 5), 10_000);
    running = false;
    await Promise.all(loops);
    expect(failures, failures.join('\n')).to.deep.equal([]);
    expect(counts.refresh).to.be.greaterThan(5);
  });
});
