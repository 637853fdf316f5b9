import { performance } from 'node:perf_hooks';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { listenOnLoopback, smtpUrl } from '../support/smtp-sink.js';

export interface BenchMail {
  /** performance.now() when the sink accepted the message (end of DATA) */
  acceptedAt: number;
  link: string;
}

/**
 * The SMTP server Sesame sends to, in the benchmark's own process. It timestamps each message
 * when its DATA ends (the moment the SMTP transaction succeeds for the sender) and hands the
 * sign-in link to whoever waits for that address. Addresses are unique per outstanding sign-in.
 */
export class MailSink {
  readonly #waiters = new Map<string, (mail: BenchMail) => void>();
  readonly #early = new Map<string, BenchMail>();
  readonly #server: SMTPServer;
  received = 0;
  port = 0;

  constructor() {
    this.#server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      size: 1024 * 1024,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const acceptedAt = performance.now();
          // read before answering: smtp-server resets the envelope for the next transaction
          const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
          callback();
          this.received++;
          // an unreadable mail is handed over with no link: the sign-in that waits for it fails loudly
          void extractLink(Buffer.concat(chunks).toString('utf8')).catch(() => '').then((link) => {
            for (const address of to) this.#deliver(address, { acceptedAt, link });
          });
        });
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

  waitFor(address: string, timeoutMs: number): Promise<BenchMail> {
    const key = address.toLowerCase();
    const early = this.#early.get(key);
    if (early) {
      this.#early.delete(key);
      return Promise.resolve(early);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(key);
        reject(new Error(`no mail to ${address} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(key, (mail) => {
        clearTimeout(timer);
        resolve(mail);
      });
    });
  }

  #deliver(address: string, mail: BenchMail): void {
    const waiter = this.#waiters.get(address);
    if (waiter) {
      this.#waiters.delete(address);
      waiter(mail);
    } else {
      this.#early.set(address, mail);
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

const LINK = /https?:\/\/[^\s"<>]+\/login\/verify\?t=[A-Za-z0-9_-]+/;

/** The link from the raw message: cheap quoted-printable undoing first, a full MIME parse if that fails. */
async function extractLink(raw: string): Promise<string> {
  const cheap = LINK.exec(raw.replace(/=\r?\n/g, '').replace(/=3D/gi, '='))?.[0];
  if (cheap) return cheap;
  const parsed = await simpleParser(raw);
  const link = LINK.exec(parsed.text ?? '')?.[0];
  if (!link) throw new Error('no sign-in link in the mail');
  return link;
}
