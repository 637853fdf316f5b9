import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { projectRoot } from '../../src/shared/paths.js';

/** The nginx configuration operators are given, and the one this test runs. */
export const SHIPPED_CONFIG = join(projectRoot, 'docs', 'deploy', 'nginx.conf');

/**
 * nginx: NGINX_BINARY if set, else `nginx` on PATH or in /usr/sbin (Debian puts it there, outside
 * an ordinary user's PATH). Absent, the deployment test cannot run: it says so and fails.
 */
export function findNginx(): string {
  const given = process.env.NGINX_BINARY;
  const candidates = given ? [given] : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin'].map((dir) => join(dir, 'nginx'));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(given
    ? `nginx not found: NGINX_BINARY=${given} is not an executable file`
    : 'nginx not found (looked on PATH, in /usr/sbin and /usr/local/sbin): the deployment test needs it. '
      + 'Install Debian\'s nginx (apt-get install nginx; .ci/run does this when it runs as root) or set NGINX_BINARY.');
}

export interface Certificate {
  /** PEM of the self-signed certificate: what the clients trust, as their only CA */
  cert: string;
  certPath: string;
  keyPath: string;
}

/**
 * A self-signed certificate for localhost (and 127.0.0.1), made now with the `openssl` binary
 * (node:crypto makes keys but not X.509 certificates). P-256, valid for a day.
 */
export function selfSignedCertificate(dir: string): Certificate {
  const certPath = join(dir, 'localhost.crt');
  const keyPath = join(dir, 'localhost.key');
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', keyPath, '-out', certPath,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    throw new Error(`could not make a self-signed certificate with openssl (install it: apt-get install openssl): ${(error as Error).message}`);
  }
  return { cert: readFileSync(certPath, 'utf8'), certPath, keyPath };
}

export interface Placement {
  /** 127.0.0.1:PORT for plain http (which only redirects) and for https */
  httpPort: number;
  httpsPort: number;
  serverName: string;
  certificate: Certificate;
  /** host:port of each Sesame instance this nginx sends requests to */
  instances: string[];
}

/**
 * The shipped configuration with the values of its `# deploy:` lines replaced, and nothing else:
 * each such line's first argument becomes the test's value (the instance line becomes one line
 * per instance). A marked line this function does not know fails the test, so the file cannot
 * grow a setting the test silently leaves at its example value.
 */
export function renderShippedConfig(placement: Placement, shipped = readFileSync(SHIPPED_CONFIG, 'utf8')): string {
  const values: Record<string, string[]> = {
    instance: placement.instances,
    http: [`127.0.0.1:${placement.httpPort}`],
    https: [`127.0.0.1:${placement.httpsPort}`],
    server_name: [placement.serverName],
    certificate: [placement.certificate.certPath],
    'certificate key': [placement.certificate.keyPath],
  };
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of shipped.split('\n')) {
    const marked = /^(\s*)(\S+)(\s+)(\S+)(.*;)\s*# deploy: (.+?)\s*$/.exec(line);
    if (!marked) {
      if (/#\s*deploy:/.test(line) && !line.trimStart().startsWith('#')) throw new Error(`cannot read the marked line of ${SHIPPED_CONFIG}: ${line}`);
      out.push(line);
      continue;
    }
    const [, indent, directive, space, , rest, name] = marked;
    const replacements = values[name];
    if (!replacements) throw new Error(`${SHIPPED_CONFIG}: the test does not know the marked value "${name}" (${line.trim()})`);
    // the instance lines: the first one stands for all the instances, the others go
    if (seen.has(name) && name === 'instance') continue;
    seen.add(name);
    for (const value of replacements) out.push(`${indent}${directive}${space}${value}${rest}`);
  }
  const missing = Object.keys(values).filter((name) => !seen.has(name));
  if (missing.length) throw new Error(`${SHIPPED_CONFIG}: no line marked "# deploy: ${missing.join('", "')}"`);
  return out.join('\n');
}

/** One nginx master (and its one worker) running a rendering of the shipped file in its own folder. */
export class Nginx {
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  readonly dir: string;
  output = '';

  private constructor(binary: string, dir: string, args: string[]) {
    this.dir = dir;
    this.#child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk));
    this.#child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk));
    this.#exited = new Promise((resolve) => this.#child.on('exit', (code) => resolve(code)));
  }

  /**
   * Writes the site file (the shipped config, rendered) and a main file of the test's own (paths
   * under `dir`, in the foreground) that includes it, checks them with `nginx -t`, starts nginx
   * and waits until it accepts connections.
   */
  static async start(binary: string, dir: string, placement: Placement): Promise<Nginx> {
    mkdirSync(join(dir, 'temp'), { recursive: true });
    // run as root, nginx's worker is an unprivileged user: it needs to reach its temp folder
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'temp'), 0o777);
    writeFileSync(join(dir, 'sesame.conf'), renderShippedConfig(placement));
    writeFileSync(join(dir, 'nginx.conf'), mainConfig(dir));
    const args = ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')];
    try {
      execFileSync(binary, [...args, '-t', '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      throw new Error(`nginx -t refused the configuration:\n${(error as { stderr?: Buffer }).stderr?.toString() ?? error}`);
    }
    const nginx = new Nginx(binary, dir, args);
    const deadline = Date.now() + 10_000;
    while (!(await accepts(placement.httpsPort))) {
      if (nginx.#child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`nginx did not start:\n${nginx.output}${readFileSync(join(dir, 'error.log'), 'utf8')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return nginx;
  }

  /** nginx's own log: what it said about the instances (e.g. a refused connection) */
  errorLog(): string {
    return readFileSync(join(this.dir, 'error.log'), 'utf8');
  }

  /** SIGQUIT: nginx's graceful stop */
  async stop(): Promise<void> {
    if (this.#child.exitCode === null) this.#child.kill('SIGQUIT');
    await this.#exited;
  }
}

function mainConfig(dir: string): string {
  return `# the deployment test's own main file: where nginx keeps its files; the site is the shipped one
daemon off;
master_process on;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 512; }
http {
  log_format sesame '$remote_addr "$request" $status upstream=$upstream_addr id=$request_id';
  access_log ${join(dir, 'access.log')} sesame;
  client_body_temp_path ${join(dir, 'temp', 'body')};
  proxy_temp_path ${join(dir, 'temp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'temp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'temp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'temp', 'scgi')};
  include ${join(dir, 'sesame.conf')};
}
`;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
