import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface HotSpot {
  function: string;
  where: string;
  category: string;
  selfMs: number;
  /** of all non-idle time */
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  byCategory: { category: string; selfMs: number; share: number }[];
  top: HotSpot[];
}

/**
 * Self time per function (and per kind of code) from a V8 .cpuprofile written by `node --cpu-prof`.
 * Each sample's interval (the delta to the next sample) goes to the function on top of the stack;
 * with a window, only samples taken inside it count (the measured sign-ins, not start-up or warm-up).
 * Only the main thread is sampled: SQLite statements run on libuv's thread pool and show up here
 * only as the JavaScript that prepares and receives them.
 */
/** A .cpuprofile file, parsed once for all the windows summarised from it. */
export function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

export function summariseProfile(profile: CpuProfile, root: string, top = 25, window?: { startUs: number; endUs: number }): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  // sample times are on the monotonic clock (µs), the same one as process.hrtime in the bench
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window.startUs || at > window.endUs)) continue;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + delta);
  }
  const functions = new Map<string, { function: string; where: string; category: string; us: number }>();
  const categories = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id)!;
    totalUs += us;
    const category = categorise(callFrame.functionName, callFrame.url);
    if (category === 'idle') {
      idleUs += us;
      continue;
    }
    const where = callFrame.url ? `${shorten(callFrame.url, root)}:${callFrame.lineNumber + 1}` : '(native)';
    const key = `${callFrame.functionName}\u0000${where}`;
    const entry = functions.get(key) ?? { function: callFrame.functionName || '(anonymous)', where, category, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    categories.set(category, (categories.get(category) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    busyMs: busyUs / 1000,
    byCategory: [...categories].sort((a, b) => b[1] - a[1]).map(([category, us]) => ({ category, selfMs: us / 1000, share: us / busyUs })),
    top: [...functions.values()].sort((a, b) => b.us - a.us).slice(0, top)
      .map((f) => ({ function: f.function, where: f.where, category: f.category, selfMs: f.us / 1000, share: f.us / busyUs })),
  };
}

/** Which code a function belongs to: Sesame's own, its database layer, the library, crypto, Node. */
export function categorise(functionName: string, url: string): string {
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(program)' || functionName === '(root)') return 'V8/native (program)';
  if (/\/dist\/test\/bench\/reference-server\.js/.test(url)) return 'reference server (its account, interaction)';
  if (/\/dist\/test\/bench\//.test(url)) return 'bench instrumentation (query counter)';
  if (/\/dist\/src\/store\//.test(url)) return 'Sesame store (incl. oidc adapter)';
  if (/\/dist\/src\//.test(url)) return 'Sesame (other)';
  if (/node_modules\/(knex|sqlite3|pg|pg-[a-z-]+|tarn|postgres-[a-z]+)\//.test(url)) return 'database driver (knex, sqlite3/pg)';
  if (/node_modules\/oidc-provider\//.test(url)) return 'oidc-provider';
  if (/node_modules\/jose\//.test(url)) return 'jose';
  if (/node_modules\/(koa|@koa|koa-[a-z-]+|co-body|raw-body|cookies|keygrip|http-errors|accepts|negotiator|type-is|content-type|statuses|on-finished|vary|encodeurl|escape-html|parseurl|fresh|path-to-regexp|qs|iconv-lite)\//.test(url)) return 'koa and HTTP helpers';
  if (/node_modules\/handlebars\//.test(url)) return 'handlebars';
  if (/node_modules\/(nodemailer|libmime|libqp|libbase64)\//.test(url)) return 'nodemailer';
  if (/node_modules\/(pino|sonic-boom|thread-stream|pino-[a-z-]+)\//.test(url)) return 'pino (logging)';
  if (/node_modules\/(zod)\//.test(url)) return 'zod';
  if (/node:internal\/crypto|node:crypto/.test(url) || (!url && /^(sign|verify|digest|update|hash|randomBytes|randomFillSync|timingSafeEqual|createHmac|Hmac|Hash|Sign|Verify|generateKeyPairSync|KeyObject)/i.test(functionName))) return 'node crypto';
  if (/node_modules\//.test(url)) return 'other npm packages';
  if (url.startsWith('node:')) return 'node core (http, streams, timers…)';
  return 'V8/native builtins';
}

function shorten(url: string, root: string): string {
  const path = url.replace(/^file:\/\//, '');
  return path.startsWith(root) ? path.slice(root.length) : path;
}

/** One function's (or kind of code's) self time per unit of work in both servers, in µs. */
export interface SelfTimeDifference {
  function?: string;
  where?: string;
  category: string;
  sesameUs: number;
  referenceUs: number;
  /** sesameUs − referenceUs: what Sesame spends beyond the bare library (negative: less) */
  differenceUs: number;
}

export interface ProfileDifference {
  sesameBusyUs: number;
  referenceBusyUs: number;
  byCategory: SelfTimeDifference[];
  /** the functions with the largest difference either way, largest first */
  top: SelfTimeDifference[];
}

/**
 * Sesame against the reference, both profiled doing the same work: self time per unit (sign-in or
 * request) by kind of code and by function, matched by name and place (both run the same
 * node_modules from the same checkout), so that the gap between the two shows where it comes from.
 * The summaries must list every function (`top` large enough), or the differences are partial.
 */
export function compareProfiles(sesame: { summary: ProfileSummary; count: number }, reference: { summary: ProfileSummary; count: number }, top = 25): ProfileDifference {
  const perUnit = (ms: number, count: number) => (count ? (ms * 1000) / count : 0);
  /** one row per key, with each side's self time per unit */
  const pair = <T extends { category: string; selfMs: number }>(s: T[], r: T[], key: (item: T) => string, label: (item: T) => Partial<SelfTimeDifference>): SelfTimeDifference[] => {
    const rows = new Map<string, SelfTimeDifference>();
    const add = (items: T[], count: number, side: 'sesameUs' | 'referenceUs') => {
      for (const item of items) {
        const row = rows.get(key(item)) ?? { ...label(item), category: item.category, sesameUs: 0, referenceUs: 0, differenceUs: 0 };
        row[side] += perUnit(item.selfMs, count);
        row.differenceUs = row.sesameUs - row.referenceUs;
        rows.set(key(item), row);
      }
    };
    add(s, sesame.count, 'sesameUs');
    add(r, reference.count, 'referenceUs');
    return [...rows.values()];
  };
  return {
    sesameBusyUs: perUnit(sesame.summary.busyMs, sesame.count),
    referenceBusyUs: perUnit(reference.summary.busyMs, reference.count),
    byCategory: pair(sesame.summary.byCategory, reference.summary.byCategory, (c) => c.category, () => ({}))
      .sort((a, b) => b.differenceUs - a.differenceUs),
    top: pair(sesame.summary.top, reference.summary.top, (f) => `${f.function}\u0000${f.where}`, (f) => ({ function: f.function, where: f.where }))
      .sort((a, b) => Math.abs(b.differenceUs) - Math.abs(a.differenceUs))
      .slice(0, top),
  };
}
