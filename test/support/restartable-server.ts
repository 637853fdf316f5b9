import { createServer, type Server } from 'node:http';
import { loadConfig } from '../../src/config/load.js';
import { createSesame, type Sesame } from '../../src/main.js';
import type { OutboxOptions } from '../../src/mail/outbox.js';
import type { Logger } from '../../src/shared/logger.js';
import type { TestDatabase } from './databases.js';
import { testEnv } from './test-server.js';

export interface RestartableOptions {
  port: number;
  database: TestDatabase;
  smtpUrl: string;
  env?: Record<string, string>;
  logger?: Logger;
  outbox?: OutboxOptions;
}

/**
 * The whole server as test-server.ts builds it, but on a port the test chose, so that it can be
 * stopped and started again at the same issuer on the same database (a restart, as an operator
 * does one). Each start is a new process-like instance: new Sesame, new provider, new HTTP server.
 */
export class RestartableServer {
  readonly issuer: string;
  #server: Server | undefined;
  #sesame: Sesame | undefined;
  starts = 0;

  constructor(private readonly options: RestartableOptions) {
    this.issuer = `http://127.0.0.1:${options.port}`;
  }

  get sesame(): Sesame {
    if (!this.#sesame) throw new Error('the server is not running');
    return this.#sesame;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  async start(): Promise<Sesame> {
    if (this.#server) throw new Error('already running');
    const { database, port } = this.options;
    const config = loadConfig({
      env: testEnv({ issuer: this.issuer, database, smtpUrl: this.options.smtpUrl }, { PORT: String(port), HOST: '127.0.0.1', ...this.options.env }),
      mode: 'test',
    });
    const sesame = await createSesame(config, { outbox: { pollIntervalMs: 200, baseBackoffMs: 200, ...this.options.outbox }, logger: this.options.logger });
    const server = createServer(sesame.callback);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      });
    } catch (error) {
      await sesame.close();
      throw error;
    }
    sesame.start();
    this.#server = server;
    this.#sesame = sesame;
    this.starts++;
    return sesame;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    const sesame = this.#sesame;
    this.#server = undefined;
    this.#sesame = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await sesame?.close();
  }

  async restart(): Promise<Sesame> {
    await this.stop();
    return this.start();
  }
}
