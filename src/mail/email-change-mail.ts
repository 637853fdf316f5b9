import type { Templates } from '../shared/templates.js';
import { formatTime, type MailBrand } from './login-mail.js';
import type { MailMessage } from './message.js';

/** To the new address: the link that confirms the change. */
export interface EmailChangeMailDetails {
  to: string;
  oldEmail: string;
  link: string;
  requestedAt: number;
  expiresAt: number;
  locale: string;
}

/** To the old address, once the change is done. */
export interface EmailChangedMailDetails {
  to: string;
  newEmail: string;
  changedAt: number;
  locale: string;
}

export interface EmailChangeMails {
  confirmation(details: EmailChangeMailDetails): MailMessage;
  notice(details: EmailChangedMailDetails): MailMessage;
}

/** Renders both emails of an address change from `views/mail/email-change/` and `views/mail/email-changed/`. */
export function emailChangeMailComposer(templates: Templates, brand: MailBrand): EmailChangeMails {
  const base = (locale: string) => ({ locale, productName: brand.productName, brandColor: brand.color, brandLogoUrl: brand.logoUrl });
  const render = (folder: string, to: string, data: Record<string, unknown>): MailMessage => ({
    to,
    subject: templates.render(`mail/${folder}/subject`, data).trim(),
    text: templates.render(`mail/${folder}/text`, data),
    html: templates.render(`mail/${folder}/html`, data),
  });
  return {
    confirmation: (details) => render('email-change', details.to, {
      ...base(details.locale),
      oldEmail: maskEmail(details.oldEmail),
      newEmail: details.to,
      link: details.link,
      requestedAt: formatTime(details.requestedAt, details.locale),
      validUntil: formatTime(details.expiresAt, details.locale),
    }),
    notice: (details) => render('email-changed', details.to, {
      ...base(details.locale),
      // the old address may no longer belong to the person: it learns that a change happened and
      // where to look, not the whole new address
      newEmail: maskEmail(details.newEmail),
      changedAt: formatTime(details.changedAt, details.locale),
    }),
  };
}

/** `alice@example.com` → `a***@example.com`: enough for the owner to recognise, not a usable address. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${email[0]}***${email.slice(at)}`;
}
