/**
 * One timer for many deadlines: every connection's keepalive and idle checks
 * on a {@link Clock} wait in one binary min-heap, and one clock timer is
 * armed for the earliest. An idle connection then holds a heap slot instead
 * of a runtime timer and its callback (see docs/performance.md). The heap of
 * a clock exists while it holds entries; its timer is armed only then.
 *
 * @module
 */

import type { Clock } from "./clock.ts";

/** Something waiting in a {@link TimerHeap}. */
export interface HeapEntry {
  /** When it is due (the clock's milliseconds); set by `schedule`. */
  deadline: number;
  /** Its index in the heap, -1 when not in one. */
  heapIndex: number;
  /** Called once it is due (it is out of the heap by then; it may schedule itself again). */
  due(now: number): void;
}

const heaps = new WeakMap<Clock, TimerHeap>();

/** Deadlines on one clock, fired in order by one timer. */
export class TimerHeap {
  readonly #clock: Clock;
  readonly #entries: HeapEntry[] = [];
  #timer: unknown = undefined;
  /** The deadline the timer is armed for; Infinity when it is not armed. */
  #armedFor = Infinity;

  private constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The heap of `clock`, made on first use. */
  static of(clock: Clock): TimerHeap {
    let heap = heaps.get(clock);
    if (heap === undefined) heaps.set(clock, heap = new TimerHeap(clock));
    return heap;
  }

  /** How many entries wait. */
  get size(): number {
    return this.#entries.length;
  }

  /** Puts `entry` in the heap (or moves it) to be due at `deadline`. */
  schedule(entry: HeapEntry, deadline: number): void {
    if (entry.heapIndex >= 0) this.cancel(entry);
    entry.deadline = deadline;
    const entries = this.#entries;
    entry.heapIndex = entries.length;
    entries.push(entry);
    this.#up(entry.heapIndex);
    if (deadline < this.#armedFor) this.#arm();
  }

  /** Takes `entry` out of the heap, if it is in it. */
  cancel(entry: HeapEntry): void {
    const i = entry.heapIndex;
    if (i < 0) return;
    const entries = this.#entries;
    const last = entries.pop()!;
    entry.heapIndex = -1;
    if (last !== entry) {
      entries[i] = last;
      last.heapIndex = i;
      this.#down(i);
      this.#up(last.heapIndex);
    }
    if (entries.length === 0) this.#disarm();
  }

  #arm(): void {
    const clock = this.#clock;
    clock.clearTimeout(this.#timer);
    const next = this.#entries[0];
    if (next === undefined) {
      this.#timer = undefined;
      this.#armedFor = Infinity;
      return;
    }
    this.#armedFor = next.deadline;
    this.#timer = clock.setTimeout(() => this.#fire(), Math.max(0, next.deadline - clock.now()));
  }

  #disarm(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const entries = this.#entries;
    const now = this.#clock.now();
    // Bounded: entries due now, each taken out before it runs.
    for (let n = entries.length; n > 0 && entries.length > 0 && entries[0].deadline <= now; n--) {
      const entry = entries[0];
      this.cancel(entry);
      entry.due(now);
    }
    if (entries.length > 0 && this.#armedFor === Infinity) this.#arm();
  }

  #up(i: number): void {
    const entries = this.#entries;
    const entry = entries[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (entries[parent].deadline <= entry.deadline) break;
      entries[i] = entries[parent];
      entries[i].heapIndex = i;
      i = parent;
    }
    entries[i] = entry;
    entry.heapIndex = i;
  }

  #down(i: number): void {
    const entries = this.#entries;
    const entry = entries[i];
    const n = entries.length;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && entries[child + 1].deadline < entries[child].deadline) child++;
      if (entries[child].deadline >= entry.deadline) break;
      entries[i] = entries[child];
      entries[i].heapIndex = i;
      i = child;
    }
    entries[i] = entry;
    entry.heapIndex = i;
  }
}
