import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { settingNames } from '../../src/config/settings.js';
import type { TestDatabase } from '../support/databases.js';

/** Repository root (this file runs as dist/test/bench/processes.js). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SESAME_CLI = join(ROOT, 'dist/src/cli/main.js');
const REFERENCE = join(ROOT, 'dist/test/bench/reference-server.js');
const QUERY_COUNTER = join(ROOT, 'dist/test/bench/query-counter.js');

export const REDIRECT_URI = 'http://127.0.0.1:9/callback';

export interface BenchClient {
  clientId: string;
  clientSecret: string;
}

/** One address of a server under test, with the client registered there. */
export interface Shard {
  origin: string;
  client: BenchClient;
  /** the client for the client_credentials grant (Sesame: a machine client of its own) */
  machine: BenchClient;
}

/**
 * A server under test in its own process(es), with its resource use read from /proc: the root
 * processes and all their descendants (Sesame with WORKERS > 1 is a supervisor and its workers
 * behind one port; the reference with --workers N is N independent processes, one shard each).
 */
export interface ServerProcess {
  name: string;
  shards: Shard[];
  /** root processes; their descendants count too */
  pids: number[];
  log(): string;
  stop(): Promise<void>;
}

export interface SesameLaunch {
  database: TestDatabase;
  smtpUrl: string;
  /** node --cpu-prof into this folder */
  cpuProfileDir?: string;
  /** count SQL statements by shape (written to this file when the process exits) */
  queryCountFile?: string;
  /** WORKERS */
  workers: number;
}

/** Read by the bench and written here once, so the Sesame CLI and server share them. */
const SECRETS = {
  COOKIE_KEYS: 'bench-cookie-key-0123456789abcdefghijklmnopqrstuv',
  HMAC_SECRETS: 'bench-hmac-secret-0123456789abcdefghijklmnopqrstuv',
};

/** What `npm run serve` and docs/production.md's start command put in NODE_OPTIONS. */
const START_NODE_OPTIONS = '--max-semi-space-size=8 --max-old-space-size=256';

/**
 * Sesame as an operator runs it (the production build, `node dist/src/cli/main.js`) with one
 * difference: the command is `dev`, because `serve` refuses a plain-http issuer and the benchmark
 * talks plain http to 127.0.0.1 (TLS would be the proxy's cost, not Sesame's). With every
 * production setting given (issuer, cookie keys, HMAC secrets, SMTP, sender) what development
 * adds is off the measured paths: the demo app's routes and client, open /metrics and /readyz
 * reasons, calls to loopback apps. Rate limits are off: the benchmark signs the same people in
 * many times a second.
 */
export async function startSesame(launch: SesameLaunch): Promise<ServerProcess> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  // an empty config file: a developer's config/sesame.json must not leak into the figures
  const configFile = join(launch.database.dataDir, 'bench-config.json');
  writeFileSync(configFile, '{}\n');
  const env: Record<string, string> = {
    ...inheritedEnv(),
    SESAME_CONFIG: configFile,
    ISSUER: origin,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: launch.database.dataDir,
    DATABASE_URL: launch.database.url,
    SMTP_URL: launch.smtpUrl,
    MAIL_FROM: 'Sesame Bench <no-reply@bench.example>',
    ...SECRETS,
    LOG_LEVEL: 'warn',
    WORKERS: String(launch.workers),
    RATE_LIMIT_EMAIL: 'off',
    RATE_LIMIT_IP: 'off',
    RATE_LIMIT_EMAIL_ALL: 'off',
    RATE_LIMIT_MAIL: 'off',
    RATE_LIMIT_VERIFY_FAILURES_IP: 'off',
  };
  // set up and registered through the CLI, as an operator would (the other commands create no database)
  await promisify(execFile)(process.execPath, [SESAME_CLI, 'migrate'], { env, cwd: ROOT });
  const { stdout } = await promisify(execFile)(process.execPath, [
    SESAME_CLI, 'clients', 'add', '--name', 'Bench App', '--redirect-uri', REDIRECT_URI, '--first-party', '--json',
  ], { env, cwd: ROOT });
  const registered = JSON.parse(stdout) as { client_id: string; client_secret: string };
  // client_credentials is for machine clients only (no redirect URIs): one of those too
  const machine = JSON.parse((await promisify(execFile)(process.execPath, [
    SESAME_CLI, 'clients', 'add', '--name', 'Bench Machine', '--grant-type', 'client_credentials', '--json',
  ], { env, cwd: ROOT })).stdout) as { client_id: string; client_secret: string };

  const nodeArgs: string[] = [];
  nodeArgs.push(...cpuProfileArgs(launch.cpuProfileDir));
  if (launch.queryCountFile) {
    nodeArgs.push('--import', QUERY_COUNTER);
    env.BENCH_QUERY_COUNT_FILE = launch.queryCountFile;
  }
  // the V8 flag the documented start command gives (docs/production.md), only to the server
  const child = spawn(process.execPath, [...nodeArgs, SESAME_CLI, 'dev'], { env: { ...env, NODE_OPTIONS: START_NODE_OPTIONS }, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = capture(child);
  await waitReady(child, `${origin}/readyz`, output);
  return {
    name: 'sesame',
    shards: [{
      origin,
      client: { clientId: registered.client_id, clientSecret: registered.client_secret },
      machine: { clientId: machine.client_id, clientSecret: machine.client_secret },
    }],
    pids: [child.pid!],
    log: output,
    stop: () => stopChild(child),
  };
}

/**
 * The reference as `count` independent processes (test/bench/reference-server.ts), each with its
 * own port, key, client and in-memory adapter. Its state cannot be shared between processes, so
 * the load generator pins each simulated person and each endpoint worker to one of them: the
 * reference gets every core Sesame gets, with no coordination cost at all (an upper bound).
 */
export async function startReference(count = 1, options: { cpuProfileDir?: string; durableFile?: string } = {}): Promise<ServerProcess> {
  const parts = await Promise.all(Array.from({ length: count }, () => startReferenceProcess(options.cpuProfileDir, options.durableFile)));
  return {
    name: options.durableFile ? 'durable reference' : 'reference',
    shards: parts.map((p) => p.shard),
    pids: parts.map((p) => p.pid),
    log: () => parts.map((p) => p.log()).join('\n'),
    stop: async () => {
      await Promise.all(parts.map((p) => p.stop()));
    },
  };
}

/** node's arguments for a CPU profile written into `dir` (none without one) */
function cpuProfileArgs(dir: string | undefined): string[] {
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
}

/**
 * `cpuProfileDir`: node --cpu-prof into this folder, as for Sesame; `durableFile`: the durable
 * reference, its processes sharing this SQLite file (as Sesame's workers share one database)
 */
async function startReferenceProcess(cpuProfileDir?: string, durableFile?: string): Promise<{ shard: Shard; pid: number; log(): string; stop(): Promise<void> }> {
  const env = { ...inheritedEnv(), ...(durableFile ? { REFERENCE_DB: durableFile } : {}) };
  const child = spawn(process.execPath, [...cpuProfileArgs(cpuProfileDir), REFERENCE], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = capture(child);
  const ready = await new Promise<{ origin: string; clientId: string; clientSecret: string }>((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => l.startsWith('{"ready"'));
      if (line) {
        child.stdout!.off('data', onData);
        resolve(JSON.parse(line).ready);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the reference server exited (${code}):\n${output()}`)));
  });
  return {
    shard: { origin: ready.origin, client: { clientId: ready.clientId, clientSecret: ready.clientSecret }, machine: { clientId: ready.clientId, clientSecret: ready.clientSecret } },
    pid: child.pid!,
    log: output,
    stop: () => stopChild(child),
  };
}

/** Resident memory in MiB (VmRSS) of the server: the sum over all its processes. */
export function rssMiB(server: ServerProcess): number {
  return sum(processTree(server.pids).map(processRssMiB));
}

/** The largest single process of the server (its biggest worker), in MiB. */
export function largestProcessRssMiB(server: ServerProcess): number {
  return Math.max(...processTree(server.pids).map(processRssMiB).filter((n) => !Number.isNaN(n)));
}

function processRssMiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN; // the process has exited
  }
}

/** CPU time (user + system) the server's processes have used so far, in milliseconds. */
export function cpuMs(server: ServerProcess): number {
  return sum(processTree(server.pids).map((pid) => {
    const fields = procStat(pid);
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15, in clock ticks (100 Hz)
    return fields ? (Number(fields[11]) + Number(fields[12])) * 10 : 0;
  }));
}

/** /proc/<pid>/stat from field 3 on, or undefined when the process is gone. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The given processes and all their descendants (from the parent pids in /proc). */
export function processTree(roots: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = Number(procStat(Number(name))?.[1]);
    if (!Number.isFinite(ppid)) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const found: number[] = [];
  const queue = [...roots];
  while (queue.length) {
    const pid = queue.shift()!;
    found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + (Number.isNaN(b) ? 0 : b), 0);
}

function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !(settingNames as string[]).includes(key) && key !== 'SESAME_CONFIG' && key !== 'NODE_OPTIONS') env[key] = value;
  }
  return env;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function capture(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text;
}

async function waitReady(child: ChildProcess, url: string, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Sesame exited (${child.exitCode}) before it was ready:\n${output()}`);
    const status = await new Promise<number>((resolve) => {
      const req = request(url, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
      req.end();
    });
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Sesame was not ready within 60 s:\n${output()}`);
}

/** SIGTERM (Sesame drains and closes its database; --cpu-prof writes its profile), SIGKILL after 20 s. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
