import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { compareProfiles, readProfile, summariseProfile } from './cpu-profile.js';
import { sweepAndMeasure, type SweepFigures } from './database-size.js';
import { ENDPOINTS, runEndpoint, type EndpointName, type EndpointResult } from './endpoints.js';
import { HttpClient, StatusCounter } from './http-client.js';
import { MailSink } from './mail-sink.js';
import { BENCH_USAGE, parseOptions, type BenchOptions } from './options.js';
import { cpuMs, largestProcessRssMiB, ROOT, rssMiB, startReference, startSesame, type ServerProcess } from './processes.js';
import { printProfile, printReport, WHO, type BenchReport, type EndpointFigures, type MemoryTracePoint, type RunFigures, type SignInFigures, type Who } from './report.js';
import { runSignIns, type SignInResult, type SignInTarget, type TokenSet } from './sign-ins.js';

/**
 * `npm run bench`: Sesame (production build, own process, real SMTP sink) against the bare
 * oidc-provider with its in-memory adapter (own process), side by side in the same run, so that
 * the ratios hold on a shared, noisy machine even when the absolute figures move.
 */
async function main(argv: string[]): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${BENCH_USAGE}`);
    return 2;
  }
  if (!options) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = join(ROOT, 'test-output/bench');
  mkdirSync(outDir, { recursive: true });
  const outFile = options.out ?? join(outDir, `${stamp}${options.profile ? '-profile' : ''}-${options.db}.json`);
  return options.profile ? profile(options, outDir, outFile, stamp) : compare(options, outFile);
}

/** One server, its keep-alive clients (one per shard), its tokens, and the peak RSS of the current phase. */
interface Target {
  server: ServerProcess;
  https: HttpClient[];
  counter: StatusCounter;
  signIn: SignInTarget;
  tokens: TokenSet[];
  peakRss: number;
}

function target(server: ServerProcess, kind: Who, sockets: number, sink?: MailSink): Target {
  const counter = new StatusCounter();
  const https = server.shards.map((shard) => new HttpClient(shard.origin, counter, Math.ceil(sockets / server.shards.length) + 2));
  const shards = server.shards.map((shard, i) => ({ http: https[i], client: shard.client, machine: shard.machine }));
  return { server, https, counter, signIn: { kind, shards, sink }, tokens: [], peakRss: 0 };
}

async function compare(options: BenchOptions, outFile: string): Promise<number> {
  const sink = await new MailSink().start();
  const database = await createTestDatabase(options.db);
  const sockets = Math.max(options.people, options.endpointConcurrency) * 2;
  let sesame: Target | undefined;
  let reference: Target | undefined;
  let durable: Target | undefined;
  const durableDir = mkdtempSync(join(tmpdir(), 'sesame-bench-durable-'));
  const startedAt = new Date();
  // the code the servers run is what was built now, not what the checkout holds when the run ends
  const source = sourceVersion();
  try {
    log(`starting Sesame (${options.db}), the in-memory reference and the durable reference…`);
    sesame = target(await startSesame({ database, smtpUrl: sink.url, workers: options.workers }), 'sesame', sockets, sink);
    reference = target(await startReference(options.workers), 'reference', sockets);
    durable = target(await startReference(options.workers, { durableFile: join(durableDir, 'reference.sqlite') }), 'durable', sockets);
    const all: Record<Who, Target> = { sesame, reference, durable };
    const both = [sesame, reference, durable];
    // resident memory against sign-ins so far, every 10 s: the growth trend of long runs (--signins 100000)
    const live = { sesame: { completed: 0 }, reference: { completed: 0 }, durable: { completed: 0 } };
    const trace: MemoryTracePoint[] = [];
    let lastTrace = 0;
    const sampler = setInterval(() => {
      for (const t of both) t.peakRss = Math.max(t.peakRss, rssMiB(t.server));
      if (Date.now() - lastTrace >= 10_000) {
        lastTrace = Date.now();
        trace.push({
          atSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
          sesame: { signins: live.sesame.completed, rss: rssMiB(sesame!.server) },
          reference: { signins: live.reference.completed, rss: rssMiB(reference!.server) },
        });
      }
    }, 200);
    const cpuStart = process.cpuUsage();

    await settle();
    const startRss = perServer((who) => rssMiB(all[who].server));
    if (options.warmup > 0) {
      log(`warm-up: ${options.warmup} sign-ins per server`);
      for (const t of both) {
        const warm = await runSignIns(t.signIn, { people: options.people, signins: options.warmup, seconds: 60, progress: live[t.signIn.kind] });
        t.tokens.push(...warm.tokens);
        if (warm.failed) log(`  ${t.server.name}: ${warm.failed} warm-up sign-ins failed: ${warm.failures[0]}`);
      }
      for (const name of ENDPOINTS) {
        for (const t of both) await runEndpoint(endpointTarget(t, options), name, { concurrency: options.endpointConcurrency, seconds: 0.25, maxRequests: 1e9 });
      }
    }

    const runs: RunFigures[] = [];
    let signinsDone = perServer(() => 0);
    for (let run = 1; run <= options.runs; run++) {
      const idle = await idleRss(all);
      // rotate who goes first, so none always gets the cooler machine
      const order = [...both.slice((run - 1) % both.length), ...both.slice(0, (run - 1) % both.length)];
      for (const t of both) t.peakRss = 0;
      const signins: Partial<Record<Who, SignInFigures>> = {};
      for (const t of order) {
        const cpu0 = cpuMs(t.server);
        const result = await runSignIns(t.signIn, { people: options.people, signins: options.signins, seconds: options.seconds, progress: live[t.signIn.kind] });
        const cpu = cpuMs(t.server) - cpu0;
        t.tokens.push(...result.tokens);
        signins[t.signIn.kind] = signInFigures(result, cpu, rssMiB(t.server));
        signinsDone = { ...signinsDone, [t.signIn.kind]: signinsDone[t.signIn.kind] + result.completed };
        log(`run ${run}: ${t.server.name} ${result.completed} sign-ins in ${(result.elapsedMs / 1000).toFixed(1)} s = ${result.perSecond.toFixed(1)}/s${result.failed ? `, ${result.failed} failed: ${result.failures[0]}` : ''}`);
      }
      const endpoints = {} as Record<EndpointName, Record<Who, EndpointFigures>>;
      for (const name of ENDPOINTS) {
        const pair: Partial<Record<Who, EndpointFigures>> = {};
        for (const t of order) {
          const cpu0 = cpuMs(t.server);
          const result = await runEndpoint(endpointTarget(t, options), name, { concurrency: options.endpointConcurrency, seconds: options.endpointSeconds, maxRequests: 1e9 });
          pair[t.signIn.kind] = endpointFigures(result, cpuMs(t.server) - cpu0);
        }
        endpoints[name] = pair as Record<Who, EndpointFigures>;
      }
      log(`run ${run}: endpoints done (refresh/s: Sesame ${endpoints.token_refresh.sesame.perSecond.toFixed(0)}, durable reference ${endpoints.token_refresh.durable.perSecond.toFixed(0)}, in-memory reference ${endpoints.token_refresh.reference.perSecond.toFixed(0)})`);
      runs.push({
        signins: signins as RunFigures['signins'],
        endpoints,
        memory: perServer((who) => ({
          idle: idle[who], underLoad: all[who].peakRss, afterSignins: signins[who]!.rssAfter, signinsSoFar: signinsDone[who] + options.warmup,
        })),
      });
    }
    const finalRss = await idleRss(all);
    const largestProcess = perServer((who) => largestProcessRssMiB(all[who].server));
    clearInterval(sampler);
    const generatorCpuMs = (({ user, system }) => (user + system) / 1000)(process.cpuUsage(cpuStart));

    for (const t of both) await t.server.stop();
    log('sweeping Sesame\'s database with its own sweeper…');
    const sweep: SweepFigures = await sweepAndMeasure(database);

    const report: BenchReport = {
      meta: {
        date: startedAt.toISOString(),
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        loadAverageAtEnd: loadavg(),
        db: options.db,
        source,
        options,
        sesame: 'node dist/src/cli/main.js dev with every production setting given (an http issuer), LOG_LEVEL=warn, rate limits off, SMTP to the in-process sink',
        reference: 'oidc-provider with its in-memory adapter (dist/test/bench/reference-server.js), RS256, interaction logs in at once',
        durable: 'the same oidc-provider configuration on one knex table in SQLite through sqlite3 (dist/test/bench/durable-adapter.js): JSON payloads, one statement per adapter call, a guarded consume',
        generatorCpuMs,
      },
      runs,
      memory: { start: startRss, final: finalRss, largestProcess, trace, totalSignins: perServer((who) => signinsDone[who] + options.warmup) },
      database: sweep,
      responses: perServer((who) => responses(all[who].counter)),
    };
    writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
    printReport(report, (text) => process.stdout.write(text));
    log(`JSON: ${outFile}`);
    return 0;
  } catch (error) {
    process.stderr.write(`bench failed: ${(error as Error).stack}\n`);
    if (sesame) process.stderr.write(`--- Sesame output ---\n${sesame.server.log()}\n`);
    return 1;
  } finally {
    for (const t of [sesame, reference, durable]) {
      await t?.server.stop();
      for (const http of t?.https ?? []) http.close();
    }
    await sink.close();
    await database.drop();
    rmSync(durableDir, { recursive: true, force: true });
  }
}

/** One figure for each server of the comparison. */
function perServer<T>(figure: (who: Who) => T): Record<Who, T> {
  return Object.fromEntries(WHO.map((who) => [who, figure(who)])) as Record<Who, T>;
}

/**
 * One Sesame run of sign-ins under `node --cpu-prof`, with every SQL statement counted (query-counter.ts
 * loaded with --import). The profile covers the warm-up and the measured sign-ins; its figures are slower
 * than an unprofiled run and are not compared with anything.
 */
async function profile(options: BenchOptions, outDir: string, outFile: string, stamp: string): Promise<number> {
  const sink = await new MailSink().start();
  const database: TestDatabase = await createTestDatabase(options.db);
  const profileDir = mkdtempSync(join(tmpdir(), 'sesame-bench-prof-'));
  const referenceDir = join(profileDir, 'reference');
  mkdirSync(referenceDir);
  const queryFile = join(profileDir, 'queries.json');
  const sockets = Math.max(options.people, options.endpointConcurrency) * 2;
  let server: ServerProcess | undefined;
  try {
    log(`starting Sesame (${options.db}) with --cpu-prof…`);
    // one process: the profile and the statement counts are of that one
    server = await startSesame({ database, smtpUrl: sink.url, cpuProfileDir: profileDir, queryCountFile: queryFile, workers: 1 });
    const failures: string[] = [];
    const windows = await profilePhases(target(server, 'sesame', sockets, sink), options, failures, { pid: server.pids[0], file: queryFile });
    await server.stop();
    const kept = keepProfile(profileDir, join(outDir, `${stamp}-${options.db}.cpuprofile`));
    // then the reference, alone, doing the same work under the same profiler: the difference per
    // sign-in or request, function by function, is what Sesame adds to the bare library
    log('starting the reference with --cpu-prof…');
    server = await startReference(1, { cpuProfileDir: referenceDir });
    const referenceWindows = await profilePhases(target(server, 'reference', sockets), options, failures);
    await server.stop();
    const keptReference = keepProfile(referenceDir, join(outDir, `${stamp}-reference.cpuprofile`));
    const EVERY_FUNCTION = 1e6;
    const [sesameProfile, referenceProfile] = [readProfile(kept), readProfile(keptReference)];
    const phases = windows.map((w, i) => {
      const summary = summariseProfile(sesameProfile, ROOT, EVERY_FUNCTION, w);
      const reference = referenceWindows[i];
      const difference = compareProfiles({ summary, count: w.count }, { summary: summariseProfile(referenceProfile, ROOT, EVERY_FUNCTION, reference), count: reference.count });
      return { ...w, summary: { ...summary, top: summary.top.slice(0, 30) }, reference: { count: reference.count, startUs: reference.startUs, endUs: reference.endUs, difference } };
    });
    const report = { meta: { date: new Date().toISOString(), node: process.version, cpus: cpus().length, db: options.db, source: sourceVersion(), options, cpuProfile: kept, referenceCpuProfile: keptReference }, phases, failures };
    writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
    printProfile(report, (text) => process.stdout.write(text));
    log(`profiles: ${kept} and ${keptReference} (open in Chrome DevTools or speedscope for a flame graph); JSON: ${outFile}`);
    return 0;
  } catch (error) {
    process.stderr.write(`bench failed: ${(error as Error).stack}\n`);
    if (server) process.stderr.write(`--- ${server.name} output ---\n${server.log()}\n`);
    return 1;
  } finally {
    await server?.stop();
    await sink.close();
    await database.drop();
    rmSync(profileDir, { recursive: true, force: true });
  }
}

interface PhaseWindow {
  name: string;
  unit: string;
  count: number;
  startUs: number;
  endUs: number;
  queries: Record<string, { count: number; ms: number }>;
}

/**
 * The measured phases of a profile run, one after the other on one server: the sign-ins, then the
 * endpoints whose ratio to the bare library is furthest from the target. Each phase is a window of
 * the server's one profile; on Sesame the statements are counted over the same window.
 */
async function profilePhases(t: Target, options: BenchOptions, failures: string[], queryCounter?: { pid: number; file: string }): Promise<PhaseWindow[]> {
  const kind = t.signIn.kind;
  if (options.warmup > 0) await runSignIns(t.signIn, { people: options.people, signins: options.warmup, seconds: 60 });
  const windows: PhaseWindow[] = [];
  const phase = async (name: string, unit: string, run: () => Promise<number>) => {
    const before = queryCounter ? await snapshotQueries(queryCounter.pid, queryCounter.file) : {};
    const startUs = hrtimeUs();
    const count = await run();
    const endUs = hrtimeUs();
    const after = queryCounter ? await snapshotQueries(queryCounter.pid, queryCounter.file) : {};
    const queries: Record<string, { count: number; ms: number }> = {};
    for (const [shape, tally] of Object.entries(after)) {
      const was = before[shape] ?? { count: 0, ms: 0 };
      queries[shape] = { count: tally.count - was.count, ms: tally.ms - was.ms };
    }
    windows.push({ name, unit, count, startUs, endUs, queries });
  };
  await phase('full sign-ins', 'sign-in', async () => {
    const result = await runSignIns(t.signIn, { people: options.people, signins: options.signins, seconds: options.seconds });
    log(`${kind}: ${result.completed} sign-ins in ${(result.elapsedMs / 1000).toFixed(1)} s under the profiler (${result.perSecond.toFixed(1)}/s, not comparable)`);
    t.tokens.push(...result.tokens);
    failures.push(...result.failures.map((f) => `${kind}: ${f}`));
    return result.completed;
  });
  for (const name of ['userinfo', 'introspection', 'token_refresh', 'token_client_credentials'] as const) {
    await phase(name, 'request', async () => {
      const result = await runEndpoint(endpointTarget(t, options), name, { concurrency: options.endpointConcurrency, seconds: options.endpointSeconds, maxRequests: 1e9 });
      log(`${kind} ${name}: ${result.requests} requests under the profiler (${result.perSecond.toFixed(0)}/s, not comparable)`);
      if (result.failed) failures.push(`${kind} ${name}: ${result.failed} failed`);
      return result.requests;
    });
  }
  for (const http of t.https) http.close();
  return windows;
}

/** Copies the one .cpuprofile a process wrote into `dir` to `to`. */
function keepProfile(dir: string, to: string): string {
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile was written to ${dir}`);
  copyFileSync(join(dir, file), to);
  return to;
}

function endpointTarget(t: Target, options: BenchOptions) {
  // the latest tokens: worker i owns tokens[i] (and its refresh-token chain) for the whole phase,
  // issued by the shard it talks to (shards[i % n]; a reference process knows only its own tokens)
  const n = t.signIn.shards.length;
  const byShard = Array.from({ length: n }, (_, shard) => t.tokens.filter((token) => token.shard === shard));
  const tokens: TokenSet[] = [];
  for (let i = 0; i < options.endpointConcurrency; i++) {
    const own = byShard[i % n];
    const token = own[own.length - 1 - Math.floor(i / n)];
    if (token) tokens.push(token);
  }
  return { shards: t.signIn.shards, tokens };
}

function signInFigures(result: SignInResult, cpu: number, rssAfter: number): SignInFigures {
  return {
    completed: result.completed,
    failed: result.failed,
    failures: result.failures,
    perSecond: result.perSecond,
    total: result.total.summary(),
    steps: Object.fromEntries([...result.steps].map(([name, samples]) => [name, samples.summary()])),
    submitToMail: result.submitToMail.count ? result.submitToMail.summary() : undefined,
    cpuMsPerSignin: result.completed ? cpu / result.completed : NaN,
    rssAfter,
  };
}

function endpointFigures(result: EndpointResult, cpu: number): EndpointFigures {
  return {
    available: result.available,
    note: result.note,
    requests: result.requests,
    failed: result.failed,
    perSecond: result.perSecond,
    latency: result.latency.summary(),
    cpuMsPerRequest: result.requests ? cpu / result.requests : NaN,
  };
}

function responses(counter: StatusCounter) {
  return {
    byStatus: Object.fromEntries(counter.byStatus),
    non2xxNon3xx: counter.errors,
    deliberate: Object.fromEntries(counter.deliberate),
    unexpected: Object.fromEntries(counter.unexpected),
    resent: counter.resent,
  };
}

/** The commit measured, and whether src/ had uncommitted changes (the build is of the working tree). */
function sourceVersion(): string {
  if (process.env.BENCH_SOURCE) return process.env.BENCH_SOURCE;
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'src', 'migrations', 'views');
    return dirty ? `${commit} + uncommitted changes in src/, migrations/ or views/` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** Idle resident memory: the lowest of 2 s of readings with no load (V8 gives memory back lazily). */
async function idleRss(all: Record<Who, Target>): Promise<Record<Who, number>> {
  const low = perServer(() => Infinity);
  for (let i = 0; i < 10; i++) {
    await settle(200);
    for (const who of WHO) low[who] = Math.min(low[who], rssMiB(all[who].server));
  }
  return low;
}

function hrtimeUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Asks the query counter in the Sesame process to write its tallies now (SIGUSR2), and reads them. */
async function snapshotQueries(pid: number, file: string): Promise<Record<string, { count: number; ms: number }>> {
  rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 100; i++) {
    await settle(20);
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as Record<string, { count: number; ms: number }>;
    } catch {
      // not written (completely) yet
    }
  }
  throw new Error('the query counter did not answer SIGUSR2');
}

function settle(ms = 1000): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function log(text: string): void {
  process.stderr.write(`[bench] ${text}\n`);
}

process.exitCode = await main(process.argv.slice(2));
