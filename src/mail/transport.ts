import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { MailMessage } from './message.js';

export interface MailTransport {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/**
 * What a failed send says. `recipient`: the relay refused this recipient (a 5xx answer to RCPT TO,
 * e.g. 550 no such user): another attempt will not change that, the message is given up.
 * `relay`: our relay refused us, not the recipient (535 credentials refused, a 5xx greeting, MAIL
 * FROM or DATA answer, e.g. 554 relaying denied, or no usable login): that is ours to fix, so the
 * message is kept and retried, and operators are alarmed (`stage` says where it failed).
 * `transient`: a 4xx answer, a refused or lost connection, a time-out: retried.
 */
export type SendFailure = { kind: 'recipient' } | { kind: 'relay'; stage: RelayStage } | { kind: 'transient' };
export type RelayStage = 'auth' | 'session' | 'sender' | 'data';

export function sendFailure(error: unknown): SendFailure {
  const e = error as { responseCode?: number; command?: string; code?: string };
  const code = e?.responseCode;
  const permanent = typeof code === 'number' && code >= 500 && code < 600;
  if (permanent && e.command === 'RCPT TO') return { kind: 'recipient' };
  if (permanent || e?.code === 'EAUTH') return { kind: 'relay', stage: relayStage(e?.command, e?.code) };
  return { kind: 'transient' };
}

function relayStage(command: string | undefined, code: string | undefined): RelayStage {
  if (code === 'EAUTH' || command?.startsWith('AUTH')) return 'auth';
  if (command === 'MAIL FROM') return 'sender';
  if (command === 'DATA') return 'data';
  return 'session';
}

/**
 * RFC 5321 §4.5.3.2: a client should wait up to 10 minutes for the answer to the end of the data;
 * a server may take that long to take responsibility for the message, and a client that gives up
 * sooner sends it again although it was accepted. Every answer is waited for that long; connecting
 * and the greeting (a relay that is down or hung) are bounded by SMTP_TIMEOUT_SECONDS.
 */
export const SMTP_REPLY_TIMEOUT_MS = 10 * 60_000;

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
    // seconds, not nodemailer's minutes: a server that is down or does not greet must not hold the worker
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: SMTP_REPLY_TIMEOUT_MS,
    ...(options.dkim ? { dkim: options.dkim } : {}),
  } as SMTPTransport.Options);
  return {
    async send(message) {
      await transporter.sendMail({ from, to: message.to, subject: message.subject, text: message.text, html: message.html, messageId: message.messageId });
    },
    close: () => transporter.close(),
  };
}

/** The domain of an address like `Name <user@example.com>` (the right side of our Message-IDs). */
export function senderDomain(from: string): string {
  return /@([^>\s]+)>?\s*$/.exec(from)?.[1]?.toLowerCase() ?? 'localhost';
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
      const info = await transporter.sendMail({ from, to: message.to, subject: message.subject, text: message.text, html: message.html, messageId: message.messageId });
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
