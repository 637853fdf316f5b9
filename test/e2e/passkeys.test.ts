import { expect } from 'chai';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { ACR_EMAIL, ACR_PASSKEY } from '../../src/oidc/acr.js';
import { closeChromium, launchChromium, newDevice, reportScreenshots, shoot, watchErrors } from '../support/chromium.js';
import { DB_KINDS } from '../support/databases.js';
import { eventually } from '../support/eventually.js';
import { client, discover, exchangeCode, REDIRECT_URI, registerClient, startAuthorization } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

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

    let chromium: Browser;
    let server: TestServer;
    let config: client.Configuration;
    let counter = 0;
    let contexts: BrowserContext[] = [];
    let pageErrors: string[] = [];

    before(async function () {
      this.timeout(60_000);
      chromium = await launchChromium();
      server = await startTestServer(kind, {}, { hostname: 'localhost' });
      config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
    });

    afterEach(async () => {
      await Promise.all(contexts.map((context) => context.close().catch(() => undefined)));
      contexts = [];
      const errors = pageErrors;
      pageErrors = [];
      expect(errors.filter((e) => /Content Security Policy|Refused to|uncaught/i.test(e)), 'errors in the pages').to.deep.equal([]);
    });

    after(async () => {
      await closeChromium(chromium);
      await server?.close();
      reportScreenshots();
    });

    const nextEmail = (label: string) => `passkey-${label}-${++counter}-${kind}@example.com`;
    const shotName = (name: string) => `passkeys ${kind} ${name}`;

    async function device(): Promise<Device> {
      const context = await newDevice(chromium, APP_ORIGIN);
      contexts.push(context);
      const page = await context.newPage();
      const errors = watchErrors(page);
      page.on('close', () => pageErrors.push(...errors));
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
      await d.page.locator('#match-number').waitFor();
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

    /** The app asks again with prompt=login: the email page, and this time the passkey button. */
    async function signInWithPasskey(d: Device, name: string, extra: Record<string, string> = { prompt: 'login' }) {
      const start = await startAuthorization(config, extra);
      await d.page.goto(start.url.toString());
      await d.page.getByRole('button', { name: 'Use a passkey' }).click();
      return { start, callback: await waitForApp(d.page) };
    }

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
      // a new visit with no session at all: only the passkey on this device
      await d.context.clearCookies();
      const { start, callback } = await signInWithPasskey(d, 'sign in', {});
      const claims = (await exchangeCode(config, start, callback)).claims()!;
      expect(claims.acr).to.equal(ACR_PASSKEY);
      expect(claims.amr).to.deep.equal(['hwk', 'user']);
      expect(claims.sub).to.equal((await server.sesame.accounts.get(email)).id);
      const [stored] = await server.sesame.passkeys.list(claims.sub);
      expect(stored.lastUsedAt).to.be.a('number');
      expect(await server.sesame.audit.query({ accountId: claims.sub, type: 'passkey.used' })).to.have.length(1);
    });
  });
}
