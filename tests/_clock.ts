// A clock that tests move forward by hand, for the `clock` option: timers
// fire only inside `advance`, so a test about a timeout asserts what went out
// on the wire after exactly that much (simulated) time, and a loaded machine
// cannot make it fire early, late, or in a different order.
import type { Clock } from "../src/connection/clock.ts";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

export class ManualClock implements Clock {
  // Not 0: real clocks are far from it, and code must not treat 0 as "never".
  #now = 1_000_000;
  #seq = 0;
  readonly #timers = new Map<number, Timer>();
  readonly #immediate = new Map<number, ReturnType<typeof setTimeout>>();

  now(): number {
    return this.#now;
  }

  /**
   * A timer of 0 ms means "on the next macrotask", not a span of time (the
   * connection answers a close that way): it fires on its own, on a real
   * macrotask. Any longer timer waits for `advance`.
   */
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    if (ms <= 0) {
      this.#immediate.set(id, setTimeout(() => {
        this.#immediate.delete(id);
        fn();
      }, 0));
      return id;
    }
    this.#timers.set(id, { at: this.#now + ms, seq: id, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
    clearTimeout(this.#immediate.get(handle as number));
    this.#immediate.delete(handle as number);
  }

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by `ms`, firing every timer due on the way in order
   * (timers set by a firing timer included), and lets the microtasks each one
   * queued run before the next, as they would between real timer callbacks.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      let due: [number, Timer] | undefined;
      for (const entry of this.#timers) {
        const [, timer] = entry;
        if (timer.at > target) continue;
        if (due === undefined || timer.at < due[1].at || (timer.at === due[1].at && timer.seq < due[1].seq)) due = entry;
      }
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

/** Lets queued microtasks (and one macrotask turn) run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
