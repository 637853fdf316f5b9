import { setFlagsFromString } from 'node:v8';

/**
 * How much memory V8 keeps around, for a server whose live heap is small and flat (about 30 MiB
 * whatever the number of sign-ins: measured with forced collections at 2,000, 10,000 and 20,000).
 * With V8's defaults the resident size is mostly garbage it has not yet collected: under a heap
 * limit of several GiB the old generation may grow up to about 4× between full collections, and the
 * young generation takes two semi-spaces of 16 MiB each. Both are tuned below; a flag the operator
 * gives (`node --flag`, or NODE_OPTIONS) always wins.
 */

/** The old generation grows by at most 20 % between full collections (V8 picks up to 300 %). */
export const HEAP_GROWING_FLAG = '--heap-growing-percent=20';
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

/**
 * For a serving process, at start: the heap growing factor, unless the operator set one. V8 reads
 * it at each collection, so setting it at run time takes effect. Returns the flags it set.
 */
export function tuneHeap(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS, set = setFlagsFromString): string[] {
  if (flagGiven(HEAP_GROWING_FLAG, operatorFlags(execArgv, nodeOptions))) return [];
  set(HEAP_GROWING_FLAG);
  return [HEAP_GROWING_FLAG];
}

/** The `execArgv` for worker processes: the supervisor's own, plus the semi-space limit unless set. */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS): string[] {
  return flagGiven(SEMI_SPACE_FLAG, operatorFlags(execArgv, nodeOptions)) ? [...execArgv] : [...execArgv, SEMI_SPACE_FLAG];
}
