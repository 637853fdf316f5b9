import type { BenchOptions } from './options.js';
import type { SweepFigures } from './database-size.js';
import { ENDPOINTS, type EndpointName } from './endpoints.js';
import type { ProfileDifference, ProfileSummary } from './cpu-profile.js';
import { SESAME_STEPS } from './sign-ins.js';
import { spread, type LatencySummary, type Spread } from './stats.js';

/** The servers of one comparison: Sesame, the bare library in memory (the ceiling), and on the simplest durable adapter (the yardstick). */
export type Who = 'sesame' | 'reference' | 'durable';
export const WHO: Who[] = ['sesame', 'durable', 'reference'];
const LABEL: Record<Who, string> = { sesame: 'Sesame', durable: 'durable reference', reference: 'in-memory reference' };

export interface SignInFigures {
  completed: number;
  failed: number;
  failures: string[];
  perSecond: number;
  total: LatencySummary;
  steps: Record<string, LatencySummary>;
  submitToMail?: LatencySummary;
  cpuMsPerSignin: number;
  rssAfter: number;
}

export interface EndpointFigures {
  available: boolean;
  note?: string;
  requests: number;
  failed: number;
  perSecond: number;
  latency: LatencySummary;
  cpuMsPerRequest: number;
}

interface MemoryFigures {
  idle: number;
  underLoad: number;
  afterSignins: number;
  signinsSoFar: number;
}

/** Resident memory (sum over the server's processes, MiB) against sign-ins completed so far. */
export interface MemoryTracePoint {
  atSeconds: number;
  sesame: { signins: number; rss: number };
  reference: { signins: number; rss: number };
}

export interface RunFigures {
  signins: Record<Who, SignInFigures>;
  endpoints: Record<EndpointName, Record<Who, EndpointFigures>>;
  memory: Record<Who, MemoryFigures>;
}

interface Responses {
  byStatus: Record<string, number>;
  non2xxNon3xx: number;
  deliberate: Record<string, number>;
  unexpected: Record<string, number>;
  /** requests sent again after the server closed an idle keep-alive connection under them */
  resent: number;
}

export interface BenchReport {
  meta: {
    date: string;
    node: string;
    cpus: number;
    cpuModel: string;
    loadAverageAtEnd: number[];
    db: string;
    source: string;
    options: BenchOptions;
    sesame: string;
    reference: string;
    durable: string;
    generatorCpuMs: number;
  };
  runs: RunFigures[];
  memory: {
    start: Record<Who, number>;
    final: Record<Who, number>;
    /** the biggest single process at the end (with several workers the figures above are sums) */
    largestProcess?: Record<Who, number>;
    /** every 10 s of the whole run */
    trace?: MemoryTracePoint[];
    totalSignins: Record<Who, number> };
  database: SweepFigures;
  responses: Record<Who, Responses>;
}

type Out = (text: string) => void;

const fmt = (value: number, digits = 1): string => {
  if (!Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 1000) return value.toFixed(0);
  if (Math.abs(value) >= 100) return value.toFixed(Math.min(digits, 0));
  return value.toFixed(digits);
};

/** "median [min–max]" */
const show = (s: Spread, digits = 1): string => (Number.isFinite(s.median) ? `${fmt(s.median, digits)} [${fmt(s.min, digits)}–${fmt(s.max, digits)}]` : '–');

function table(rows: string[][], out: Out): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  for (const [i, row] of rows.entries()) {
    out(`  ${row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('   ')}\n`);
    if (i === 0) out(`  ${widths.map((w) => '─'.repeat(w)).join('   ')}\n`);
  }
}

export function printReport(report: BenchReport, out: Out): void {
  const { runs, meta } = report;
  const o = meta.options;
  const across = (pick: (run: RunFigures) => number) => spread(runs.map(pick));
  /** Sesame / the given reference, per run, then the spread */
  const ratio = (to: Who, pick: (run: RunFigures, who: Who) => number) => spread(runs.map((r) => pick(r, 'sesame') / pick(r, to)));

  out(`\nSesame benchmark (measured ${meta.date.slice(0, 10)}, ${meta.db}, Node ${meta.node}, ${meta.cpus} × ${meta.cpuModel})\n`);
  out(`Sesame built from ${meta.source}.\n`);
  const workers = meta.options.workers ?? 1;
  out(workers > 1
    ? `Sesame: WORKERS=${workers} (a supervisor and ${workers} worker processes on one port); each reference: ${workers} separate processes, each person and endpoint worker pinned to one (the durable reference's share one SQLite file). Memory and CPU are sums over each server's processes.\n`
    : 'Sesame: one process; each reference: one process.\n');
  out('References: the bare oidc-provider with the same configuration, durable (one knex table on SQLite, the yardstick for the targets) and in memory (the ceiling).\n');
  out(`Each figure: median [min–max] of ${runs.length} runs. Ratio = Sesame / reference, per run, then the median.\n`);

  out(`\nFull sign-ins: ${o.people} people at once, up to ${o.signins} sign-ins or ${o.seconds} s per run and server\n`);
  const rows: string[][] = [['', ...WHO.map((w) => LABEL[w]), 'ratio to durable', 'ratio to in-memory']];
  const row = (label: string, pick: (r: RunFigures, who: Who) => number, ratioDigits?: number) => {
    const ratios = ratioDigits === undefined ? ['', ''] : [show(ratio('durable', pick), ratioDigits), show(ratio('reference', pick), ratioDigits)];
    rows.push([label, ...WHO.map((w) => show(across((r) => pick(r, w)))), ...ratios]);
  };
  row('sign-ins/s', (r, w) => r.signins[w].perSecond, 3);
  for (const p of ['p50', 'p95', 'p99'] as const) row(`whole sign-in ${p} (ms)`, (r, w) => r.signins[w].total[p]);
  row('server CPU per sign-in (ms)', (r, w) => r.signins[w].cpuMsPerSignin, 2);
  rows.push(['failed sign-ins (sum of runs)', ...WHO.map((w) => String(runs.reduce((a, r) => a + r.signins[w].failed, 0))), '', '']);
  table(rows, out);

  out('\nSteps of one sign-in, p50 / p95 / p99 in ms (median of runs)\n');
  const stepRows: string[][] = [['step', ...WHO.flatMap((w) => [`${LABEL[w]} p50`, 'p95', 'p99'])]];
  const stepCell = (who: Who, step: string, p: 'p50' | 'p95' | 'p99') => {
    const s = across((r) => r.signins[who].steps[step]?.[p] ?? NaN);
    return Number.isFinite(s.median) ? fmt(s.median) : '';
  };
  for (const step of SESAME_STEPS) {
    stepRows.push([step, ...WHO.flatMap((w) => (['p50', 'p95', 'p99'] as const).map((p) => stepCell(w, step, p)))]);
  }
  const mail = (p: 'p50' | 'p95' | 'p99') => fmt(across((r) => r.signins.sesame.submitToMail?.[p] ?? NaN).median);
  stepRows.push(['form submit → mail accepted by SMTP', mail('p50'), mail('p95'), mail('p99'), '', '', '', '', '', '']);
  table(stepRows, out);
  out('  (references: "authorize" is the whole redirect chain to the code, their login needing no email)\n');

  out(`\nEndpoints: ${o.endpointConcurrency} concurrent requests, ${o.endpointSeconds} s per endpoint, run and server\n`);
  const endpointRows: string[][] = [['endpoint', ...WHO.flatMap((w) => [`${LABEL[w]} req/s`, 'p99 ms']), 'ratio to durable', 'to in-memory', 'CPU ms/req S / dur / mem']];
  for (const name of ENDPOINTS) {
    const pick = (who: Who) => (r: RunFigures) => r.endpoints[name][who];
    const available = runs.every((r) => r.endpoints[name].sesame.available);
    const e = (who: Who, f: (x: EndpointFigures) => number, digits = 1) => fmt(across((r) => f(pick(who)(r))).median, digits);
    const cells = (who: Who) => (who === 'sesame' && !available
      ? [runs[0].endpoints[name].sesame.note ?? 'n/a', '']
      : [show(across((r) => pick(who)(r).perSecond), 0), e(who, (x) => x.latency.p99)]);
    const perSecond = (r: RunFigures, w: Who) => r.endpoints[name][w].perSecond;
    endpointRows.push([
      name,
      ...WHO.flatMap(cells),
      available ? show(ratio('durable', perSecond), 2) : 'n/a',
      available ? show(ratio('reference', perSecond), 2) : 'n/a',
      available ? WHO.map((w) => e(w, (x) => x.cpuMsPerRequest, 2)).join(' / ') : '',
    ]);
  }
  table(endpointRows, out);

  out('\nResources\n');
  const m = (who: Who, f: (x: MemoryFigures) => number) => show(across((r) => f(r.memory[who])));
  const memoryRows: string[][] = [['resident memory (MiB, VmRSS)', ...WHO.map((w) => LABEL[w])]];
  memoryRows.push(['at start, before warm-up', ...WHO.map((w) => fmt(report.memory.start[w]))]);
  memoryRows.push(['idle, before each run (lowest in 2 s)', ...WHO.map((w) => m(w, (x) => x.idle))]);
  memoryRows.push(['peak under load, per run', ...WHO.map((w) => m(w, (x) => x.underLoad))]);
  memoryRows.push(['after each run\'s sign-ins', ...WHO.map((w) => m(w, (x) => x.afterSignins))]);
  memoryRows.push([`at the end, after ${report.memory.totalSignins.sesame} sign-ins`, ...WHO.map((w) => fmt(report.memory.final[w]))]);
  if (report.meta.options.workers > 1 && report.memory.largestProcess) {
    memoryRows.push(['  largest single process at the end', ...WHO.map((w) => fmt(report.memory.largestProcess![w]))]);
  }
  table(memoryRows, out);
  out(`  idle RSS by run (growth trend?): ${WHO.map((w) => `${LABEL[w]} ${runs.map((r) => fmt(r.memory[w].idle)).join(' → ')}`).join('; ')}\n`);
  const trace = (report.memory.trace ?? []).filter((p) => p.sesame.signins > 0);
  if (trace.length >= 10) {
    // ten points spread over the run: does Sesame's memory climb with the sign-ins it has done?
    const points = Array.from({ length: 10 }, (_, i) => trace[Math.round((i * (trace.length - 1)) / 9)]);
    out(`  Sesame RSS while signing in (sign-ins so far: MiB): ${points.map((p) => `${p.sesame.signins}: ${fmt(p.sesame.rss)}`).join(', ')}\n`);
  }

  const db = report.database;
  const mib = (bytes: number) => fmt(bytes / 1024 / 1024, 2);
  out(`\n  database (${meta.db}), after ${report.memory.totalSignins.sesame} sign-ins: ${mib(db.before.usedBytes)} MiB in use before the sweep, ${mib(db.after.usedBytes)} MiB after${db.after.fileBytes !== undefined ? ` (file + WAL on disk: ${mib(db.after.fileBytes)} MiB)` : ''}\n`);
  out(`  swept: ${Object.entries(db.deleted).map(([t, n]) => `${t} ${n}`).join(', ')}\n`);
  out(`  rows after the sweep: ${Object.entries(db.after.rows).map(([t, n]) => `${t} ${n}`).join(', ')}\n`);

  out('\nResponses\n');
  for (const who of WHO) {
    const r = report.responses[who];
    const deliberate = Object.entries(r.deliberate).map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
    const unexpected = Object.entries(r.unexpected).map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
    out(`  ${LABEL[who]}: by status ${Object.entries(r.byStatus).map(([s, n]) => `${s}: ${n}`).join(', ')}; 4xx/5xx ${r.non2xxNon3xx} (deliberate: ${deliberate}); unexpected: ${unexpected}; sent again on a new connection: ${r.resent}\n`);
  }
  out(`  (3xx are the redirects of the sign-in flow; the load generator itself used ${fmt(meta.generatorCpuMs / 1000)} s of CPU)\n\n`);
}

/** One measured phase of a profile run: the sign-ins, or one endpoint under load. */
export interface ProfilePhase {
  name: string;
  /** what one unit is: "sign-in" or "request" */
  unit: string;
  count: number;
  /** the phase's window on the profile's clock (µs), to look at it again in a flame graph tool */
  startUs: number;
  endUs: number;
  summary: ProfileSummary;
  queries: Record<string, { count: number; ms: number }>;
  /** the reference doing the same phase under the same profiler, and Sesame's difference to it */
  reference?: { count: number; startUs: number; endUs: number; difference: ProfileDifference };
}

export interface ProfileReport {
  meta: { date: string; node: string; cpus: number; db: string; source: string; cpuProfile: string; referenceCpuProfile?: string };
  phases: ProfilePhase[];
  failures: string[];
}

function printDifference(phase: ProfilePhase, { count: referenceCount, difference: d }: NonNullable<ProfilePhase['reference']>, out: Out): void {
  const us = (n: number) => fmt(n, 1);
  out(`\nAgainst the reference (bare oidc-provider, ${referenceCount} ${phase.unit}s under the same profiler), µs of main-thread self time per ${phase.unit}\n`);
  if (phase.unit === 'sign-in') out('(its sign-in sends no email and opens no link: part of this difference is that work, not overhead)\n');
  out(`busy: Sesame ${us(d.sesameBusyUs)}, reference ${us(d.referenceBusyUs)}, difference ${us(d.sesameBusyUs - d.referenceBusyUs)}\n`);
  table([['kind', 'Sesame', 'reference', 'difference'], ...d.byCategory.map((c) => [c.category, us(c.sesameUs), us(c.referenceUs), us(c.differenceUs)])], out);
  out('\nFunctions with the largest difference\n');
  table([['function', 'where', 'Sesame', 'reference', 'difference'], ...d.top.map((f) => [(f.function ?? '').slice(0, 40), (f.where ?? '').slice(-60), us(f.sesameUs), us(f.referenceUs), us(f.differenceUs)])], out);
}

export function printProfile(report: ProfileReport, out: Out): void {
  const { meta } = report;
  out(`\nSesame (${meta.source}) under node --cpu-prof: ${meta.db}, Node ${meta.node}, ${meta.cpus} CPUs (start-up and warm-up left out)\n`);
  for (const phase of report.phases) {
    const { summary, unit } = phase;
    const per = (ms: number) => fmt(ms / phase.count, 3);
    out(`\n── ${phase.name}: ${phase.count} ${unit}s ──\n`);
    out(`main thread: ${fmt(summary.busyMs / 1000, 2)} s busy, ${fmt(summary.idleMs / 1000, 2)} s idle; ${per(summary.busyMs)} ms busy per ${unit}\n`);
    out('\nSelf time by kind of code\n');
    table([['kind', 'ms', `ms/${unit}`, 'share'], ...summary.byCategory.map((c) => [c.category, fmt(c.selfMs, 0), per(c.selfMs), `${(c.share * 100).toFixed(1)}%`])], out);
    out('\nTop functions by self time\n');
    table([['function', 'where', 'kind', 'ms', 'share'], ...summary.top.map((f) => [f.function.slice(0, 40), f.where.slice(-60), f.category, fmt(f.selfMs, 0), `${(f.share * 100).toFixed(1)}%`])], out);
    const entries = Object.entries(phase.queries).filter(([, t]) => t.count > 0).sort((a, b) => b[1].count - a[1].count);
    const statements = entries.filter(([k]) => !k.startsWith('(')).reduce((a, [, t]) => a + t.count, 0);
    const statementMs = entries.filter(([k]) => !k.startsWith('(')).reduce((a, [, t]) => a + t.ms, 0);
    out(`\nSQL: ${fmt(statements / phase.count, 2)} statements per ${unit}, ${per(statementMs)} ms of statement time per ${unit}\n`);
    table([['statement (shape)', `per ${unit}`, 'avg ms'], ...entries.slice(0, 25).map(([sql, t]) => [sql.slice(0, 110), fmt(t.count / phase.count, 2), fmt(t.ms / t.count, 2)])], out);
    if (phase.reference) printDifference(phase, phase.reference, out);
  }
  if (report.failures.length) out(`\nfailures: ${report.failures.join('\n  ')}\n`);
  out('\n');
}
