import { expect } from 'chai';
import { loginMailComposer } from '../../src/mail/login-mail.js';
import { Messages } from '../../src/shared/i18n.js';
import { localesDir, viewsDir } from '../../src/shared/paths.js';
import { Templates } from '../../src/shared/templates.js';

/** The text a reader sees in an HTML part: tags gone, entities decoded. */
export function visibleText(html: string): string {
  return html
    .replace(/<(head|style)\b[\s\S]*?<\/\1>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

/** Every href of the HTML part, decoded. */
export function hrefs(html: string): string[] {
  return [...html.matchAll(/href="([^"]*)"/g)].map(([, href]) => visibleText(href).trim());
}

describe('the sign-in email (mail/login-mail.ts, views/mail/login/)', () => {
  const compose = loginMailComposer(new Templates(viewsDir, new Messages(localesDir)), { productName: 'Acme ID', color: '#3b3bd6' });
  // a link token's alphabet is base64url: '-' and '_' are in it, and '=' is escaped by handlebars
  const link = 'https://id.example.com/login/verify?t=Ab-_cD3fGh1jKl2mNo3pQr4sTu5vWx6yZ7a8b9c0d1e';
  const details = {
    to: 'alice@example.com', link, code: '042917', clientName: 'Photo Album', requestedAt: Date.UTC(2026, 10, 28, 18, 2), expiresInMinutes: 10,
    ip: '203.0.113.7', userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1',
  };

  for (const locale of ['en', 'de']) {
    describe(locale, () => {
      const mail = compose({ ...details, locale });
      const html = visibleText(mail.html);

      it('has a text part and an HTML part with the same link and the same code', () => {
        const textLinks = mail.text.match(/https:\/\/\S+/g);
        expect(textLinks).to.deep.equal([link]);
        expect(mail.text).to.match(/\b042917\b/);
        // the button and the link shown as text to copy: both the one link, and nothing else
        expect(hrefs(mail.html)).to.deep.equal([link, link]);
        expect(html).to.include(` ${link} `);
        expect(html.match(/\b\d{6}\b/g)).to.deep.equal(['042917']);
        expect(mail.text.match(/\b\d{6}\b/g)).to.deep.equal(['042917']);
      });

      it('names the product and the app, and the device in the language', () => {
        expect(html).to.include('Acme ID').and.include('Photo Album');
        expect(html).to.include(locale === 'de' ? 'Chrome auf iPhone' : 'Chrome on iPhone');
        expect(mail.text).to.include(locale === 'de' ? 'Chrome auf iPhone' : 'Chrome on iPhone');
      });

      it('is written in the language, all of it', () => {
        expect(mail.html).to.include(`lang="${locale}"`);
        if (locale === 'de') {
          expect(html).to.include('Anmelden').and.include('kopieren Sie diesen Link');
          expect(html).not.to.match(/\b(Sign in|copy this link|requested)\b/);
        } else {
          expect(html).to.include('Sign in').and.include('copy this link');
        }
      });
    });
  }

  it('shows the logo instead of the name when one is configured', () => {
    const branded = loginMailComposer(new Templates(viewsDir, new Messages(localesDir)), { productName: 'Acme ID', color: '#3b3bd6', logoUrl: 'https://id.example.com/logo.png' });
    const mail = branded({ ...details, locale: 'en' });
    expect(mail.html).to.include('<img src="https://id.example.com/logo.png" alt="Acme ID"');
  });
});
