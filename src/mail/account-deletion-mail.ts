import type { DeletionMailDetails } from '../accounts/account-deletion.js';
import type { Templates } from '../shared/templates.js';
import { formatTime, type MailBrand } from './login-mail.js';
import type { MailMessage } from './message.js';

/** The email that confirms deleting an account, from `views/mail/account-deletion/`. */
export function accountDeletionMailComposer(templates: Templates, brand: MailBrand): (details: DeletionMailDetails) => MailMessage {
  return (details) => {
    const data = {
      locale: details.locale,
      productName: brand.productName,
      brandColor: brand.color,
      brandLogoUrl: brand.logoUrl,
      email: details.to,
      link: details.link,
      requestedAt: formatTime(details.requestedAt, details.locale),
      validUntil: formatTime(details.expiresAt, details.locale),
    };
    return {
      to: details.to,
      subject: templates.render('mail/account-deletion/subject', data).trim(),
      text: templates.render('mail/account-deletion/text', data),
      html: templates.render('mail/account-deletion/html', data),
    };
  };
}
