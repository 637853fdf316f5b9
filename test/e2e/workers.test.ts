import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Browser } from '../support/browser.js';
import { freePort, runCli, ServerProcess, statusOnNewConnection } from '../support/cli.js';
import { discover, exchangeCode, REDIRECT_URI, startAuthorization } from '../support/relying-party.js';

/** Live child processes of `pid` (from the parent pids in /proc). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === pid && state !== 'Z') found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}


function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
}

/**
 * WORKERS=2: a supervisor and two `sesame dev` workers sharing the port and the database. All
 * state lives in the database, so a sign-in may hop between workers from one request to the next.
 */
describe('sesame dev with WORKERS=2', function () {
  this.timeout(90_000);
  let dataDir: string;
  let env: Record<string, string>;
  let server: ServerProcess;
  let issuer: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sesame-workers-'));
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    // development mode (mail printed to the console), as `WORKERS=2 npm start` would run
    env = { DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', ISSUER: issuer, WORKERS: '2' };
    server = new ServerProcess(env);
    await server.waitFor(/Sesame listening/, 45_000);
  });

  after(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs two workers, says once that it listens (with the demo app) and which development defaults it used', () => {
    expect(childrenOf(server.child.pid!)).to.have.length(2);
    expect(count(server.output, /Sesame listening/)).to.equal(1);
    expect(server.output).to.include(`2 worker processes; try the demo app: ${issuer}/demo`);
    expect(count(server.output, /secrets not set/)).to.equal(1);
    expect(count(server.output, /DEVELOPMENT MODE/), 'the banner, from the supervisor only').to.equal(1);
  });

  it('starts the workers with smaller semi-spaces (src/cli/memory.ts)', () => {
    for (const pid of childrenOf(server.child.pid!)) {
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).to.include('--max-semi-space-size=8');
    }
  });

  it('signs several people in at once through either worker, printing each development mail once', async () => {
    const added = await runCli(['clients', 'add', '--name', 'Workers App', '--redirect-uri', REDIRECT_URI, '--public', '--first-party', '--json'], env);
    expect(added.code, added.stderr).to.equal(0);
    const config = await discover(issuer, { clientId: (JSON.parse(added.stdout) as { client_id: string }).client_id });
    const emails = Array.from({ length: 6 }, (_, i) => `worker-${i}@example.com`);
    await Promise.all(emails.map(async (email) => {
      const browser = new Browser(issuer);
      const start = await startAuthorization(config);
      await browser.submit(await browser.get(start.url.toString()), /\/email$/, { email });
      const escaped = email.replace(/[.@]/g, (c) => `\\${c}`);
      const [, link] = await server.waitFor(new RegExp(`development mail to ${escaped}[\\s\\S]*?(http://\\S+/login/verify\\?t=[\\w-]+)`), 30_000);
      const page = await browser.submit(await browser.get(link), '/login/verify');
      const tokens = await exchangeCode(config, start, page.location!);
      expect(tokens.access_token).to.be.a('string');
    }));
    // every mail went out once, though both workers run an outbox worker
    for (const email of emails) expect(count(server.output, new RegExp(`development mail to ${email.replace(/[.@]/g, (c) => `\\${c}`)}`)), email).to.equal(1);
  });

  it('restarts a worker that dies, and keeps answering meanwhile', async () => {
    const [victim] = childrenOf(server.child.pid!);
    process.kill(victim, 'SIGKILL');
    await server.waitFor(/worker exited: restarting it/);
    for (let i = 0; i < 6; i++) expect(await statusOnNewConnection(`${issuer}/healthz`)).to.equal(200);
    await server.waitFor(/worker restarted/, 30_000);
    const workers = childrenOf(server.child.pid!);
    expect(workers).to.have.length(2).and.not.include(victim);
  });

  it('stops every worker on SIGTERM and exits 0', async () => {
    const workers = childrenOf(server.child.pid!);
    expect(workers).to.have.length(2);
    expect(await server.stop('SIGTERM')).to.equal(0);
    expect(workers.filter(alive)).to.deep.equal([]);
    // sesame dev logs readable lines (pino-pretty): a worker's "shutting down", its fields after it
    expect(count(server.output, /INFO: shutting down \{"signal":"SIGTERM","worker":\d\}/), server.output.slice(-3000)).to.be.at.least(2);
  });
});
