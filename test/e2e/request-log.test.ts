import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { createLogger } from '../../src/shared/logger.js';
import { ServerProcess } from '../support/cli.js';
import { eventually } from '../support/eventually.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

interface RequestLine {
  msg: string;
  path: string;
  status: number;
  ip?: string;
  userAgent?: string;
  reason?: string;
  reasonDescription?: string;
}

const UA = 'RequestLogTest/1.0 (+https://example.test)';

async function serverLogging(env: Record<string, string>): Promise<{ server: TestServer; lines: RequestLine[] }> {
  const lines: RequestLine[] = [];
  const sink = new Writable({ write(chunk, _encoding, done) { for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line)); done(); } });
  const server = await startTestServer('sqlite', env, { logger: createLogger('info', sink) });
  return { server, lines };
}

async function lineFor(lines: RequestLine[], path: string): Promise<RequestLine> {
  let found: RequestLine | undefined;
  await eventually(async () => {
    found = lines.find((line) => line.msg === 'request' && line.path === path);
    expect(found, `a request line for ${path}`).to.not.equal(undefined);
  });
  return found!;
}

describe('request logs: client address (as trusted), user agent, and why a 4xx', function () {
  this.timeout(60_000);

  it('without TRUST_PROXY the address is the peer\'s, whatever X-Forwarded-For says; the user agent is kept', async () => {
    const { server, lines } = await serverLogging({});
    try {
      await fetch(`${server.issuer}/healthz`, { headers: { 'x-forwarded-for': '203.0.113.9', 'user-agent': UA } });
      const line = await lineFor(lines, '/healthz');
      expect(line.ip).to.match(/^(::ffff:)?127\.0\.0\.1$/);
      expect(line.userAgent).to.equal(UA);
      expect(line).not.to.have.property('reason');
    } finally {
      await server.close();
    }
  });

  it('with TRUST_PROXY the address is the one the proxy appended, not what the client wrote before it', async () => {
    const { server, lines } = await serverLogging({ TRUST_PROXY: 'true' });
    try {
      await fetch(`${server.issuer}/healthz`, { headers: { 'x-forwarded-for': '198.51.100.66, 203.0.113.9', 'user-agent': UA } });
      expect((await lineFor(lines, '/healthz')).ip).to.equal('203.0.113.9');
    } finally {
      await server.close();
    }
  });

  it('a 4xx carries the error and description it was answered with: JSON, oidc-provider\'s error page, our error page', async () => {
    const { server, lines } = await serverLogging({});
    try {
      const token = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=authorization_code&code=x&client_id=nobody' });
      expect(token.status).to.be.within(400, 499);
      const tokenLine = await lineFor(lines, '/token');
      expect(tokenLine.reason).to.equal((await token.json() as { error: string }).error);
      expect(tokenLine.reasonDescription).to.be.a('string').and.not.equal('');

      const auth = await fetch(`${server.issuer}/auth?client_id=nobody&response_type=code&scope=openid`, { headers: { accept: 'text/html' } });
      expect(auth.status).to.equal(400);
      const authLine = await lineFor(lines, '/auth');
      expect(authLine.reason).to.equal('invalid_client');

      const page = await fetch(`${server.issuer}/interaction/no-such-uid`, { headers: { accept: 'text/html' } });
      expect(page.status).to.be.within(400, 499);
      expect((await lineFor(lines, '/interaction/no-such-uid')).reason).to.be.a('string').and.not.equal('');
    } finally {
      await server.close();
    }
  });
});

describe('console logs: readable in development, JSON in production', function () {
  this.timeout(60_000);

  it('sesame dev prints lines for a person (pino-pretty), not JSON', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sesame-pretty-'));
    const server = new ServerProcess({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' });
    try {
      await server.waitFor(/INFO.*Sesame listening/, 30_000);
      const { origin } = await server.listening();
      await fetch(`${origin}/healthz`, { headers: { 'user-agent': UA } });
      await server.waitFor(/INFO.*request/);
      const logLines = server.output.split('\n').filter((line) => /^\[\d\d:\d\d:\d\d\] (INFO|WARN|ERROR)/.test(line));
      expect(logLines.length).to.be.at.least(3);
      expect(server.output.split('\n').filter((line) => line.startsWith('{"level"')), 'no JSON log lines').to.deep.equal([]);
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
