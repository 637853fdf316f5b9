/**
 * The suite's one way to wait for something that happens in the background (the mail worker, a
 * client change reaching a cache, a process starting): poll, never sleep a fixed time. Two forms,
 * one loop:
 *
 * - `eventually(check)`: an assertion, retried until it stops throwing; resolves to its value.
 * - `eventually(what, check)`: a condition, retried until it returns something truthy (a throw is
 *   retried too); resolves to that value. `what` names it in the error.
 *
 * Either fails after `timeoutMs` (10 s unless given) with the check's last error or value.
 */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs?: number, everyMs?: number): Promise<T>;
export async function eventually<T>(what: string, check: () => Promise<T> | T, timeoutMs?: number, everyMs?: number): Promise<Truthy<T>>;
export async function eventually<T>(...args: [string, () => Promise<T> | T, number?, number?] | [() => Promise<T> | T, number?, number?]): Promise<T> {
  const [what, check, timeoutMs = DEFAULT_TIMEOUT_MS, everyMs = DEFAULT_EVERY_MS] = typeof args[0] === 'string'
    ? (args as [string, () => Promise<T> | T, number?, number?])
    : [undefined, ...(args as [() => Promise<T> | T, number?, number?])];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let outcome: { value: T } | { error: unknown };
    try {
      outcome = { value: await check() };
    } catch (error) {
      outcome = { error };
    }
    if ('value' in outcome && (what === undefined || outcome.value)) return outcome.value;
    if (Date.now() > deadline) {
      if ('error' in outcome && what === undefined) throw outcome.error;
      const last = 'error' in outcome ? `error: ${String(outcome.error)}` : `last: ${JSON.stringify(outcome.value)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${last})`, { cause: 'error' in outcome ? outcome.error : undefined });
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** What a condition resolves to: its value, once it is not false, 0, '', null or undefined. */
export type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_EVERY_MS = 50;
