import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  from: string;
  raw: string;
  parsed: ParsedMail;
}

/** A message as an SMTP server of the tests' reads it from DATA: its envelope, raw text and parse. */
export async function receiveMail(stream: Readable, session: SMTPServerSession): Promise<ReceivedMail> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  return {
    to: session.envelope.rcptTo.map((r) => r.address),
    from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    raw,
    parsed: await simpleParser(raw),
  };
}

/** Starts an SMTP server on a free port of 127.0.0.1 and gives the port (the tests' sink and the bench's). */
export async function listenOnLoopback(server: SMTPServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.server.address() as AddressInfo).port;
}

export const smtpUrl = (port: number): string => `smtp://127.0.0.1:${port}`;

/** A real SMTP server on a free port that keeps what it receives, for tests to read. */
export class SmtpSink {
  readonly messages: ReceivedMail[] = [];
  #server: SMTPServer;
  #waiters: { match: (mail: ReceivedMail) => boolean; resolve: (mail: ReceivedMail) => void }[] = [];
  port = 0;

  constructor() {
    this.#server = new SMTPServer({
      authOptional: true,
      // close() waits this long for the connections a client keeps open (smtp-server's default: 30 s)
      closeTimeout: 100,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData: (stream, session, callback) => {
        void receiveMail(stream, session).then((mail) => {
          this.messages.push(mail);
          this.#waiters = this.#waiters.filter((waiter) => {
            if (!waiter.match(mail)) return true;
            waiter.resolve(mail);
            return false;
          });
          callback();
        }, callback);
      },
    });
  }

  async start(): Promise<this> {
    this.port = await listenOnLoopback(this.#server);
    return this;
  }

  get url(): string {
    return smtpUrl(this.port);
  }

  /** The next message to this address (or one already received and not yet taken). */
  waitFor(address: string, timeoutMs = 10_000): Promise<ReceivedMail> {
    const match = (mail: ReceivedMail) => mail.to.includes(address);
    const index = this.messages.findIndex(match);
    if (index >= 0) return Promise.resolve(this.messages.splice(index, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no mail to ${address} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push({
        match,
        resolve: (mail) => {
          clearTimeout(timer);
          this.messages.splice(this.messages.indexOf(mail), 1);
          resolve(mail);
        },
      });
    });
  }

  countTo(address: string): number {
    return this.messages.filter((mail) => mail.to.includes(address)).length;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** The sign-in link and code in a login email's text part. */
export function loginDetails(mail: ReceivedMail): { link: string; code: string } {
  const text = mail.parsed.text ?? '';
  const link = /https?:\/\/\S+\/login\/verify\?t=[A-Za-z0-9_-]+/.exec(text)?.[0];
  // whatever the language: the code is the 6 digits ending the line that introduces it
  const code = /:\s*(\d{6})\s*$/m.exec(text)?.[1];
  if (!link || !code) throw new Error(`no link or code in mail:\n${text}`);
  return { link, code };
}
