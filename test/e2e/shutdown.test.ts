import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, findForm } from '../support/browser.js';
import { runCli, ServerProcess } from '../support/cli.js';
import { holdRequest, rawRequest, type RawResult } from '../support/held-request.js';
import { discover, REDIRECT_URI, startAuthorization } from '../support/relying-party.js';
import { TEST_SECRETS } from '../support/test-server.js';

describe('SIGTERM under load (sesame dev)', function () {
  this.timeout(60_000);

  it('finishes every accepted request with its answer, stops accepting, and exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sesame-sigterm-'));
    const env = {
      DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', ISSUER: 'http://127.0.0.1:0', SHUTDOWN_GRACE_SECONDS: '5',
      RATE_LIMIT_IP: 'off', RATE_LIMIT_EMAIL: 'off', LOG_LEVEL: 'info', ...TEST_SECRETS,
    };
    const server = new ServerProcess(env);
    try {
      // the server creates the database; the CLI then adds the app to it (it creates none itself)
      const { issuer, port } = await server.listening();
      const host = `127.0.0.1:${port}`;
      const added = await runCli(['clients', 'add', '--name', 'Load', '--redirect-uri', REDIRECT_URI, '--public', '--first-party', '--json'], env);
      expect(added.code, added.stderr).to.equal(0);
      const clientId = JSON.parse(added.stdout).client_id as string;
      const config = await discover(issuer, { clientId });
      // sign-ins waiting at their email form: cookies and CSRF token ready for a raw POST
      const forms = await Promise.all(Array.from({ length: 10 }, async () => {
        const browser = new Browser(issuer);
        const page = await browser.get((await startAuthorization(config)).url.toString());
        const form = findForm(page.body, /\/email$/);
        const url = new URL(form.action, page.url);
        return { path: url.pathname, cookie: await browser.jar.getCookieString(url.toString()), fields: form.fields };
      }));
      const authorizations = await Promise.all(Array.from({ length: 12 }, async () => (await startAuthorization(config)).url));

      // 50 requests in flight: GETs whose headers are not finished, POSTs whose body is half sent
      const get = (path: string) => holdRequest(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: application/json\r\n`, 'Connection: close\r\n\r\n');
      const post = (form: (typeof forms)[number], i: number) => {
        const body = new URLSearchParams({ ...form.fields, email: `load${i}@example.com` }).toString();
        const half = Math.floor(body.length / 2);
        return holdRequest(port, [
          `POST ${form.path} HTTP/1.1`, `Host: ${host}`, `Cookie: ${form.cookie}`, 'Content-Type: application/x-www-form-urlencoded',
          `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', '', body.slice(0, half),
        ].join('\r\n'), body.slice(half));
      };
      const kinds = [
        ...Array.from({ length: 14 }, () => ({ expected: 200, start: () => get('/.well-known/openid-configuration') })),
        ...Array.from({ length: 14 }, () => ({ expected: 200, start: () => get('/healthz') })),
        ...authorizations.map((url) => ({ expected: 303, start: () => get(`${url.pathname}${url.search}`) })),
        ...forms.map((form, i) => ({ expected: 303, start: () => post(form, i) })),
      ];
      const held = await Promise.all(kinds.map((k) => k.start()));
      expect(held).to.have.length(50);
      // The server accepts connections in the order they queued: a later connection answered
      // means the 50 before it were accepted by the server, not just by the kernel.
      const sentinel = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(sentinel.status).to.equal(200);

      // and more load arriving as the signal does
      const burst = Array.from({ length: 20 }, (_, i) => rawRequest(port, `GET ${i % 2 ? '/healthz' : '/.well-known/openid-configuration'} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
      server.child.kill('SIGTERM');
      await server.waitFor(/shutting down/);
      const late = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(late.error, 'a connection after SIGTERM is refused').to.equal('ECONNREFUSED');

      for (const request of held) request.release();
      const results = await Promise.all(held.map((request) => request.result));
      const summary = results.map((r, i) => `${i}: expected ${kinds[i].expected}, got ${r.status ?? r.error}`);
      expect(results.map((r) => r.status), summary.join('\n')).to.deep.equal(kinds.map((k) => k.expected));

      const answered = await Promise.all(burst);
      const unacceptable = answered.filter((r: RawResult) => (r.status !== undefined
        ? r.status >= 400
        // never accepted: refused, or dropped from the listen queue before the server took it
        : !(r.received === 0 && (r.error === 'ECONNREFUSED' || r.error === 'ECONNRESET'))));
      expect(unacceptable, JSON.stringify(answered)).to.deep.equal([]);

      const code = await Promise.race([server.exited, new Promise((resolve) => setTimeout(() => resolve('still running after 15 s'), 15_000))]);
      expect(code, server.output.slice(-2000)).to.equal(0);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      await server.exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
