import { expect } from 'chai';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { ACR_EMAIL, ACR_PASSKEY } from '../../src/oidc/acr.js';
import { CHALLENGE_HASH_PURPOSE } from '../../src/passkeys/passkey-service.js';
import { KnexPasskeyStore } from '../../src/store/passkey-store.js';
import { adminApi } from '../support/admin-api.js';
import { Browser as HttpBrowser } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { shoot, withDevices } from '../support/chromium.js';
import { DB_KINDS } from '../support/databases.js';
import { eventually } from '../support/eventually.js';
import { client, discover, exchangeCode, REDIRECT_URI, registerClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { cliEnv, startTestServer, type TestServer, withServer } from '../support/test-server.js';

const APP_ORIGIN = new URL(REDIRECT_URI).origin;
const isCallback = (url: URL) => url.href.startsWith(`${REDIRECT_URI}?`);

/** A browser tab with a platform authenticator (Chromium's virtual one): resident keys, user verification. */
interface Device {
  context: BrowserContext;
  page: Page;
  cdp: CDPSession;
  authenticatorId: string;
}

interface VirtualCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId: string;
  privateKey: string;
  userHandle: string;
  signCount: number;
}

/**
 * Passkeys in a real browser (Chromium through playwright-core, with the DevTools protocol's
 * virtual authenticator), on both databases: the offer after an emailed sign-in, a sign-in with
 * the passkey alone, step-up demanded by acr_values and max_age, management, and the refusals
 * (a counter that went back, a disabled account). The issuer is `localhost`: WebAuthn refuses an
 * IP address as relying-party id.
 */
for (const kind of DB_KINDS) {
  describe(`passkeys in a real browser (Chromium, ${kind})`, function () {
    this.timeout(90_000);

    let config: client.Configuration;
    let counter = 0;
    const devices = withDevices(APP_ORIGIN);
    const server = withServer(kind, {}, { hostname: 'localhost' });

    before(async () => {
      config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
    });

    const nextEmail = (label: string) => `passkey-${label}-${++counter}-${kind}@example.com`;
    const shotName = (name: string) => `passkeys ${kind} ${name}`;

    async function device(): Promise<Device> {
      const context = await devices.open();
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable', { enableUI: false });
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
      });
      return { context, page, cdp, authenticatorId };
    }

    async function credentials(d: Device): Promise<VirtualCredential[]> {
      return ((await d.cdp.send('WebAuthn.getCredentials', { authenticatorId: d.authenticatorId })) as { credentials: VirtualCredential[] }).credentials;
    }

    /** Waits until the tab is at the app's redirect URI (see browser.test.ts for the retried redirect). */
    async function waitForApp(page: Page, timeout = 20_000): Promise<string> {
      const deadline = Date.now() + timeout;
      for (;;) {
        try {
          await page.waitForURL(isCallback, { timeout: Math.max(1000, deadline - Date.now()) });
          await page.getByText('app callback').waitFor({ timeout: Math.max(1000, deadline - Date.now()) });
          return page.url();
        } catch (error) {
          if (Date.now() >= deadline || !/net::ERR_(CONNECTION_REFUSED|UNSAFE_PORT|ABORTED)/.test(String(error))) throw error;
        }
      }
    }

    /** Opens a URL whose answer may be the redirect to the app (which the harness routes, see waitForApp). */
    async function visit(page: Page, url: string): Promise<void> {
      await page.goto(url).catch((error: unknown) => {
        if (!/net::ERR_(CONNECTION_REFUSED|UNSAFE_PORT|ABORTED)/.test(String(error))) throw error;
      });
    }

    const heading = (page: Page) => page.locator('h1').first().innerText();

    /** From the app to the "check your email" page and through the link in the same tab; returns where the flow went on. */
    async function signInByEmail(d: Device, email: string, name: string, extra: Record<string, string> = {}) {
      const start = await startAuthorization(config, extra);
      await d.page.goto(start.url.toString());
      await d.page.locator('input#email').waitFor();
      // the email page offers the passkey next to the address (autofill and a button)
      await d.page.locator('[data-passkey-start]').waitFor();
      await shoot(d.page, shotName(name), 'email page with the passkey button');
      await d.page.locator('input#email').fill(email);
      await d.page.getByRole('button', { name: 'Email me a sign-in link' }).click();
      await d.page.locator('#match-number').waitFor({ state: 'attached' });
      const { link } = loginDetails(await server.smtp.waitFor(email));
      await d.page.goto(link);
      return start;
    }

    /** An emailed sign-in that ends on the offer, which is taken: the account then has a passkey. */
    async function registerAfterEmail(d: Device, email: string, name: string) {
      const start = await signInByEmail(d, email, name);
      await d.page.getByRole('heading', { name: 'Sign in faster next time with a passkey' }).waitFor();
      await shoot(d.page, shotName(name), 'offer after the emailed sign-in');
      await d.page.getByRole('button', { name: 'Create a passkey' }).click();
      const tokens = await exchangeCode(config, start, await waitForApp(d.page));
      return tokens;
    }

    /**
     * A new visit with no session: the email page's passkey autofill (conditional UI) runs at once,
     * and the virtual authenticator, which simulates the person's touch, answers it: no address typed.
     */
    async function signInWithPasskeyOnly(d: Device, extra: Record<string, string> = {}) {
      await d.context.clearCookies();
      const start = await startAuthorization(config, extra);
      await d.page.goto(start.url.toString());
      return { start, callback: await waitForApp(d.page) };
    }

    /** Same visit, but the passkey is refused: the email page says so and stays. */
    async function expectPasskeyRefused(d: Device, name: string, step: string) {
      await d.context.clearCookies();
      const start = await startAuthorization(config);
      await d.page.goto(start.url.toString());
      const error = d.page.locator('#passkey-sign-in [data-passkey-error]');
      await error.waitFor({ state: 'visible' });
      expect(await error.innerText()).to.equal('That passkey could not sign you in. Try again, or use the emailed link.');
      expect(await heading(d.page)).to.equal('Sign in to Test App');
      await shoot(d.page, shotName(name), step);
    }

    const claimsOf = async (start: Awaited<ReturnType<typeof startAuthorization>>, callback: string) => (await exchangeCode(config, start, callback)).claims()!;
    const refusals = async (accountId: string) => (await server.sesame.audit.query({ accountId, type: 'passkey.refused' })).map((e) => e.details?.reason);

    it('offers a passkey after an emailed sign-in, and stores it for the account', async () => {
      const email = nextEmail('register');
      const d = await device();
      const tokens = await registerAfterEmail(d, email, 'register');
      expect(tokens.claims()?.amr).to.deep.equal(['email']);
      expect(tokens.claims()?.acr).to.equal(ACR_EMAIL);

      const account = await server.sesame.accounts.get(email);
      const stored = await server.sesame.passkeys.list(account.id);
      expect(stored).to.have.length(1);
      expect(stored[0]).to.include({ accountId: account.id, deviceType: 'singleDevice', name: 'Chrome on Linux', lastUsedAt: null });
      expect(stored[0].transports).to.include('internal');
      const [credential] = await credentials(d);
      expect(credential.isResidentCredential, 'a discoverable credential').to.equal(true);
      expect(Buffer.from(credential.credentialId, 'base64').toString('base64url')).to.equal(stored[0].credentialId);
      const events = await server.sesame.audit.query({ accountId: account.id, type: 'passkey.registered' });
      expect(events).to.have.length(1);
    });

    it('signs in with the passkey alone (no address typed), and the ID token says how', async () => {
      const email = nextEmail('only');
      const d = await device();
      await registerAfterEmail(d, email, 'sign in');
      const { start, callback } = await signInWithPasskeyOnly(d);
      const claims = await claimsOf(start, callback);
      expect(claims.acr).to.equal(ACR_PASSKEY);
      expect(claims.amr).to.deep.equal(['hwk', 'user']);
      expect(claims.sub).to.equal((await server.sesame.accounts.get(email)).id);
      const [stored] = await server.sesame.passkeys.list(claims.sub);
      expect(stored.lastUsedAt).to.be.a('number');
      expect(stored.counter).to.be.greaterThan(0);
      expect(await server.sesame.audit.query({ accountId: claims.sub, type: 'passkey.used' })).to.have.length(1);
    });

    it('step-up: acr_values demands a passkey of a session proven by email, and max_age asks for it again', async () => {
      const name = 'step-up';
      const d = await device();
      await registerAfterEmail(d, nextEmail('stepup'), name);
      // the session was proven by email: without a page to show (prompt=none) the app hears login_required
      let start = await startAuthorization(config, { acr_values: ACR_PASSKEY, prompt: 'none' });
      await visit(d.page, start.url.toString());
      expect(new URL(await waitForApp(d.page)).searchParams.get('error')).to.equal('login_required');
      // with a page, the app's demand brings up the passkey page
      start = await startAuthorization(config, { acr_values: ACR_PASSKEY });
      await d.page.goto(start.url.toString());
      await d.page.getByRole('heading', { name: 'Confirm with your passkey' }).waitFor();
      await shoot(d.page, shotName(name), 'the app demands a passkey');
      await d.page.getByRole('button', { name: 'Use a passkey' }).click();
      let claims = await claimsOf(start, await waitForApp(d.page));
      expect(claims.acr).to.equal(ACR_PASSKEY);
      expect(claims.amr).to.deep.equal(['hwk', 'user']);
      const authTime = claims.auth_time!;

      // proven by a passkey now: the next demand passes without a page
      start = await startAuthorization(config, { acr_values: ACR_PASSKEY });
      await visit(d.page, start.url.toString());
      claims = await claimsOf(start, await waitForApp(d.page));
      expect(claims.acr).to.equal(ACR_PASSKEY);
      expect(claims.auth_time).to.equal(authTime);

      // max_age=0: the passkey is asked for again, whatever the session
      start = await startAuthorization(config, { acr_values: ACR_PASSKEY, max_age: '0' });
      await d.page.goto(start.url.toString());
      await d.page.getByRole('heading', { name: 'Confirm with your passkey' }).waitFor();
      await d.page.getByRole('button', { name: 'Use a passkey' }).click();
      claims = await claimsOf(start, await waitForApp(d.page));
      expect(claims.acr).to.equal(ACR_PASSKEY);
      expect(await server.sesame.audit.query({ accountId: claims.sub, type: 'passkey.used' })).to.have.length(2);
    });

    it('step-up for an account with no passkey: a page that says so; a declined offer is not made again on this browser', async () => {
      const name = 'step-up without passkey';
      const email = nextEmail('nopasskey');
      const d = await device();
      let start = await signInByEmail(d, email, name);
      await d.page.getByRole('button', { name: 'Not now' }).click();
      const claims = await claimsOf(start, await waitForApp(d.page));
      expect(claims.acr).to.equal(ACR_EMAIL);

      start = await startAuthorization(config, { acr_values: ACR_PASSKEY });
      await d.page.goto(start.url.toString());
      await d.page.getByRole('heading', { name: 'Confirm with your passkey' }).waitFor();
      const text = await d.page.locator('main').innerText();
      expect(text).to.include('Test App asks you to sign in with a passkey, and your account has none yet.');
      expect(text).to.include('then try again in Test App.');
      expect(text, 'every placeholder filled in').not.to.match(/[{}]/);
      expect(await d.page.getByRole('button', { name: 'Use a passkey' }).count()).to.equal(0);
      await shoot(d.page, shotName(name), 'no passkey to step up with');
      // the way out: back to the app, which hears access_denied
      await d.page.getByRole('button', { name: 'Cancel and go back to Test App' }).click();
      const back = new URL(await waitForApp(d.page));
      expect(back.searchParams.get('error')).to.equal('access_denied');

      // "Not now" holds on this browser: the next emailed sign-in goes straight to the app
      start = await startAuthorization(config, { prompt: 'login' });
      await d.page.goto(start.url.toString());
      await d.page.locator('input#email').fill(email);
      await d.page.getByRole('button', { name: 'Email me a sign-in link' }).click();
      await d.page.locator('#match-number').waitFor({ state: 'attached' });
      const { link } = loginDetails(await server.smtp.waitFor(email));
      await d.page.goto(link);
      expect((await claimsOf(start, await waitForApp(d.page))).amr).to.deep.equal(['email']);
      expect(await server.sesame.passkeys.list(claims.sub)).to.deep.equal([]);
    });

    it('the account page lists, renames and removes passkeys; after removal the passkey is refused and the emailed link still works', async () => {
      const name = 'manage';
      const email = nextEmail('manage');
      const d = await device();
      await registerAfterEmail(d, email, name);
      const accountId = (await server.sesame.accounts.get(email)).id;

      await d.page.goto(`${server.issuer}/account/passkeys`);
      await d.page.getByRole('heading', { name: 'Your passkeys' }).waitFor();
      expect(await d.page.locator('.passkey-name').allInnerTexts()).to.deep.equal(['Chrome on Linux']);
      await d.page.getByRole('button', { name: 'Add a passkey' }).waitFor();
      await shoot(d.page, shotName(name), 'account page with one passkey');

      await d.page.locator('.passkey-rename input[name=name]').fill('Work laptop');
      await d.page.getByRole('button', { name: 'Rename' }).click();
      await d.page.getByText('The passkey was renamed.').waitFor();
      expect(await d.page.locator('.passkey-name').allInnerTexts()).to.deep.equal(['Work laptop']);
      await d.page.getByRole('button', { name: 'Add a passkey' }).waitFor();
      await shoot(d.page, shotName(name), 'renamed');

      // the account page lists them too, and leads here to manage them
      await d.page.goto(`${server.issuer}/account`);
      await d.page.locator('#passkeys').getByText('Work laptop').waitFor();
      await shoot(d.page, shotName(name), 'account page, passkeys section');
      await d.page.getByRole('link', { name: 'Add, rename or remove passkeys' }).click();
      await d.page.getByRole('heading', { name: 'Your passkeys' }).waitFor();

      // the page's forms need its CSRF token, even with the browser's own cookies
      const [passkey] = await server.sesame.passkeys.list(accountId);
      const cookie = (await d.context.cookies(server.issuer)).map((c) => `${c.name}=${c.value}`).join('; ');
      const forged = await fetch(`${server.issuer}/account/passkeys/${passkey.id}/remove`, {
        method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf=forged', redirect: 'manual',
      });
      expect(forged.status).to.equal(403);
      expect(await server.sesame.passkeys.list(accountId)).to.have.length(1);

      await d.page.getByRole('button', { name: 'Remove Work laptop' }).click();
      await d.page.getByText('The passkey was removed. You can still sign in with the emailed link.').waitFor();
      expect(await d.page.locator('.passkey').count()).to.equal(0);
      await d.page.getByRole('button', { name: 'Add a passkey' }).waitFor();
      await shoot(d.page, shotName(name), 'removed');
      expect(await server.sesame.passkeys.list(accountId)).to.deep.equal([]);
      const types = (await server.sesame.audit.query({ accountId })).map((e) => e.type);
      expect(types).to.include.members(['passkey.registered', 'passkey.renamed', 'passkey.removed']);

      // the authenticator still holds it; Sesame no longer knows it
      await expectPasskeyRefused(d, name, 'removed passkey refused');
      expect(await refusals(accountId)).to.deep.equal([]);
      // (refused as an unknown credential: no account to record it under)
      // the emailed link still signs in
      const start = await signInByEmail(d, email, name);
      await d.page.getByRole('button', { name: 'Not now' }).click();
      expect((await claimsOf(start, await waitForApp(d.page))).sub).to.equal(accountId);

      // a passkey added from the account page
      await d.page.goto(`${server.issuer}/account/passkeys`);
      await d.page.getByRole('button', { name: 'Add a passkey' }).click();
      await d.page.getByText('The passkey was added.').waitFor();
      expect(await d.page.locator('.passkey-name').allInnerTexts()).to.deep.equal(['Chrome on Linux']);
      await shoot(d.page, shotName(name), 'added from the account page');
      const added = await server.sesame.audit.query({ accountId, type: 'passkey.registered' });
      expect(added.map((e) => e.details?.via)).to.deep.equal(['account', 'offer']);

      // without a session the page asks to sign in first
      await d.context.clearCookies();
      const answer = await d.page.goto(`${server.issuer}/account/passkeys`);
      expect(answer?.status()).to.equal(401);
      expect(await heading(d.page)).to.equal('Sign in first');
      await shoot(d.page, shotName(name), 'account page without a session');
    });

    it('refuses a passkey whose signature counter went backwards (a cloned authenticator)', async () => {
      const name = 'counter';
      const email = nextEmail('counter');
      const d = await device();
      await registerAfterEmail(d, email, name);
      const { start, callback } = await signInWithPasskeyOnly(d);
      const accountId = (await claimsOf(start, callback)).sub;
      const [stored] = await server.sesame.passkeys.list(accountId);
      expect(stored.counter).to.be.greaterThan(0);

      // the same key, on an authenticator whose counter starts again from zero
      const [credential] = await credentials(d);
      await d.cdp.send('WebAuthn.removeCredential', { authenticatorId: d.authenticatorId, credentialId: credential.credentialId });
      await d.cdp.send('WebAuthn.addCredential', { authenticatorId: d.authenticatorId, credential: { ...credential, signCount: 0 } });
      await expectPasskeyRefused(d, name, 'cloned authenticator refused');
      expect(await refusals(accountId)).to.deep.equal(['counter']);
      expect((await server.sesame.passkeys.list(accountId))[0].counter, 'the stored counter stays').to.equal(stored.counter);
    });

    it('refuses the passkey of a disabled account', async () => {
      const name = 'disabled';
      const email = nextEmail('disabled');
      const d = await device();
      await registerAfterEmail(d, email, name);
      const account = await server.sesame.accounts.disable(email);
      await expectPasskeyRefused(d, name, 'disabled account refused');
      await eventually(async () => expect(await refusals(account.id)).to.deep.equal(['account_unavailable']));
    });
  });
}

/** Passkeys without a browser: the challenges at rest and their single use, and what operators do (CLI, admin API). */
for (const kind of DB_KINDS) {
  describe(`passkeys: challenges and operators (${kind})`, function () {
    this.timeout(60_000);
    let server: TestServer;

    before(async () => {
      server = await startTestServer(kind, { ADMIN_API_ENABLED: 'true', RATE_LIMIT_VERIFY_FAILURES_IP: '2/900' }, { hostname: 'localhost' });
    });

    after(async () => {
      await server?.close();
    });

    const hashes = (value: string) => server.sesame.hasher.current(CHALLENGE_HASH_PURPOSE, value);
    const match = (challenge: string, binding: string, purpose: 'authenticate' | 'register' = 'authenticate') =>
      ({ idHashes: hashes(challenge), purpose, bindingHashes: hashes(`binding:${binding}`) });

    it('keeps a challenge only as a keyed hash, usable once, by its own flow, for its own purpose, until it expires', async () => {
      const store = new KnexPasskeyStore(server.sesame.db);
      const { challenge } = await server.sesame.passkeys.authenticationOptions('interaction:first');
      const rows = await server.sesame.db('webauthn_challenges').select();
      expect(rows).to.have.length(1);
      expect(JSON.stringify(rows), 'no challenge in the clear').not.to.include(challenge);

      expect(await store.consumeChallenge(match(challenge, 'interaction:other'), Date.now()), 'another flow').to.equal(false);
      expect(await store.consumeChallenge(match(challenge, 'interaction:first', 'register'), Date.now()), 'another purpose').to.equal(false);
      expect(await store.consumeChallenge(match(challenge, 'interaction:first'), Date.now() + 6 * 60 * 1000), 'expired').to.equal(false);
      // of ten answers racing with the same challenge, one is accepted
      const results = await Promise.all(Array.from({ length: 10 }, () => store.consumeChallenge(match(challenge, 'interaction:first'), Date.now())));
      expect(results.filter(Boolean)).to.have.length(1);
      expect(await store.consumeChallenge(match(challenge, 'interaction:first'), Date.now()), 'used').to.equal(false);
    });

    it('a sign-in\'s passkey endpoints need its browser and CSRF token, and refused passkeys are throttled per IP', async () => {
      const config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
      const browser = new HttpBrowser(server.issuer);
      const page = await browser.get((await startAuthorization(config)).url.toString());
      const attribute = (name: string) => decodeHtml(new RegExp(`${name}="([^"]+)"`).exec(page.body)![1]);
      const [csrf, optionsUrl, verifyUrl] = [attribute('data-csrf'), attribute('data-options-url'), attribute('data-verify-url')];
      const post = async (who: HttpBrowser, path: string, body: unknown) => {
        const url = new URL(path, server.issuer).toString();
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', cookie: await who.jar.getCookieString(url) },
          body: JSON.stringify(body),
        });
        return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() as Record<string, unknown> };
      };

      expect((await post(browser, optionsUrl, {})).status, 'no CSRF token').to.equal(403);
      expect((await post(browser, optionsUrl, { csrf: `${csrf}x` })).status, 'a wrong CSRF token').to.equal(403);
      // another browser has neither the interaction cookie nor the CSRF cookie
      expect((await post(new HttpBrowser(server.issuer), optionsUrl, { csrf })).status, 'another browser').to.be.oneOf([400, 403]);
      const options = await post(browser, optionsUrl, { csrf });
      expect(options.status).to.equal(200);
      expect(options.body).to.include({ rpId: 'localhost', userVerification: 'required' });

      const unknown = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA' } };
      for (let i = 0; i < 2; i++) {
        const refused = await post(browser, verifyUrl, { csrf, response: unknown });
        expect(refused.status).to.equal(400);
        expect(refused.body.error).to.equal('passkey_refused');
      }
      const throttled = await post(browser, verifyUrl, { csrf, response: unknown });
      expect(throttled.status).to.equal(429);
      expect(Number(throttled.retryAfter)).to.be.greaterThan(0);
      const reasons = (await server.sesame.audit.query({ type: 'passkey.refused' })).map((e) => e.details?.reason);
      expect(reasons).to.deep.equal(['unknown_credential', 'unknown_credential']);
    });

    it('operators list and remove passkeys from the CLI and the admin API, audited; the emailed link still signs in', async () => {
      const email = `passkey-operator-${kind}@example.com`;
      const account = await server.sesame.accounts.create(email);
      const store = new KnexPasskeyStore(server.sesame.db);
      const made = ['Phone', 'Laptop'].map((name, i) => ({
        id: `pk-${kind}-${i}`, accountId: account.id, credentialId: `cred-${kind}-${i}`, publicKey: 'cHVibGlj', counter: 0, transports: ['internal'],
        deviceType: i === 0 ? 'multiDevice' as const : 'singleDevice' as const, backedUp: i === 0, name, createdAt: Date.now() + i, lastUsedAt: null,
      }));
      for (const passkey of made) await store.insert(passkey);

      const listed = await runCli(['passkeys', 'list', email, '--json'], cliEnv(server));
      expect(listed.code, listed.stderr).to.equal(0);
      const shown = JSON.parse(listed.stdout) as { account: string; passkeys: { id: string; name: string; device_type: string; public_key?: string }[] };
      expect(shown.account).to.equal(account.id);
      expect(shown.passkeys.map((p) => [p.id, p.name, p.device_type])).to.deep.equal([[made[0].id, 'Phone', 'synced'], [made[1].id, 'Laptop', 'device_bound']]);
      expect(shown.passkeys[0]).not.to.have.property('public_key');

      const removed = await runCli(['passkeys', 'remove', email, made[0].id], cliEnv(server));
      expect(removed.code, removed.stderr).to.equal(0);
      expect(removed.stdout).to.include(`removed passkey ${made[0].id} (Phone)`);

      const api = adminApi(server.issuer);
      const { token } = await server.sesame.adminTokens.create({ name: 'passkeys', scopes: ['read', 'write'] });
      const list = await api('GET', `/accounts/${encodeURIComponent(email)}/passkeys`, { token });
      expect(list.status).to.equal(200);
      expect(list.body.items.map((p: { id: string }) => p.id)).to.deep.equal([made[1].id]);
      expect((await api('DELETE', `/accounts/${account.id}/passkeys/${made[1].id}`, { token })).status).to.equal(204);
      expect((await api('DELETE', `/accounts/${account.id}/passkeys/${made[1].id}`, { token })).status).to.equal(404);
      // another account's passkey id is not found under this account
      const other = await server.sesame.accounts.create(`other-${email}`);
      await store.insert({ ...made[0], id: `pk-${kind}-other`, credentialId: `cred-${kind}-other`, accountId: other.id });
      expect((await api('DELETE', `/accounts/${account.id}/passkeys/pk-${kind}-other`, { token })).status).to.equal(404);
      expect(await server.sesame.passkeys.list(account.id)).to.deep.equal([]);

      const events = await server.sesame.audit.query({ accountId: account.id, type: 'passkey.removed' });
      expect(events.map((e) => [e.details?.passkey, e.details?.via, e.actor?.split(':')[0]])).to.deep.equal([
        [made[1].id, 'api', 'admin-token'],
        [made[0].id, 'cli', 'cli'],
      ]);

      // deleting an account deletes its passkeys
      expect((await api('DELETE', `/accounts/${other.id}`, { token })).status).to.equal(204);
      expect(await server.sesame.db('passkeys').where({ account_id: other.id }).select('id')).to.deep.equal([]);

      // the last passkey is gone; the emailed link is untouched
      const config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
      const start = await startAuthorization(config);
      const callback = await signInWithLink(new HttpBrowser(server.issuer), server.smtp, start, email);
      expect((await exchangeCode(config, start, callback)).claims()?.sub).to.equal(account.id);
    });
  });
}

function decodeHtml(value: string): string {
  return value.replace(/&#x3D;/g, '=').replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#x27;/g, "'");
}

describe('passkeys turned off (PASSKEYS_ENABLED=false, sqlite)', function () {
  this.timeout(60_000);
  let server: TestServer;

  before(async () => {
    server = await startTestServer('sqlite', { PASSKEYS_ENABLED: 'false' }, { hostname: 'localhost' });
  });

  after(async () => {
    await server?.close();
  });

  it('offers no passkey anywhere: not on the email page, not in discovery, not at /account/passkeys', async () => {
    const config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
    expect(config.serverMetadata().acr_values_supported).to.deep.equal([ACR_EMAIL]);
    const browser = new HttpBrowser(server.issuer);
    const page = await browser.get((await startAuthorization(config)).url.toString());
    expect(page.status).to.equal(200);
    expect(page.body).to.include('name="email"');
    expect(page.body).not.to.include('data-passkey');
    expect(page.body).not.to.include('webauthn');
    const uid = /\/interaction\/([^/"]+)\/email/.exec(page.body)![1];
    const options = await fetch(`${server.issuer}/interaction/${uid}/passkey/authenticate/options`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: '{}' });
    expect(options.status).to.equal(404);
    const account = await browser.get('/account/passkeys');
    expect(account.status).to.equal(404);
    expect(account.body).to.include('Passkeys are not available here.');
  });
});
