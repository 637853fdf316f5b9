import type { Templates } from '../shared/templates.js';
import { deviceName } from '../shared/user-agent.js';
import type { MailMessage } from './message.js';

export interface LoginMailDetails {
  to: string;
  link: string;
  code: string;
  clientName: string;
  requestedAt: number;
  expiresInMinutes: number;
  ip?: string;
  userAgent?: string;
  locale: string;
}

export interface MailBrand {
  productName: string;
  color: string;
  logoUrl?: string;
}

/** Renders the sign-in email (subject, text and HTML) from `views/mail/login/`, in the person's language. */
export function loginMailComposer(templates: Templates, brand: MailBrand): (details: LoginMailDetails) => MailMessage {
  return (details) => {
    const { messages } = templates;
    const data = {
      locale: details.locale,
      productName: brand.productName,
      brandColor: brand.color,
      brandLogoUrl: brand.logoUrl,
      clientName: details.clientName,
      link: details.link,
      code: details.code,
      expiresInMinutes: details.expiresInMinutes,
      requestedAt: formatTime(details.requestedAt, details.locale),
      device: deviceName(details.userAgent, (key, params) => messages.t(details.locale, key, params)),
      place: details.ip ?? messages.t(details.locale, 'mail.unknown_place'),
    };
    return {
      to: details.to,
      subject: templates.render('mail/login/subject', data).trim(),
      text: templates.render('mail/login/text', data),
      html: templates.render('mail/login/html', data),
    };
  };
}

/** "28 Nov 2026, 18:02 UTC": times are shown in UTC, since the server cannot know the reader's zone. */
export function formatTime(at: number, locale: string): string {
  return `${timeFormat(locale).format(at)} UTC`;
}

// Building an Intl.DateTimeFormat costs far more than using one (it showed in the sign-in profile):
// one per locale, and locales are the few the pages and mails speak
const timeFormats = new Map<string, Intl.DateTimeFormat>();

function timeFormat(locale: string): Intl.DateTimeFormat {
  let format = timeFormats.get(locale);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
    if (timeFormats.size < 32) timeFormats.set(locale, format);
  }
  return format;
}
