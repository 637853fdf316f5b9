import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

export interface HttpServerOptions {
  /** the whole request, headers and body, must arrive within this (else 408 and the connection closes) */
  requestTimeoutMs: number;
}

export interface HttpServer {
  readonly server: Server;
  /**
   * Stops accepting, answers the requests under way with `Connection: close`, closes each
   * connection once it is idle, and resolves when none is left; after `graceMs` the remaining
   * ones are cut.
   */
  drain(graceMs: number): Promise<void>;
}

/** The headers of a request never need long: they are a few hundred bytes. */
const HEADERS_TIMEOUT_MS = 10_000;

/**
 * During shutdown a kept-alive connection that is idle may be carrying a request already on its
 * way: it is kept this long, so that request is answered (with `Connection: close`) rather than
 * met with a reset, and closed only if nothing came. A client that sends later has the same race
 * it has with the idle time-out at any other time.
 */
const IDLE_LINGER_MS = 1_000;

interface Connection {
  /** responses not yet finished (one, or more when requests are pipelined) */
  readonly responses: Set<ServerResponse>;
  /** bytes arrived while no request was being answered: the next request is on its way */
  receiving: boolean;
  linger?: NodeJS.Timeout;
}

/**
 * Node's HTTP server with the limits of an identity provider and a shutdown that cuts nothing.
 * Node's defaults let a request take 300 s (a body shorter than its Content-Length held the
 * connection that long) and look for late ones every 30 s; its `close()` drops idle kept-alive
 * connections at once, so a request a client had just sent on one met a reset (ECONNRESET).
 */
export function httpServer(listener: (req: IncomingMessage, res: ServerResponse) => void, options: HttpServerOptions): HttpServer {
  const server = createServer({
    requestTimeout: options.requestTimeoutMs,
    headersTimeout: Math.min(HEADERS_TIMEOUT_MS, options.requestTimeoutMs),
    connectionsCheckingInterval: Math.min(1_000, options.requestTimeoutMs),
  });
  const connections = new Map<Socket, Connection>();
  let draining = false;

  const idle = (c: Connection) => c.responses.size === 0 && !c.receiving;
  const closeLater = (socket: Socket, c: Connection) => {
    clearTimeout(c.linger);
    c.linger = setTimeout(() => {
      if (idle(c)) socket.end();
    }, IDLE_LINGER_MS);
  };

  server.on('connection', (socket: Socket) => {
    const c: Connection = { responses: new Set(), receiving: false };
    connections.set(socket, c);
    socket.on('data', () => {
      if (c.responses.size === 0) c.receiving = true;
    });
    socket.once('close', () => {
      clearTimeout(c.linger);
      connections.delete(socket);
    });
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const c = connections.get(socket);
    if (c) {
      c.receiving = false;
      c.responses.add(res);
      clearTimeout(c.linger);
      res.once('close', () => {
        c.responses.delete(res);
        if (draining && idle(c)) closeLater(socket, c);
      });
    }
    // the client learns with this answer that the connection ends; Node closes it after
    if (draining) res.setHeader('Connection', 'close');
    listener(req, res);
  });

  return {
    server,
    drain(graceMs) {
      draining = true;
      // net.Server's close: stop listening, and call back once every connection has ended
      // (http.Server's would also drop the idle ones at once, see above)
      const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
      for (const [socket, c] of connections) {
        for (const res of c.responses) if (!res.headersSent) res.setHeader('Connection', 'close');
        if (idle(c)) closeLater(socket, c);
      }
      const cut = setTimeout(() => server.closeAllConnections(), graceMs);
      return closed.finally(() => clearTimeout(cut));
    },
  };
}
