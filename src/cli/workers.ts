import cluster, { type Worker } from 'node:cluster';
import type { Config, Mode } from '../config/config.js';
import { serverLogger } from '../shared/logger.js';
import { logProcessOutput } from '../shared/process-log.js';
import { workerExecArgv } from './memory.js';
import { databaseLabel } from '../config/database-label.js';

/** Which worker this process is (0 … WORKERS-1), set by the supervisor in the worker's environment. */
export const WORKER_INDEX_ENV = 'SESAME_WORKER_INDEX';

const RESTART_DELAY_MS = 1_000;

/** The command that runs a server in each mode (the test suite runs its servers in process). */
const SERVER_COMMANDS: Partial<Record<Mode, string>> = { production: 'serve', development: 'dev' };

/**
 * `WORKERS` > 1: this process only supervises. It forks one `sesame serve` (or `sesame dev`, the
 * command this process runs, so the workers run in its mode) per worker; they share
 * the listening port (node:cluster hands out connections in turn) and the database, where all
 * state already lives (sessions, tokens, login requests, rate-limit counters, the mail outbox,
 * the signing keys), exactly as separate instances behind a load balancer do. Loads none of
 * Sesame's modules, so it stays small.
 *
 * - The first worker starts alone and applies the migrations and creates the signing key; the
 *   others start once it listens (no start-up race even on a fresh database).
 * - Only worker 0 runs the sweeper (one is enough); every worker runs a mail outbox worker (rows
 *   are claimed atomically, each message goes out once) and re-reads the signing keys.
 * - SIGTERM/SIGINT: every worker drains as a single process does (stops accepting, finishes
 *   requests in flight within SHUTDOWN_GRACE_SECONDS, stops its outbox, closes the database);
 *   the supervisor exits when all have. A worker that dies is restarted; one that dies at start
 *   stops the whole server (the configuration or the port is wrong, and a restart would not help).
 */
export async function superviseWorkers(config: Config): Promise<void> {
  const command = SERVER_COMMANDS[config.env];
  if (!command) throw new Error(`no server command runs in ${config.env} mode`);
  const logger = serverLogger(config.logLevel, { readable: config.env === 'development' }).child({ supervisor: true });
  logProcessOutput(logger);
  for (const notice of config.notices) logger.warn(notice);
  let stopping = false;
  const live = new Map<number, Worker>();
  let demoUrl: string | undefined;
  // each worker gets smaller semi-spaces (src/cli/memory.ts), on its command line.
  // The command is given, not inherited: it is what sets a worker's mode
  cluster.setupPrimary({ execArgv: workerExecArgv(), args: [command] });

  const fork = (index: number, restart = false): Promise<void> => new Promise((resolve) => {
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) });
    let listening = false;
    live.set(index, worker);
    worker.on('message', (message: { sesame?: string; url?: unknown }) => {
      if (message?.sesame === 'demo' && typeof message.url === 'string') demoUrl = message.url;
    });
    worker.once('listening', () => {
      listening = true;
      if (restart) logger.info({ worker: index }, 'worker restarted');
      resolve();
    });
    worker.once('exit', (code, signal) => {
      live.delete(index);
      if (stopping) return;
      // one that never listened would fail again the same way (configuration, port, database)
      if (!listening) {
        logger.fatal({ worker: index, exitCode: code, signal }, 'a worker stopped while starting: stopping the server');
        void stop('worker failure', 1);
        return;
      }
      logger.error({ worker: index, exitCode: code, signal }, 'worker exited: restarting it');
      setTimeout(() => {
        if (!stopping) void fork(index, true);
      }, RESTART_DELAY_MS).unref();
    });
  });

  const stop = async (reason: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason, workers: live.size }, 'shutting down');
    const exited = [...live.values()].map((worker) => new Promise<void>((resolve) => {
      if (worker.isDead()) return resolve();
      worker.once('exit', () => resolve());
      worker.process.kill('SIGTERM');
    }));
    // the workers bound their own drain by SHUTDOWN_GRACE_SECONDS; this only guards against a hung one
    const hung = setTimeout(() => {
      for (const worker of live.values()) worker.process.kill('SIGKILL');
    }, (config.shutdownGraceSeconds + 15) * 1000);
    await Promise.all(exited);
    clearTimeout(hung);
    process.exit(exitCode);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await fork(0);
  await Promise.all(Array.from({ length: config.workers - 1 }, (_, i) => fork(i + 1)));
  const demo = demoUrl ? `; try the demo app: ${demoUrl}` : '';
  logger.info({ issuer: config.issuer, port: config.port, database: databaseLabel(config.database), workers: config.workers, demo: demoUrl }, `Sesame listening: ${config.issuer} (${config.workers} worker processes${demo})`);
}
