import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { MailMessage } from './message.js';

export interface MailTransport {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** An SMTP failure that retrying will not fix (a 5xx answer). */
export function isPermanentFailure(error: unknown): boolean {
  const code = (error as { responseCode?: number })?.responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}

export interface SmtpOptions {
  timeoutSeconds: number;
  dkim?: { domainName: string; keySelector: string; privateKey: string };
}

export function smtpTransport(url: string, from: string, options: SmtpOptions): MailTransport {
  const timeout = options.timeoutSeconds * 1000;
  const transporter = nodemailer.createTransport({
    url,
    // connections are kept open and reused: no TCP and SMTP handshake (and TLS) per message
    pool: true,
    // seconds, not nodemailer's minutes: a hung server must not hold the worker
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout * 2,
    ...(options.dkim ? { dkim: options.dkim } : {}),
  } as SMTPTransport.Options);
  return {
    async send(message) {
      await transporter.sendMail({ from, to: message.to, subject: message.subject, text: message.text, html: message.html });
    },
    close: () => transporter.close(),
  };
}

/**
 * Development transport: no SMTP server needed. Each message is written as an `.eml` file and
 * printed to the console with its link, so a newcomer can sign in on a fresh machine.
 */
export function consoleTransport(from: string, dir: string, print: (text: string) => void): MailTransport {
  const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  mkdirSync(dir, { recursive: true });
  return {
    async send(message) {
      const info = await transporter.sendMail({ from, to: message.to, subject: message.subject, text: message.text, html: message.html });
      const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${info.messageId.replace(/[^A-Za-z0-9]/g, '').slice(0, 12)}.eml`);
      writeFileSync(file, info.message as Buffer);
      print([
        '',
        `──── development mail to ${message.to} ────`,
        `Subject: ${message.subject}`,
        '',
        message.text.trim(),
        '',
        `(saved as ${file})`,
        '────',
        '',
      ].join('\n'));
    },
    close: () => transporter.close(),
  };
}
