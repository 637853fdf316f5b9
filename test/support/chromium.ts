/**
 * A real browser for the end-to-end tests, driven by playwright-core (which cannot download one
 * here): see chromium-executable.ts for which. Every page a test visits is saved as a full-page
 * screenshot, so a person can look at what the tests saw.
 */
import { expect } from 'chai';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { projectRoot } from '../../src/shared/paths.js';
import { chromiumExecutable } from './chromium-executable.js';

/** Where the screenshots go: test-output/ is gitignored. */
export const SCREENSHOTS_DIR = join(projectRoot, 'test-output', 'screenshots');

/** Launches headless Chromium; fails (never skips) when there is none to launch. */
export async function launchChromium(): Promise<Browser> {
  const { path, args, env } = await chromiumExecutable();
  return chromium.launch({ executablePath: path, headless: true, args, env: env && { ...process.env, ...env } });
}

export async function closeChromium(browser: Browser | undefined): Promise<void> {
  await browser?.close();
}

/** A desktop browser window. */
export const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 800 }, locale: 'en-US' };

/** A phone (iPhone 12-ish): 390×844 CSS pixels, touch, a mobile user agent. */
export const PHONE: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  locale: 'en-US',
  userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
};

/**
 * A new browser context (its own cookies: a separate "device") in which every navigation to
 * `appOrigin` (the relying app's redirect URI, where nothing listens) is answered with a stub page,
 * so a test can read the callback URL from page.url().
 */
export async function newDevice(browser: Browser, appOrigin: string, options: BrowserContextOptions = DESKTOP): Promise<BrowserContext> {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  await context.route(`${appOrigin}/**`, (route) => route.fulfill({
    status: 200,
    contentType: 'text/html; charset=utf-8',
    body: '<!doctype html><title>App</title><h1>app callback</h1>',
  }));
  if (!(await chromiumExecutable()).retriesFailedRedirects) {
    // playwright-core never routes the target of a redirect (Sesame's redirect to the app), so the
    // browser itself tries 127.0.0.1:9 and fails; full Chromium then asks for that URL again as a
    // navigation of its own, which the route answers. chrome-headless-shell stays on its error
    // page: ask again for it.
    context.on('requestfailed', (request) => {
      if (request.isNavigationRequest() && request.redirectedFrom() && request.url().startsWith(`${appOrigin}/`)) {
        request.frame().goto(request.url()).catch(() => undefined);
      }
    });
  }
  return context;
}

/**
 * The devices of one browser suite: each is a browser context with its own cookies whose pages are
 * watched for errors; after each test, `closeAll` closes them and fails if any of their pages broke
 * its Content-Security-Policy or threw.
 */
export class Devices {
  private contexts: BrowserContext[] = [];
  private errors: string[] = [];

  constructor(private readonly browser: () => Browser, private readonly appOrigin: string) {}

  async open(options: BrowserContextOptions = DESKTOP): Promise<BrowserContext> {
    const context = await newDevice(this.browser(), this.appOrigin, options);
    this.contexts.push(context);
    context.on('page', (page) => {
      const errors = watchErrors(page);
      page.on('close', () => this.errors.push(...errors));
    });
    return context;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.contexts.map((context) => context.close().catch(() => undefined)));
    this.contexts = [];
    const errors = this.errors;
    this.errors = [];
    expect(errors.filter((e) => /Content Security Policy|Refused to|uncaught/i.test(e)), 'errors in the pages').to.deep.equal([]);
  }
}

/** Errors a page reported in its console (CSP violations, failed scripts) and uncaught exceptions. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`${page.url()}: uncaught ${error.message}`));
  return errors;
}

const counters = new Map<string, number>();

export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'test';
}

/**
 * Saves a full-page PNG of the page as test-output/screenshots/<test-name-slug>/<NN>-<step>.png
 * (NN counts up per test; a test's folder is emptied the first time it shoots in a run).
 * Returns the file's path. One image pixel per CSS pixel (`scale: 'css'`): the phone's
 * deviceScaleFactor 2 still renders the page, but the picture has a quarter of the pixels to
 * encode. Encoding was a sixth of the pages suite's CPU (48 s of CPU at device pixels, 42 s at CSS
 * pixels, 40 s with no pictures); a 390-pixel-wide phone page stays easy to read.
 */
export async function shoot(page: Page, testName: string, step: string): Promise<string> {
  const folder = join(SCREENSHOTS_DIR, slug(testName));
  if (!counters.has(folder)) {
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder, { recursive: true });
  }
  const n = (counters.get(folder) ?? 0) + 1;
  counters.set(folder, n);
  const file = join(folder, `${String(n).padStart(2, '0')}-${slug(step)}.png`);
  await page.screenshot({ path: file, fullPage: true, scale: 'css' });
  return file;
}

/**
 * Holds the waiting page's looks at the status (`…/status`) until the returned function is
 * called. For a link opened in another tab of the same browser: a look between the link's approval
 * and the link tab's finish would see the sign-in approved and finish it in the waiting tab (as it
 * should), and the link tab would not be the one to reach the app.
 */
export async function holdStatusLooks(page: Page): Promise<() => void> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/status', async (route) => {
    await released;
    await route.continue();
  });
  return release;
}

/** For the suite's `after` hook: one line saying where the screenshots are. */
export function reportScreenshots(): void {
  console.log(`screenshots: ${SCREENSHOTS_DIR}`);
}

/**
 * The browser of a suite, as `withServer` is its server: Chromium launched in a `before` hook of
 * the `describe` it is called in and closed in its `after` hook (which also says where the
 * screenshots are), and the devices a test opened closed after each test, failing it if one of
 * their pages broke its Content-Security-Policy or threw. `appOrigin`: see `newDevice`.
 */
export function withDevices(appOrigin: string): Devices {
  let browser: Browser | undefined;
  const devices = new Devices(() => {
    if (!browser) throw new Error('withDevices: the browser runs only between its suite\'s before and after hooks');
    return browser;
  }, appOrigin);
  before(async function () {
    this.timeout(60_000);
    browser = await launchChromium();
  });
  afterEach(() => devices.closeAll());
  after(async () => {
    await closeChromium(browser);
    browser = undefined;
    reportScreenshots();
  });
  return devices;
}
