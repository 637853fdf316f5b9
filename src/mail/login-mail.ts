import type { Templates } from '../shared/templates.js';
import { describeUserAgent } from '../shared/user-agent.js';
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
}

/** Renders the sign-in email (subject, text and HTML) from `views/mail/login/`. */
export function loginMailComposer(templates: Templates, productName: string): (details: LoginMailDetails) => MailMessage {
  return (details) => {
    const data = {
      productName,
      clientName: details.clientName,
      link: details.link,
      code: details.code,
      expiresInMinutes: details.expiresInMinutes,
      requestedAt: new Date(details.requestedAt).toUTCString(),
      device: details.userAgent ? describeUserAgent(details.userAgent) : 'an unknown device',
      ip: details.ip ?? 'an unknown address',
    };
    return {
      to: details.to,
      subject: templates.render('mail/login/subject', data).trim(),
      text: templates.render('mail/login/text', data),
      html: templates.render('mail/login/html', data),
    };
  };
}
