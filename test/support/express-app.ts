import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A relying app under test, on its own origin. */
export interface RunningApp {
  origin: string;
  close(): Promise<void>;
}

/**
 * Starts an express app on a free port of every loopback address, so that `localhost` works
 * whether it resolves to IPv4 or IPv6. Its routes may be added afterwards: the origin is needed
 * first, to register the app's client with its redirect URIs.
 */
export async function listenOnLocalhost(app: { listen(port: number, callback: () => void): Server }): Promise<RunningApp> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, () => resolve(s));
  });
  return {
    origin: `http://localhost:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
