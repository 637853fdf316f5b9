/**
 * The time a test server's signing-key states go by (SesameOptions.now): it runs
 * with the real clock, and a test moves it forward instead of sleeping past a cache or an
 * activation time.
 */
export class TestClock {
  #offsetMs = 0;

  readonly now = (): number => Date.now() + this.#offsetMs;

  advance(ms: number): void {
    this.#offsetMs += ms;
  }
}
