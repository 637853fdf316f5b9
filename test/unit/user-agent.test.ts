import { expect } from 'chai';
import { Messages } from '../../src/shared/i18n.js';
import { localesDir } from '../../src/shared/paths.js';
import { deviceName, parseDevice } from '../../src/shared/user-agent.js';

/** User-Agent strings as these browsers send them (copied from the browsers' own requests). */
const UA = {
  chromeIphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1',
  firefoxIphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15',
  safariIphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  safariIpad: 'Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  chromeIpad: 'Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1',
  samsung: 'Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36',
  chromeAndroid: 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
  edgeAndroid: 'Mozilla/5.0 (Linux; Android 10; HD1913) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 EdgA/126.0.2592.61',
  chromeMac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  safariMac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  edgeWindows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0',
  operaWindows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0',
  firefoxLinux: 'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0',
  chromebook: 'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  curl: 'curl/8.5.0',
};

describe('device names (shared/user-agent.ts)', () => {
  const messages = new Messages(localesDir);
  const name = (ua: string | undefined, locale = 'en') => deviceName(ua, (key, params) => messages.t(locale, key, params));

  const expected: [keyof typeof UA, string][] = [
    ['chromeIphone', 'Chrome on iPhone'],
    ['firefoxIphone', 'Firefox on iPhone'],
    ['safariIphone', 'Safari on iPhone'],
    ['safariIpad', 'Safari on iPad'],
    ['chromeIpad', 'Chrome on iPad'],
    ['samsung', 'Samsung Internet on Android'],
    ['chromeAndroid', 'Chrome on Android'],
    ['edgeAndroid', 'Edge on Android'],
    ['chromeMac', 'Chrome on macOS'],
    ['safariMac', 'Safari on macOS'],
    ['edgeWindows', 'Edge on Windows'],
    ['operaWindows', 'Opera on Windows'],
    ['firefoxLinux', 'Firefox on Linux'],
    ['chromebook', 'Chrome on ChromeOS'],
  ];
  for (const [ua, want] of expected) {
    it(`names ${ua} "${want}"`, () => {
      expect(name(UA[ua])).to.equal(want);
    });
  }

  it('keeps the names and translates the word between them (German: "auf")', () => {
    expect(name(UA.chromeIphone, 'de')).to.equal('Chrome auf iPhone');
    expect(name(UA.samsung, 'de')).to.equal('Samsung Internet auf Android');
    expect(name(UA.safariIpad, 'de')).to.equal('Safari auf iPad');
  });

  it('says "an unknown device" in the language when nothing is recognised or nothing was sent', () => {
    expect(name(UA.curl)).to.equal('an unknown device');
    expect(name(undefined)).to.equal('an unknown device');
    expect(name('', 'de')).to.equal('unbekanntes Gerät');
  });

  it('names the system alone when the browser is unknown', () => {
    expect(parseDevice('Mozilla/5.0 (Linux; Android 14) SomethingNew/1.0')).to.deep.include({ system: 'Android' });
    expect(name('Mozilla/5.0 (Linux; Android 14) SomethingNew/1.0', 'de')).to.match(/auf Android$/);
  });
});
