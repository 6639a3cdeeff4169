/**
 * Releasing idle compression state bounds the memory of many quiet
 * connections. No zlib stream outlives its message (see `deflate.ts` and
 * `inflate.ts`); what a connection keeps between messages is the history its
 * next message may refer to: up to 2^windowBits bytes on each side. A
 * sweeper is one timer for many connections, not one per connection: it
 * releases what has been unused for `idleMs`. The compressing side's history
 * can always be dropped (the next message just refers to less), the
 * receiving side's only when the peer does not take its context over. A
 * server owns one sweeper for all its connections; a connection without one
 * makes its own.
 *
 * @module
 */

/** A compressor or decompressor unused this long is released. */
export const IDLE_RELEASE_MS = 10_000;

/**
 * What a sweeper can release: one connection's permessage-deflate state.
 *
 * @example
 * ```ts
 * import { type IdleReleasable, ZlibSweeper } from "@streamsock/streamsock";
 *
 * const sweeper = new ZlibSweeper();
 * const member: IdleReleasable = { releaseIdle: (now, idleMs) => console.log(now, idleMs) };
 * sweeper.track(member);
 * sweeper.sweep();
 * sweeper.untrack(member);
 * ```
 */
export interface IdleReleasable {
  /** Releases zlib state unused for `idleMs` at time `now`. */
  releaseIdle(now: number, idleMs: number): void;
}

/**
 * One timer that releases the idle zlib state of the connections tracked
 * with it. The timer runs only while something is tracked and never keeps a
 * process alive on its own.
 *
 * @example A server's sweeper, shared by its connections
 * ```ts
 * import { WebSocketConnection, ZlibSweeper } from "@streamsock/streamsock";
 *
 * const zlibSweeper = new ZlibSweeper();
 * const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
 * const ws = new WebSocketConnection({ readable, writable }, { role: "server", extensions: "permessage-deflate", zlibSweeper });
 * await ws.terminate();
 * zlibSweeper.close();
 * ```
 */
export class ZlibSweeper {
  readonly #idleMs: number;
  readonly #tracked = new Set<IdleReleasable>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * Creates a sweeper; its timer starts when the first connection is tracked.
   *
   * @param idleMs How long zlib state may sit unused before it is released. Defaults to 10 s.
   */
  constructor(idleMs: number = IDLE_RELEASE_MS) {
    this.#idleMs = idleMs;
  }

  /** How many connections hold zlib state the sweeper may release. */
  get size(): number {
    return this.#tracked.size;
  }

  /** Starts watching a connection's zlib state. */
  track(member: IdleReleasable): void {
    this.#tracked.add(member);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.sweep(), this.#idleMs / 2);
      // The sweep must never keep a process alive on its own.
      (this.#timer as unknown as { unref?: () => void }).unref?.();
    }
  }

  /** Stops watching a connection (it holds nothing releasable any more). */
  untrack(member: IdleReleasable): void {
    this.#tracked.delete(member);
    if (this.#tracked.size === 0) this.close();
  }

  /**
   * Releases what has been idle for `idleMs` at time `now` (the timer calls
   * it with the current time; tests pass a later one).
   */
  sweep(now: number = Date.now(), idleMs: number = this.#idleMs): void {
    for (const member of [...this.#tracked]) member.releaseIdle(now, idleMs);
  }

  /** Stops the timer; tracking again restarts it. */
  close(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
