import { performance } from 'node:perf_hooks';
import { Browser, findForm } from '../support/browser.js';
import { discover, registerClient, startAuthorization } from '../support/relying-party.js';
import { startTestServer } from '../support/test-server.js';

/**
 * Does the time of the email form's answer tell whether an address may sign in? Posts the form
 * for an address with an account and one without (SIGNUP_POLICY=invite: that one is refused and
 * its mail withheld), alternating, and compares the two sets of answer times with a
 * Mann-Whitney U test. Only the POST is timed; each sample gets a fresh browser and form.
 *
 *   npm run bench:enumeration [-- SAMPLES]      (default 300 of each; SQLite)
 *
 * A measurement, not a test: the figures depend on the machine. A p-value far above 0.05 says
 * the two cannot be told apart at this sample size; see docs in SECURITY.md.
 */
const samples = Number(process.argv[2] ?? 300);

async function main(): Promise<void> {
  const server = await startTestServer('sqlite', { SIGNUP_POLICY: 'invite' });
  try {
    const config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
    await server.sesame.accounts.create('known@example.com');
    const timeOne = async (email: string): Promise<number> => {
      const browser = new Browser(server.issuer);
      const form = await browser.get((await startAuthorization(config)).url.toString());
      const { action, fields } = findForm(form.body, /\/email$/);
      const started = performance.now();
      const res = await browser.send(new URL(action, form.url).toString(), { form: { ...fields, email } });
      const elapsed = performance.now() - started;
      if (res.status !== 303) throw new Error(`unexpected ${res.status} for ${email}`);
      return elapsed;
    };
    // warm up both paths (JIT, prepared statements) before measuring
    for (let i = 0; i < 20; i++) await timeOne(i % 2 ? 'known@example.com' : 'nobody@example.com');
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < samples; i++) {
      // alternate the order so drift over the run hits both alike
      if (i % 2) {
        known.push(await timeOne('known@example.com'));
        unknown.push(await timeOne('nobody@example.com'));
      } else {
        unknown.push(await timeOne('nobody@example.com'));
        known.push(await timeOne('known@example.com'));
      }
    }
    const { u, z, p } = mannWhitney(known, unknown);
    const row = (name: string, xs: number[]) => `${name.padEnd(22)} median ${quantile(xs, 0.5).toFixed(3)} ms   p10 ${quantile(xs, 0.1).toFixed(3)}   p90 ${quantile(xs, 0.9).toFixed(3)}   mean ${mean(xs).toFixed(3)}`;
    process.stdout.write(`${samples} samples each, SQLite, SIGNUP_POLICY=invite\n`);
    process.stdout.write(`${row('address with account', known)}\n${row('address refused', unknown)}\n`);
    process.stdout.write(`difference of medians ${(quantile(known, 0.5) - quantile(unknown, 0.5)).toFixed(3)} ms; Mann-Whitney U ${u.toFixed(0)}, z ${z.toFixed(2)}, two-sided p ${p.toFixed(3)}\n`);
  } finally {
    await server.close();
  }
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Mann-Whitney U with the normal approximation (samples of hundreds), ties given mid-ranks. */
function mannWhitney(a: number[], b: number[]): { u: number; z: number; p: number } {
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  const ranks = new Array<number>(all.length);
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1].v === all[i].v) j++;
    for (let k = i; k <= j; k++) ranks[k] = (i + j) / 2 + 1;
    i = j + 1;
  }
  const rankSumA = all.reduce((sum, item, i) => sum + (item.g === 0 ? ranks[i] : 0), 0);
  const u = rankSumA - (a.length * (a.length + 1)) / 2;
  const meanU = (a.length * b.length) / 2;
  const sd = Math.sqrt((a.length * b.length * (a.length + b.length + 1)) / 12);
  const z = (u - meanU) / sd;
  return { u, z, p: 2 * (1 - normalCdf(Math.abs(z))) };
}

/** Φ(x), Abramowitz and Stegun 26.2.17 (error below 7.5e-8). */
function normalCdf(x: number): number {
  const t = 1 / (1 + 0.2316419 * x);
  const d = 0.3989423 * Math.exp((-x * x) / 2);
  const tail = d * t * (0.3193815 + t * (-0.3565638 + t * (1.781478 + t * (-1.821256 + t * 1.330274))));
  return 1 - tail;
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
