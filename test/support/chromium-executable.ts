import { existsSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';

/** What playwright-core launches: a binary, its flags and the environment it needs. */
export interface ChromiumExecutable {
  path: string;
  args: string[];
  env?: Record<string, string>;
  /**
   * Whether a navigation whose redirect failed is asked for again by the browser itself (full
   * Chromium does; chrome-headless-shell, which @sparticuz/chromium is, shows its error page).
   */
  retriesFailedRedirects: boolean;
  /** one line for the test log: which browser this is */
  description: string;
}

/** Where a system Chromium or Chrome usually is; TEST_CHROMIUM_SYSTEM_PATHS (colon-separated, may be empty) replaces it. */
const SYSTEM_PATHS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

const OUR_ARGS = [
  '--no-sandbox', // we run as root
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
];

/**
 * Flags of @sparticuz/chromium's that would change what the tests check: one process for every
 * page breaks the several devices (browser contexts) a test opens at once, and the others turn
 * off the same-origin policy, mixed-content blocking and site isolation the pages rely on.
 * playwright-core passes its own --headless.
 */
const UNWANTED_PACKAGE_ARGS = ['--single-process', '--disable-web-security', '--allow-running-insecure-content', '--disable-site-isolation-trials'];

let found: Promise<ChromiumExecutable> | undefined;

/** CHROMIUM_PATH; else a system Chromium or Chrome; else the one in the npm package @sparticuz/chromium. Says which, once. */
export function chromiumExecutable(): Promise<ChromiumExecutable> {
  found ??= find().then((chromium) => {
    console.log(chromium.description);
    return chromium;
  });
  return found;
}

/**
 * For the global setup of a parallel run: finds the browser once, before the workers start, so
 * that a browser from the npm package is unpacked by one process and not by two at once (each
 * worker then finds the unpacked files and reuses them). Prints nothing: a worker that launches
 * the browser says which it is.
 */
export async function prepareChromium(): Promise<void> {
  await find();
}

async function find(): Promise<ChromiumExecutable> {
  const given = process.env.CHROMIUM_PATH;
  if (given) {
    if (!existsSync(given)) throw new Error(`CHROMIUM_PATH is ${given}, where there is no file`);
    return { path: given, args: OUR_ARGS, retriesFailedRedirects: true, description: `Chromium: ${given} (CHROMIUM_PATH)` };
  }
  const candidates = process.env.TEST_CHROMIUM_SYSTEM_PATHS?.split(':').filter(Boolean) ?? SYSTEM_PATHS;
  const system = candidates.find((path) => existsSync(path));
  if (system) return { path: system, args: OUR_ARGS, retriesFailedRedirects: true, description: `Chromium: ${system} (installed on this machine)` };
  return fromNpmPackage(candidates);
}

async function fromNpmPackage(searched: string[]): Promise<ChromiumExecutable> {
  // the package's binary is built for Linux on x64 only (its arm64 build is a download from GitHub)
  if (platform() !== 'linux' || arch() !== 'x64') {
    throw new Error(`No Chromium found (looked at ${searched.join(', ') || 'nothing'}), and the npm package @sparticuz/chromium has none for ${platform()}/${arch()}: install Chromium or Chrome, or set CHROMIUM_PATH.`);
  }
  const { default: sparticuz } = await import('@sparticuz/chromium');
  // unpacks the browser, its fonts and its GL library into os.tmpdir() once; later calls reuse them
  const path = await sparticuz.executablePath();
  const args = sparticuz.args.filter((arg) => !UNWANTED_PACKAGE_ARGS.includes(arg) && !arg.startsWith('--headless'));
  return {
    path,
    args: [...new Set([...args, ...OUR_ARGS])],
    retriesFailedRedirects: false,
    // the fonts unpacked beside it: on a machine without fonts every text would be 0×0 and unclickable
    env: { FONTCONFIG_PATH: process.env.FONTCONFIG_PATH ?? join(tmpdir(), 'fonts') },
    description: `Chromium: ${path}, unpacked from the npm package @sparticuz/chromium (${searched.length ? `none at ${searched.join(', ')}` : 'no system paths to look at'})`,
  };
}
