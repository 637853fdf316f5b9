import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a server (PostgreSQL here) that a test can cut, as a database restart or
 * a network failure would: every open connection is reset and new ones are refused until it is
 * restored, on the same port.
 */
export class TcpProxy {
  port = 0;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  /** connections are taken and held, never forwarded: a server that does not answer */
  #hanging = false;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(port = 0): Promise<this> {
    const server = createServer((client) => {
      if (this.#hanging) {
        this.#sockets.add(client);
        client.on('error', () => {});
        client.on('close', () => this.#sockets.delete(client));
        return;
      }
      const upstream = connect(this.target);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => this.#sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
    return this;
  }

  /** Resets every connection and refuses new ones. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.resetAndDestroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Accepts connections again, on the same port (forwarding them, or holding them with `hang`). */
  restore({ hang = false } = {}): Promise<this> {
    this.#hanging = hang;
    return this.start(this.port);
  }

  async close(): Promise<void> {
    await this.cut();
  }
}
