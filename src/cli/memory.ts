/**
 * How much memory V8 keeps around, for a server whose live heap is small and flat (about 30 MiB
 * whatever the number of sign-ins: measured with forced collections at 2,000, 10,000 and 20,000).
 * With V8's defaults the young generation takes two semi-spaces of 16 MiB each. V8 flags are given
 * only where Node supports them, on a process's command line before it starts (never set at run
 * time: Node's documentation warns that changing them after start can crash or lose data): the
 * documented start command sets NODE_OPTIONS (docs/production.md: the semi-space limit below and
 * --max-old-space-size=256, which also keeps V8 from letting the old generation grow far between
 * full collections, as the run-time --heap-growing-percent did), and the supervisor starts its
 * workers with the limit below unless the operator gave one.
 */

/** Semi-spaces of at most 8 MiB; fixed when the heap is set up, so only for processes we start. */
export const SEMI_SPACE_FLAG = '--max-semi-space-size=8';

/** The flags the operator gave this process: its command line's, then NODE_OPTIONS'. */
function operatorFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/).filter(Boolean)];
}

/** Whether `flag` (`--name=value`) is set among `given`, spelled with dashes or underscores. */
export function flagGiven(flag: string, given: readonly string[]): boolean {
  const name = (text: string) => text.replace(/^--/, '').split('=')[0].replaceAll('_', '-');
  return given.some((arg) => arg.startsWith('--') && name(arg) === name(flag));
}

/** The `execArgv` for worker processes: the supervisor's own, plus the semi-space limit unless set. */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS): string[] {
  return flagGiven(SEMI_SPACE_FLAG, operatorFlags(execArgv, nodeOptions)) ? [...execArgv] : [...execArgv, SEMI_SPACE_FLAG];
}
