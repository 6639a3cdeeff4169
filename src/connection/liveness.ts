/**
 * Liveness: keepalive pings and the idle timeout, on the connection's
 * {@link Clock} (`clock.ts`).
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import { type HeapEntry, TimerHeap } from "./timer_heap.ts";

/** What liveness asks of its connection. */
export interface LivenessHost {
  /** False once the connection is closing: the timers stop. */
  active(): boolean;
  /** Send a keepalive ping. */
  ping(): void;
  /** No answer to a keepalive ping within `pingTimeout` ms: the peer is dead. */
  dead(pingTimeout: number): void;
  /** No text or binary frame for idleTimeout. */
  idle(): void;
}

/**
 * Keepalive (in the spirit of python-websockets' ping_interval and
 * ping_timeout): a ping after `pingInterval` of silence; anything received
 * after it, the pong or other data, proves the peer alive. Idle detection:
 * `idle` after `idleTimeout` without a data frame. Timestamps are taken per
 * received chunk or data frame only when the feature is on, and the checks
 * wait in the clock's {@link TimerHeap} (one runtime timer for every
 * connection), rather than a timer reset per frame or held per connection.
 */
export class Liveness implements HeapEntry {
  readonly #clock: Clock;
  readonly #host: LivenessHost;
  readonly #pingInterval: number;
  readonly #pingTimeout: number;
  readonly #idleTimeout: number;
  #lastReceived = 0;
  #pingSentAt = 0;
  #lastData = 0;
  /** When the keepalive check and the idle check are due; Infinity when off. */
  #keepaliveAt = Infinity;
  #idleAt = Infinity;
  /** HeapEntry. */
  deadline = Infinity;
  heapIndex = -1;

  /**
   * Starts the checks that are on (an interval or timeout of 0 is off).
   *
   * @param clock Time and timers.
   * @param intervals The connection's pingInterval, pingTimeout and idleTimeout in ms.
   * @param host The connection.
   */
  constructor(
    clock: Clock,
    intervals: { pingInterval: number; pingTimeout: number; idleTimeout: number },
    host: LivenessHost,
  ) {
    this.#clock = clock;
    this.#host = host;
    this.#pingInterval = intervals.pingInterval;
    this.#pingTimeout = intervals.pingTimeout;
    this.#idleTimeout = intervals.idleTimeout;
    const now = clock.now();
    if (this.#pingInterval > 0) {
      this.#lastReceived = now;
      this.#keepaliveAt = now + this.#pingInterval;
    }
    if (this.#idleTimeout > 0) {
      this.#lastData = now;
      this.#idleAt = now + this.#idleTimeout;
    }
    this.#schedule();
  }

  /** Bytes arrived. */
  received(): void {
    if (this.#pingInterval > 0) this.#lastReceived = this.#clock.now();
  }

  /** A text or binary frame arrived. */
  dataReceived(): void {
    if (this.#idleTimeout > 0) this.#lastData = this.#clock.now();
  }

  /** Stops every check. */
  stop(): void {
    this.#keepaliveAt = Infinity;
    this.#idleAt = Infinity;
    TimerHeap.of(this.#clock).cancel(this);
  }

  #schedule(): void {
    const at = Math.min(this.#keepaliveAt, this.#idleAt);
    if (at !== Infinity) TimerHeap.of(this.#clock).schedule(this, at);
  }

  /** HeapEntry: a check is due. */
  due(now: number): void {
    if (!this.#host.active()) return;
    if (this.#keepaliveAt <= now && !this.#keepalive(now)) return;
    if (this.#idleAt <= now) {
      const idle = now - this.#lastData;
      if (idle >= this.#idleTimeout) {
        this.#idleAt = Infinity;
        this.#host.idle();
        if (!this.#host.active()) return;
      } else {
        this.#idleAt = now + this.#idleTimeout - idle;
      }
    }
    this.#schedule();
  }

  /** The keepalive check; false when the peer was found dead. */
  #keepalive(now: number): boolean {
    if (this.#pingSentAt === 0) {
      const silent = now - this.#lastReceived;
      if (silent < this.#pingInterval) {
        this.#keepaliveAt = now + this.#pingInterval - silent;
        return true;
      }
      this.#pingSentAt = now;
      this.#keepaliveAt = now + this.#pingTimeout;
      this.#host.ping();
      return true;
    }
    if (this.#lastReceived >= this.#pingSentAt) {
      this.#pingSentAt = 0;
      this.#keepaliveAt = now + Math.max(1, this.#pingInterval - (now - this.#lastReceived));
      return true;
    }
    this.#keepaliveAt = Infinity;
    this.#host.dead(this.#pingTimeout);
    return false;
  }
}
