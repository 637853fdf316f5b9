import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { receiveMail, type ReceivedMail } from './smtp-sink.js';

/** What a scripted server answers to one RCPT TO: nothing (accept) or an SMTP error reply. */
export type RcptAnswer = { code: number; message: string } | undefined;

/** An SMTP error reply, as smtp-server sends it when a handler calls back with it. */
const smtpError = (reply: { code: number; message: string }) => Object.assign(new Error(reply.message), { responseCode: reply.code });

/**
 * A real SMTP server (smtp-server) that answers by script, on a port the test chooses (so a test can
 * first point Sesame at a closed port, then open a server there). It records every RCPT TO it was
 * asked, in order, and every message it accepted.
 */
export class ScriptedSmtp {
  readonly messages: ReceivedMail[] = [];
  /** every RCPT TO address, including refused ones, in order */
  readonly rcptAttempts: string[] = [];
  port = 0;
  #server: SMTPServer;

  constructor(answer: (address: string, attempt: number) => RcptAnswer = () => undefined) {
    this.#server = new SMTPServer({
      authOptional: true,
      // close() waits this long for the connections a client keeps open (smtp-server's default: 30 s)
      closeTimeout: 100,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onRcptTo: (address, _session, callback) => {
        this.rcptAttempts.push(address.address);
        const reply = answer(address.address, this.rcptAttempts.filter((a) => a === address.address).length);
        callback(reply && smtpError(reply));
      },
      onData: (stream, session, callback) => {
        void receiveMail(stream, session).then((mail) => {
          this.messages.push(mail);
          callback();
        }, callback);
      },
    });
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.#server.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  countTo(address: string): number {
    return this.messages.filter((mail) => mail.to.includes(address)).length;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

export interface HeldConnection {
  readonly openedAt: number;
  closedAt?: number;
  readonly socket: Socket;
}

/** Accepts TCP connections and never says a word: the SMTP greeting never comes. */
export class SilentServer {
  readonly connections: HeldConnection[] = [];
  port = 0;
  #server: Server;

  constructor() {
    this.#server = createServer((socket) => {
      const held: HeldConnection = { openedAt: Date.now(), socket };
      this.connections.push(held);
      socket.on('error', () => {});
      socket.on('close', () => (held.closedAt = Date.now()));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** connections that are open and to which nothing was ever written */
  hanging(): HeldConnection[] {
    return this.connections.filter((c) => c.closedAt === undefined && c.socket.bytesWritten === 0);
  }

  close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** Kept for the files that import it from here: the suite's one helper lives in eventually.ts. */
export { eventually } from './eventually.js';

/** An SMTP error reply a faulty relay gives, or nothing (go on). */
export type Reply = { code: number; message: string } | undefined;

/** What a faulty relay does once it has received a message's data (and kept it). */
export type AfterData = { delayMs?: number; drop?: boolean } | undefined;

export interface Faults {
  /** the greeting of the nth connection: an error reply instead of 220 */
  connect?: (n: number) => Reply;
  /** the answer to AUTH, for the nth login attempt (AUTH is offered only when this is given) */
  auth?: (n: number) => Reply;
  /** the answer to MAIL FROM, for the nth transaction */
  mailFrom?: (n: number) => Reply;
  rcptTo?: (address: string, n: number) => Reply;
  /** for the nth message received: answer late, or drop the connection without answering */
  afterData?: (n: number) => AfterData;
}

/**
 * A relay that misbehaves by script (smtp-server underneath): refuses our credentials, the sender
 * or a recipient, takes its time to answer the end of the data, or drops the connection after it
 * has taken a message. `received` holds every message whose data arrived, whether or not it was
 * then answered: what a real relay would have delivered.
 */
export class FaultySmtp {
  readonly received: ReceivedMail[] = [];
  readonly counts = { connect: 0, auth: 0, mailFrom: 0, data: 0 };
  port = 0;
  #server: SMTPServer;

  constructor(faults: Faults = {}) {
    const refuse = (reply: Reply, callback: (error?: Error | null) => void) => callback(reply && smtpError(reply));
    const rcpt = new Map<string, number>();
    this.#server = new SMTPServer({
      authOptional: true,
      allowInsecureAuth: true,
      closeTimeout: 100,
      disabledCommands: faults.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
      logger: false,
      onConnect: (_session, callback) => refuse(faults.connect?.(++this.counts.connect), callback),
      onAuth: (_auth, _session, callback) => {
        const reply = faults.auth?.(++this.counts.auth);
        if (reply) return callback(smtpError(reply));
        callback(null, { user: 'sesame' });
      },
      onMailFrom: (_address, _session, callback) => refuse(faults.mailFrom?.(++this.counts.mailFrom), callback),
      onRcptTo: (address, _session, callback) => {
        const n = (rcpt.get(address.address) ?? 0) + 1;
        rcpt.set(address.address, n);
        refuse(faults.rcptTo?.(address.address, n), callback);
      },
      onData: (stream, session, callback) => {
        void receiveMail(stream, session).then((mail) => {
          this.received.push(mail);
          const after = faults.afterData?.(++this.counts.data);
          if (after?.drop) {
            // the message is taken, and the answer never leaves: the sender cannot know
            const connections = (this.#server as unknown as { connections: Set<{ id: string; _socket: Socket }> }).connections;
            for (const connection of connections) if (connection.id === session.id) connection._socket.destroy();
            return;
          }
          setTimeout(() => callback(), after?.delayMs ?? 0);
        }, callback);
      },
    });
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.#server.server.address() as AddressInfo).port;
    return this;
  }

  url(credentials?: string): string {
    return `smtp://${credentials ? `${credentials}@` : ''}127.0.0.1:${this.port}`;
  }

  receivedBy(address: string): ReceivedMail[] {
    return this.received.filter((mail) => mail.to.includes(address));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
