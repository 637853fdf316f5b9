import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

export interface BenchOptions {
  db: 'sqlite' | 'postgres';
  people: number;
  signins: number;
  seconds: number;
  warmup: number;
  runs: number;
  endpointConcurrency: number;
  endpointSeconds: number;
  profile: boolean;
  /** Sesame's WORKERS, and as many reference processes */
  workers: number;
  out?: string;
}

export const BENCH_USAGE = `Usage: npm run bench -- [options]

  --db sqlite|postgres        Sesame's database (default sqlite; postgres uses a fresh database on
                              TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test)
  --people N                  simulated people signing in at once (default 20)
  --signins N                 sign-ins per run and server (default 200)
  --seconds S                 ...or at most S seconds of sign-ins per run and server (default 30)
  --warmup N                  sign-ins per server before the first run, not counted (default 60)
  --runs N                    runs; each figure is the median, with min and max (default 3)
  --endpoint-concurrency N    concurrent requests per endpoint (default 10)
  --endpoint-seconds S        seconds per endpoint, run and server (default 1.5)
  --workers N|auto            Sesame's WORKERS (processes sharing the port and the database) and
                              as many reference processes, each person pinned to one of them
                              (default 1; auto = one per CPU core)
  --profile                   instead of the comparison: one Sesame run of sign-ins under
                              node --cpu-prof, with SQL statements counted; prints the hot spots
  --out FILE                  JSON results (default test-output/bench/<timestamp>.json)
`;

export function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      db: { type: 'string', default: 'sqlite' },
      people: { type: 'string', default: '20' },
      signins: { type: 'string', default: '200' },
      seconds: { type: 'string', default: '30' },
      warmup: { type: 'string', default: '60' },
      runs: { type: 'string', default: '3' },
      'endpoint-concurrency': { type: 'string', default: '10' },
      'endpoint-seconds': { type: 'string', default: '1.5' },
      profile: { type: 'boolean', default: false },
      workers: { type: 'string', default: '1' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  if (values.db !== 'sqlite' && values.db !== 'postgres') throw new Error('--db must be sqlite or postgres');
  const positive = (name: string, value: string, integer = true) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be a positive ${integer ? 'whole ' : ''}number`);
    return n;
  };
  const options: BenchOptions = {
    db: values.db,
    people: positive('people', values.people),
    signins: positive('signins', values.signins),
    seconds: positive('seconds', values.seconds, false),
    warmup: Number(values.warmup),
    runs: positive('runs', values.runs),
    endpointConcurrency: positive('endpoint-concurrency', values['endpoint-concurrency']),
    endpointSeconds: positive('endpoint-seconds', values['endpoint-seconds'], false),
    profile: values.profile,
    workers: values.workers === 'auto' ? availableParallelism() : positive('workers', values.workers),
    out: values.out,
  };
  if (!Number.isInteger(options.warmup) || options.warmup < 0) throw new Error('--warmup must be 0 or more');
  return options;
}
