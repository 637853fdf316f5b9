import Bowser from 'bowser';

/** What a person recognises their device by: the browser and the device or system, both proper names. */
export interface Device {
  readonly browser?: string;
  readonly system?: string;
}

/** bowser's names shortened to what the browser calls itself on screen ("Samsung Internet for Android" → "Samsung Internet"). */
const BROWSER_NAMES: Readonly<Record<string, string>> = {
  'Samsung Internet for Android': 'Samsung Internet',
  'Microsoft Edge': 'Edge',
  'Chromium': 'Chromium',
  'Opera Touch': 'Opera',
  'Yandex Browser': 'Yandex',
  'UC Browser': 'UC Browser',
};

const SYSTEM_NAMES: Readonly<Record<string, string>> = { 'Chrome OS': 'ChromeOS' };

/**
 * Reads a User-Agent with bowser (MIT), which knows that CriOS and FxiOS are Chrome and Firefox on
 * iOS and that SamsungBrowser is not Chrome. On Apple devices the model is what people know
 * ("iPhone", "iPad"), not "iOS". An iPad whose Safari asks for desktop sites sends a Mac's
 * User-Agent word for word: nothing in the request tells it apart, so it is named as a Mac.
 */
export function parseDevice(userAgent: string): Device {
  const { browser, os, platform } = Bowser.parse(userAgent);
  const browserName = browser.name ? BROWSER_NAMES[browser.name] ?? browser.name : undefined;
  let system = os.name ? SYSTEM_NAMES[os.name] ?? os.name : undefined;
  if (os.name === 'iOS' && platform.model) system = platform.model === 'iPod' ? 'iPod touch' : platform.model;
  return { browser: browserName || undefined, system: system || undefined };
}

/** The locale keys a device name is built from (views/locales/*.json). */
export type DeviceText = (key: 'device.browser_on_system' | 'device.browser' | 'device.system' | 'device.unknown', params?: Record<string, string>) => string;

/**
 * "Chrome on iPhone", "Samsung Internet auf Android": the names stay as they are, the words around
 * them come from the page's or the email's language.
 */
export function deviceName(userAgent: string | undefined, text: DeviceText): string {
  const { browser, system } = userAgent ? parseDevice(userAgent) : {};
  if (browser && system) return text('device.browser_on_system', { browser, system });
  if (browser) return text('device.browser', { browser });
  if (system) return text('device.system', { system });
  return text('device.unknown');
}
