/**
 * The clock every timer of a connection runs on, injectable so tests need
 * not wait on the wall clock.
 *
 * @module
 */

/**
 * Where a connection takes the time and its timers from. The default is the
 * platform's `Date.now` and `setTimeout`; inject another only in tests.
 *
 * @example A clock that tests move forward by hand
 * ```ts
 * import type { Clock } from "@streamsock/streamsock";
 *
 * let now = 0;
 * const timers = new Map<number, { at: number; fn: () => void }>();
 * let next = 1;
 * const clock: Clock = {
 *   now: () => now,
 *   setTimeout: (fn, ms) => (timers.set(next, { at: now + ms, fn }), next++),
 *   clearTimeout: (id) => void timers.delete(id as number),
 * };
 * ```
 */
export interface Clock {
  /** Milliseconds since some fixed point. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a pending call (a handle from `setTimeout`, or undefined). */
  clearTimeout(handle: unknown): void;
}

/** The platform clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
