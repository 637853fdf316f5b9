import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, LISTEN_PROBE, LISTEN_PROBE_LINE, runCli, ServerProcess, statusOnNewConnection } from '../support/cli.js';
import { TEST_SECRETS } from '../support/test-server.js';

const REQUIRED = ['ISSUER', 'COOKIE_KEYS', 'HMAC_SECRETS', 'SMTP_URL', 'MAIL_FROM'];

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}


/**
 * Production unless told otherwise (Keycloak's `start` / `start-dev`): `sesame serve` is production
 * whatever the environment says, and fails closed; only `sesame dev` is development.
 */
describe('sesame serve is production', function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sesame-modes-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses to start with an empty environment: exit 2, every missing setting named at once, nothing listens or is written', async () => {
    const path = { PATH: process.env.PATH ?? '' };
    for (const env of [path, { ...path, NODE_ENV: 'development' }] as Record<string, string>[]) {
      const result = await runCli(['serve'], env, { bare: true, cwd: dir, nodeArgs: LISTEN_PROBE, timeoutMs: 15_000 });
      expect(result.code, result.stderr).to.equal(2);
      for (const setting of REQUIRED) expect(result.stderr, setting).to.match(new RegExp(`^  - ${setting}: required in production`, 'm'));
      expect(result.stderr).not.to.include(LISTEN_PROBE_LINE);
      expect(result.stderr).not.to.match(/\n\s+at /);
      expect(result.stdout).to.equal('');
      expect(readdirSync(dir), 'no data folder, no development secrets').to.deep.equal([]);
    }
  });

  it('names an http issuer and a bad sender together with what is missing', async () => {
    const result = await runCli(['serve'], { PATH: process.env.PATH ?? '', ISSUER: 'http://id.example.com', MAIL_FROM: 'Example ID' }, { bare: true, cwd: dir, timeoutMs: 15_000 });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.include('  - ISSUER: must be https in production');
    expect(result.stderr).to.match(/^ {2}- MAIL_FROM: must be an address/m);
    for (const setting of ['COOKIE_KEYS', 'HMAC_SECRETS', 'SMTP_URL']) expect(result.stderr).to.include(`  - ${setting}: required in production`);
  });

  const production = (port: number, extra: Record<string, string> = {}) => ({
    ISSUER: 'https://id.sesame.example',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dir,
    ...TEST_SECRETS,
    SMTP_URL: 'smtp://127.0.0.1:9',
    MAIL_FROM: 'Example ID <no-reply@sesame.example>',
    ...extra,
  });

  it('starts with a complete production configuration: no banner, no demo app, metrics off and said so once', async () => {
    const server = new ServerProcess(production(0), { command: 'serve', nodeArgs: LISTEN_PROBE });
    try {
      const { issuer, origin } = await server.listening();
      expect(issuer, 'the issuer is the operator\'s, whatever port is bound').to.equal('https://id.sesame.example');
      expect(server.output, 'the probe sees a server listen').to.include(LISTEN_PROBE_LINE);
      expect(server.output).not.to.include('DEVELOPMENT MODE');
      expect(count(server.output, 'METRICS_TOKEN not set: /metrics is off')).to.equal(1);
      expect((await fetch(`${origin}/healthz`)).status).to.equal(200);
      expect((await fetch(`${origin}/metrics`)).status).to.equal(404);
      expect((await fetch(`${origin}/demo`)).status).to.equal(404);
    } finally {
      await server.stop();
    }
  });

  it('runs its workers in production too (WORKERS=2)', async () => {
    const port = await freePort();
    const server = new ServerProcess(production(port, { WORKERS: '2' }), { command: 'serve' });
    try {
      await server.waitFor(/Sesame listening/, 45_000);
      expect(server.output).to.include('(2 worker processes)');
      expect(server.output).not.to.include('DEVELOPMENT MODE');
      expect(count(server.output, 'METRICS_TOKEN not set')).to.equal(1);
      // connections go to the workers in turn: each of them answers some of these
      for (let i = 0; i < 6; i++) {
        expect(await statusOnNewConnection(`http://127.0.0.1:${port}/demo`)).to.equal(404);
        expect(await statusOnNewConnection(`http://127.0.0.1:${port}/metrics`)).to.equal(404);
      }
    } finally {
      await server.stop();
    }
  });
});
