import { AsyncResource } from 'node:async_hooks';

/**
 * Background work that a request may start but that runs on after it (a pass of a queue, a batch
 * of audit events written for many requests) runs in the context its owner was created in, not in
 * the request's: it must not take part in the request's unit of work (store/unit-of-work.ts), nor
 * keep the request's memo alive. Create the runner where the owner is built (at start).
 */
export function detachedRunner(): <T>(fn: () => T) => T {
  const resource = new AsyncResource('sesame.background');
  return (fn) => resource.runInAsyncScope(fn);
}
