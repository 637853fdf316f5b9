import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess } from '../support/cli.js';
import { holdRequest, rawRequest } from '../support/held-request.js';
import { startTestServer } from '../support/test-server.js';
import { TEST_SECRETS } from '../support/test-server.js';

/** `sesame serve` in a process of its own, on a fresh SQLite database. */
async function serveProcess(env: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'sesame-http-'));
  const server = new ServerProcess({
    DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', ISSUER: 'http://127.0.0.1:0', LOG_LEVEL: 'info', ...TEST_SECRETS, ...env,
  });
  const { port } = await server.listening();
  return {
    server,
    port,
    async stop() {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      await server.exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface Outcome {
  status?: number;
  connectionClose?: boolean;
  error?: string;
}

/** One GET on a kept-alive connection of `agent`. */
function get(agent: Agent, port: number, path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: { accept: 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, connectionClose: res.headers.connection === 'close' }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end();
  });
}

describe('SIGTERM under keep-alive load (sesame serve)', function () {
  this.timeout(60_000);

  it('answers every request it took, says Connection: close, closes connections as they go idle, exits 0: no request meets a reset', async () => {
    const { server, port, stop } = await serveProcess({ SHUTDOWN_GRACE_SECONDS: '10' });
    try {
      const clients = 8;
      const outcomes: Outcome[] = [];
      let signalled = false;
      let afterSignal = 0;
      // each client sends its requests one after the other on one kept-alive connection, as a
      // relying app's HTTP client or a load balancer does, until the server is gone
      const loops = Array.from({ length: clients }, async (_, i) => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        try {
          for (let n = 0; n < 3_000; n++) {
            const outcome = await get(agent, port, n % 2 ? '/healthz' : '/.well-known/openid-configuration');
            outcomes.push(outcome);
            if (signalled && !outcome.error) afterSignal++;
            if (outcome.error) return;
            if (!signalled && outcomes.length >= 200 && i === 0) {
              signalled = true;
              server.child.kill('SIGTERM');
            }
          }
        } finally {
          agent.destroy();
        }
      });
      await Promise.all(loops);
      const errors = outcomes.filter((o) => o.error).map((o) => o.error);
      const summary = `${outcomes.length} requests, ${afterSignal} answered after SIGTERM, errors: ${JSON.stringify(errors)}`;
      expect(signalled, summary).to.equal(true);
      expect(errors.filter((e) => e !== 'ECONNREFUSED'), summary).to.deep.equal([]);
      expect(outcomes.filter((o) => o.status !== undefined && o.status !== 200), summary).to.deep.equal([]);
      expect(outcomes.some((o) => o.connectionClose), `no answer said Connection: close; ${summary}`).to.equal(true);
      const code = await Promise.race([server.exited, new Promise((resolve) => setTimeout(() => resolve('still running after 15 s'), 15_000))]);
      expect(code, server.output.slice(-2000)).to.equal(0);
    } finally {
      await stop();
    }
  });
});

describe('slow requests and unknown methods', function () {
  this.timeout(60_000);

  it('closes a request whose body never arrives in full within HTTP_REQUEST_TIMEOUT_SECONDS (408), and one whose headers never end', async () => {
    const { port, stop } = await serveProcess({ HTTP_REQUEST_TIMEOUT_SECONDS: '2' });
    try {
      const started = Date.now();
      // 10 bytes of the 1000 its Content-Length announces, then nothing
      const body = await holdRequest(port, `POST /interaction/abc/email HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=a%40b`, '');
      const headers = await holdRequest(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: application/json\r\n`, '');
      const bounded = <T>(promise: Promise<T>) => Promise.race([promise, new Promise<'still open after 10 s'>((resolve) => setTimeout(() => resolve('still open after 10 s'), 10_000))]);
      const [bodyResult, headersResult] = await Promise.all([bounded(body.result), bounded(headers.result)]);
      const elapsed = Date.now() - started;
      expect(bodyResult).to.include({ status: 408 });
      expect(headersResult).to.include({ status: 408 });
      // 2 s, checked every second
      expect(elapsed).to.be.below(5_000);
      body.socket.destroy();
      headers.socket.destroy();
    } finally {
      await stop();
    }
  });

  it('answers TRACE, PROPFIND and other methods nothing implements with 405 and Allow, on its own pages and oidc-provider\'s endpoints', async () => {
    const server = await startTestServer('sqlite');
    try {
      const port = Number(new URL(server.issuer).port);
      const cases: [string, string, string][] = [
        ['TRACE', '/interaction/abc', 'HEAD, GET'],
        ['PROPFIND', '/login/verify', 'HEAD, GET, POST'],
        ['TRACE', '/healthz', 'HEAD, GET'],
        ['TRACE', '/token', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'],
        ['PROPFIND', '/.well-known/openid-configuration', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'],
        ['MKCOL', '/auth', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'],
      ];
      for (const [method, path, allow] of cases) {
        const answer = await rawRequest(port, `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
        expect(answer.status, `${method} ${path}`).to.equal(405);
        const res = await fetch(`${server.issuer}${path}`, { method: method === 'TRACE' ? 'PROPFIND' : method });
        expect(res.status, `${method} ${path} (fetch)`).to.equal(405);
        if (method !== 'TRACE') expect(res.headers.get('allow'), `${method} ${path}`).to.equal(allow);
      }
    } finally {
      await server.close();
    }
  });
});
