import { detachedRunner } from './detached.js';

/**
 * Runs `pass` now and again: every `intervalMs`, or at once when woken (something was queued).
 * Passes never overlap; a wake-up during a pass runs another one right after it. `stop` waits for
 * the pass under way.
 */
export class PollingLoop {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = true;
  // a pass woken by a request is not part of that request
  readonly #detached = detachedRunner();

  constructor(private readonly pass: () => Promise<void>, private readonly intervalMs: number) {}

  /** true once stop() was called: a long pass should stop taking new work */
  get stopped(): boolean {
    return this.#stopped;
  }

  start(): void {
    this.#stopped = false;
    this.wake();
  }

  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#running = this.#detached(() => this.pass()).finally(() => {
      this.#running = undefined;
      if (this.#stopped) return;
      if (this.#again) {
        this.#again = false;
        this.wake();
      } else {
        this.#timer = setTimeout(() => this.wake(), this.intervalMs);
        this.#timer.unref();
      }
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
