import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runSesame } from '../../src/cli/run.js';
import { projectRoot } from '../../src/shared/paths.js';

export const CLI = join(projectRoot, 'dist', 'src', 'cli', 'main.js');

/** `nodeArgs` that load test/support/listen-probe.ts, which writes LISTEN_PROBE_LINE to stderr before any server listens. */
export const LISTEN_PROBE = ['--import', pathToFileURL(join(projectRoot, 'dist', 'test', 'support', 'listen-probe.js')).href];
export const LISTEN_PROBE_LINE = 'listen-probe: a server is about to listen';

/** An environment with nothing of the developer's own settings in it. */
export function cleanEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** the whole environment, as given (otherwise PATH and HOME are added to `env`) */
  bare?: boolean;
  cwd?: string;
  /** options for node itself, e.g. `--import` of a probe */
  nodeArgs?: string[];
  /** killed after this long (a command that should have stopped, e.g. a server that should have refused to start) */
  timeoutMs?: number;
  /** `node dist/src/cli/main.js` in a child process, for what only the process shows (exit status, EPIPE, its streams) */
  process?: boolean;
}

/**
 * Runs `sesame …` to completion: in this process, from its arguments to its exit code by the path
 * the binary takes, with the environment the binary would see; in a child process (the binary
 * itself) with `process`, `nodeArgs` or `timeoutMs`, and always for `serve` and `dev`, which start
 * a server and only ever run as their own process.
 */
export function runCli(args: string[], env: Record<string, string>, options: CliOptions = {}): Promise<CliResult> {
  const server = args[0] === 'serve' || args[0] === 'dev';
  if (options.process || options.nodeArgs || options.timeoutMs !== undefined || server) return spawnCli(args, env, options);
  return runInProcess(args, env, options);
}

async function runInProcess(args: string[], env: Record<string, string>, options: CliOptions): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  // no `ask`: like the child, whose stdin is not a terminal; a copy of the arguments and the
  // environment, so that nothing the command does to them reaches the next run
  const code = await runSesame([...args], {
    env: { ...(options.bare ? env : cleanEnv(env)) },
    cwd: options.cwd ?? process.cwd(),
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
  });
  return { code, stdout, stderr };
}

function spawnCli(args: string[], env: Record<string, string>, options: CliOptions): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], {
      env: options.bare ? env : cleanEnv(env),
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running `sesame dev` (or `sesame serve`), with its output collected for the test to read. */
export class ServerProcess {
  output = '';
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  /** `sesame dev` itself (`command: 'serve'` for production), or (`npm: true`) the README's `npm start`, in its own process group (it rebuilds dist/: never inside the suite, which runs from dist/) */
  constructor(env: Record<string, string>, options: { npm?: boolean; command?: 'dev' | 'serve'; nodeArgs?: string[] } = {}) {
    this.child = options.npm
      ? spawn('npm', ['start', '--silent'], { cwd: projectRoot, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      : spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, options.command ?? 'dev'], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** `timeoutMs`: how long a start may take on a busy machine (the suite runs two files at a time) */
  async waitFor(pattern: RegExp, timeoutMs = 40_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.output.match(pattern);
      if (match) return match;
      if (this.child.exitCode !== null) throw new Error(`server exited (${this.child.exitCode}) before ${pattern}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Waits for the start-up line and reads from it the issuer and the port bound: start the server
   * with PORT=0 (the system chooses a free port; no other process can take it first) and, where
   * the issuer is its own address, ISSUER=http://127.0.0.1:0 or no ISSUER (http://localhost:0).
   */
  async listening(timeoutMs?: number): Promise<{ issuer: string; port: number; origin: string }> {
    // one line, JSON (serve) or pino-pretty's text with the fields as JSON after it (dev)
    const [line] = await this.waitFor(/^.*Sesame listening.*$/m, timeoutMs);
    const issuer = /"issuer":"([^"]+)"/.exec(line)?.[1];
    const port = Number(/"port":(\d+)/.exec(line)?.[1]);
    if (!issuer || !port) throw new Error(`no issuer and port in the start-up line: ${line}`);
    return { issuer, port, origin: `http://127.0.0.1:${port}` };
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null) {
      // npm does not pass signals on to the server: signal the whole group it leads
      if (this.child.spawnargs[0] === 'npm') process.kill(-this.child.pid!, signal);
      else this.child.kill(signal);
    }
    return this.exited;
  }
}

/**
 * A port nothing listens on at the moment (for a peer that is to come up there later, or to be
 * refused). A server the test starts listens on port 0 instead (ServerProcess.listening).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * GET on a new connection each time: with workers each one answers some of them, and a kept-alive
 * connection could belong to a worker that just died.
 */
export function statusOnNewConnection(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}
