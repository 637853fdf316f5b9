import type { BenchOptions } from './options.js';
import type { SweepFigures } from './database-size.js';
import { ENDPOINTS, type EndpointName } from './endpoints.js';
import type { ProfileDifference, ProfileSummary } from './cpu-profile.js';
import { SESAME_STEPS } from './sign-ins.js';
import { spread, type LatencySummary, type Spread } from './stats.js';

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
  signins: { sesame: SignInFigures; reference: SignInFigures };
  endpoints: Record<EndpointName, { sesame: EndpointFigures; reference: EndpointFigures }>;
  memory: { sesame: MemoryFigures; reference: MemoryFigures };
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
    generatorCpuMs: number;
  };
  runs: RunFigures[];
  memory: {
    start: { sesame: number; reference: number };
    final: { sesame: number; reference: number };
    /** the biggest single process at the end (with several workers the figures above are sums) */
    largestProcess?: { sesame: number; reference: number };
    /** every 10 s of the whole run */
    trace?: MemoryTracePoint[];
    totalSignins: { sesame: number; reference: number } };
  database: SweepFigures;
  responses: { sesame: Responses; reference: Responses };
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
  const ratio = (pick: (run: RunFigures, who: 'sesame' | 'reference') => number) => spread(runs.map((r) => pick(r, 'sesame') / pick(r, 'reference')));

  out(`\nSesame benchmark (measured ${meta.date.slice(0, 10)}, ${meta.db}, Node ${meta.node}, ${meta.cpus} × ${meta.cpuModel})\n`);
  out(`Sesame built from ${meta.source}.\n`);
  const workers = meta.options.workers ?? 1;
  out(workers > 1
    ? `Sesame: WORKERS=${workers} (a supervisor and ${workers} worker processes on one port); reference: ${workers} separate processes, each person and endpoint worker pinned to one. Memory and CPU are sums over each side's processes.\n`
    : 'Sesame: one process; reference: one process.\n');
  out(`Each figure: median [min–max] of ${runs.length} runs. Ratio = Sesame / reference, per run, then the median.\n`);

  out(`\nFull sign-ins: ${o.people} people at once, up to ${o.signins} sign-ins or ${o.seconds} s per run and server\n`);
  const rows: string[][] = [['', 'Sesame', 'reference (bare oidc-provider)', 'ratio']];
  rows.push(['sign-ins/s', show(across((r) => r.signins.sesame.perSecond)), show(across((r) => r.signins.reference.perSecond)), show(ratio((r, w) => r.signins[w].perSecond), 3)]);
  for (const p of ['p50', 'p95', 'p99'] as const) {
    rows.push([`whole sign-in ${p} (ms)`, show(across((r) => r.signins.sesame.total[p])), show(across((r) => r.signins.reference.total[p])), '']);
  }
  rows.push(['server CPU per sign-in (ms)', show(across((r) => r.signins.sesame.cpuMsPerSignin)), show(across((r) => r.signins.reference.cpuMsPerSignin)), show(ratio((r, w) => r.signins[w].cpuMsPerSignin), 2)]);
  rows.push(['failed sign-ins (sum of runs)', String(runs.reduce((a, r) => a + r.signins.sesame.failed, 0)), String(runs.reduce((a, r) => a + r.signins.reference.failed, 0)), '']);
  table(rows, out);

  out('\nSteps of one sign-in, p50 / p95 / p99 in ms (median of runs)\n');
  const stepRows: string[][] = [['step', 'Sesame p50', 'p95', 'p99', 'reference p50', 'p95', 'p99']];
  const stepCell = (who: 'sesame' | 'reference', step: string, p: 'p50' | 'p95' | 'p99') => {
    const s = across((r) => r.signins[who].steps[step]?.[p] ?? NaN);
    return Number.isFinite(s.median) ? fmt(s.median) : '';
  };
  for (const step of SESAME_STEPS) {
    stepRows.push([step, stepCell('sesame', step, 'p50'), stepCell('sesame', step, 'p95'), stepCell('sesame', step, 'p99'),
      stepCell('reference', step, 'p50'), stepCell('reference', step, 'p95'), stepCell('reference', step, 'p99')]);
  }
  const mail = (p: 'p50' | 'p95' | 'p99') => fmt(across((r) => r.signins.sesame.submitToMail?.[p] ?? NaN).median);
  stepRows.push(['form submit → mail accepted by SMTP', mail('p50'), mail('p95'), mail('p99'), '', '', '']);
  table(stepRows, out);
  out('  (reference: "authorize" is the whole redirect chain to the code, its login needing no email)\n');

  out(`\nEndpoints: ${o.endpointConcurrency} concurrent requests, ${o.endpointSeconds} s per endpoint, run and server\n`);
  const endpointRows: string[][] = [['endpoint', 'Sesame req/s', 'p50 ms', 'p99 ms', 'reference req/s', 'p50 ms', 'p99 ms', 'ratio req/s', 'CPU ms/req S / ref']];
  for (const name of ENDPOINTS) {
    const pick = (who: 'sesame' | 'reference') => (r: RunFigures) => r.endpoints[name][who];
    const available = runs.every((r) => r.endpoints[name].sesame.available);
    const e = (who: 'sesame' | 'reference', f: (x: EndpointFigures) => number, digits = 1) => fmt(across((r) => f(pick(who)(r))).median, digits);
    const sesameCells = available
      ? [show(across((r) => pick('sesame')(r).perSecond), 0), e('sesame', (x) => x.latency.p50), e('sesame', (x) => x.latency.p99)]
      : [runs[0].endpoints[name].sesame.note ?? 'n/a', '', ''];
    endpointRows.push([
      name,
      ...sesameCells,
      show(across((r) => pick('reference')(r).perSecond), 0), e('reference', (x) => x.latency.p50), e('reference', (x) => x.latency.p99),
      available ? show(ratio((r, w) => r.endpoints[name][w].perSecond), 2) : 'n/a',
      available ? `${e('sesame', (x) => x.cpuMsPerRequest, 2)} / ${e('reference', (x) => x.cpuMsPerRequest, 2)}` : '',
    ]);
  }
  table(endpointRows, out);

  out('\nResources\n');
  const m = (who: 'sesame' | 'reference', f: (x: MemoryFigures) => number) => show(across((r) => f(r.memory[who])));
  const memoryRows: string[][] = [['resident memory (MiB, VmRSS)', 'Sesame', 'reference']];
  memoryRows.push(['at start, before warm-up', fmt(report.memory.start.sesame), fmt(report.memory.start.reference)]);
  memoryRows.push(['idle, before each run (lowest in 2 s)', m('sesame', (x) => x.idle), m('reference', (x) => x.idle)]);
  memoryRows.push(['peak under load, per run', m('sesame', (x) => x.underLoad), m('reference', (x) => x.underLoad)]);
  memoryRows.push(['after each run\'s sign-ins', m('sesame', (x) => x.afterSignins), m('reference', (x) => x.afterSignins)]);
  memoryRows.push([`at the end, after ${report.memory.totalSignins.sesame} sign-ins`, fmt(report.memory.final.sesame), fmt(report.memory.final.reference)]);
  if (report.meta.options.workers > 1 && report.memory.largestProcess) {
    memoryRows.push(['  largest single process at the end', fmt(report.memory.largestProcess.sesame), fmt(report.memory.largestProcess.reference)]);
  }
  table(memoryRows, out);
  out(`  idle RSS by run (growth trend?): Sesame ${runs.map((r) => fmt(r.memory.sesame.idle)).join(' → ')}, reference ${runs.map((r) => fmt(r.memory.reference.idle)).join(' → ')}\n`);
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
  for (const who of ['sesame', 'reference'] as const) {
    const r = report.responses[who];
    const deliberate = Object.entries(r.deliberate).map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
    const unexpected = Object.entries(r.unexpected).map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
    out(`  ${who}: by status ${Object.entries(r.byStatus).map(([s, n]) => `${s}: ${n}`).join(', ')}; 4xx/5xx ${r.non2xxNon3xx} (deliberate: ${deliberate}); unexpected: ${unexpected}; sent again on a new connection: ${r.resent}\n`);
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
