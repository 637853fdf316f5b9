import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { HttpClient, StatusCounter } from '../bench/http-client.js';

/**
 * A server that answers the first `answered` requests of each connection and then closes the
 * connection without answering: what a kept-alive connection looks like when the server's idle
 * timeout fires just as the next request is written to it.
 */
async function closingServer(answered: number): Promise<{ server: Server; origin: string; connections: () => number }> {
  const seen = new Map<Socket, number>();
  const server = createServer((req, res) => {
    const n = (seen.get(req.socket) ?? 0) + 1;
    seen.set(req.socket, n);
    if (n > answered) {
      req.socket.destroy();
      return;
    }
    res.end(`answer ${n} on connection ${[...seen.keys()].indexOf(req.socket) + 1}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => seen.size };
}

describe('bench HttpClient', () => {
  let server: Server | undefined;
  let client: HttpClient | undefined;
  afterEach(async () => {
    client?.close();
    if (server) await new Promise((resolve) => server!.close(resolve));
  });

  it('sends a request again on a new connection when the kept-alive one is closed under it after being idle', async () => {
    const s = await closingServer(1);
    server = s.server;
    const counter = new StatusCounter();
    // (the servers close after 5 s idle; here "idle long enough to be closed" is 100 ms)
    client = new HttpClient(s.origin, counter, 1, 100);
    expect((await client.request('/first')).body).to.equal('answer 1 on connection 1');
    await new Promise((resolve) => setTimeout(resolve, 150));
    const second = await client.request('/second', { method: 'POST', body: 'x=1' });
    expect(second.status).to.equal(200);
    expect(second.body).to.equal('answer 1 on connection 2');
    expect(counter.resent).to.equal(1);
    expect(s.connections()).to.equal(2);
  });

  it('fails, without sending again, when a busy kept-alive connection is closed (a server that died)', async () => {
    const s = await closingServer(1);
    server = s.server;
    const counter = new StatusCounter();
    client = new HttpClient(s.origin, counter, 1, 100);
    await client.request('/first');
    let error: NodeJS.ErrnoException | undefined;
    await client.request('/second').catch((err: NodeJS.ErrnoException) => (error = err));
    expect(error?.code).to.equal('ECONNRESET');
    expect(counter.resent).to.equal(0);
  });

  it('fails, without sending again, when a new connection is closed without an answer', async () => {
    const s = await closingServer(0);
    server = s.server;
    const counter = new StatusCounter();
    client = new HttpClient(s.origin, counter, 1);
    let error: NodeJS.ErrnoException | undefined;
    await client.request('/').catch((err: NodeJS.ErrnoException) => (error = err));
    expect(error?.code).to.equal('ECONNRESET');
    expect(counter.resent).to.equal(0);
    expect(s.connections()).to.equal(1);
  });
});
