#!/usr/bin/env node
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import type { Mode } from '../config/config.js';
import { databaseLabel, databaseSetting } from '../config/database-label.js';
import { loadConfig } from '../config/load.js';
import { DEV_BANNER } from './dev-banner.js';
import type { CliIo } from './io.js';
import { runSesame } from './run.js';
import { superviseWorkers, WORKER_INDEX_ENV } from './workers.js';

/**
 * `sesame serve` and `sesame dev`: the mode is the command's, never the environment's. With
 * WORKERS > 1 each worker runs the supervisor's command again (src/cli/workers.ts), so it has its mode.
 */
async function server(mode: Extract<Mode, 'production' | 'development'>): Promise<number> {
  if (mode === 'development' && cluster.isPrimary) process.stdout.write(DEV_BANNER);
  const config = loadConfig({ mode });
  // the server creates a database where there is none: said, so that a DATA_DIR or DATABASE_URL
  // other than the one meant does not go unnoticed (the start-up line names the database too)
  if (cluster.isPrimary && config.database.client === 'sqlite' && !existsSync(config.database.filename!)) {
    process.stderr.write(`sesame: no database at ${databaseLabel(config.database)} (${databaseSetting(config.database)}) yet: creating it\n`);
  }
  if (config.workers > 1 && cluster.isPrimary) {
    await superviseWorkers(config);
  } else {
    const index = cluster.isWorker ? Number(process.env[WORKER_INDEX_ENV]) : undefined;
    await (await import('../main.js')).serve(config, index === undefined ? undefined : { index });
  }
  return -1; // keeps running
}

/** A question on the terminal, answered on it; none without a terminal (a script, a pipe). */
async function ask(question: string): Promise<string> {
  const { createInterface } = await import('node:readline/promises');
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await terminal.question(question);
  } finally {
    terminal.close();
  }
}

// `sesame audit | head`: the reader went away; stop quietly instead of printing EPIPE's stack
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const io: CliIo = {
  env: process.env,
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  ask: process.stdin.isTTY ? ask : undefined,
};
void runSesame(process.argv.slice(2), io, server).then((code) => {
  if (code >= 0) process.exitCode = code;
});
