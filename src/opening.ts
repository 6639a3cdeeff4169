/**
 * The I/O of an opening handshake, shared by the client (`src/client/`)
 * and the server (`src/server/`): it owns a transport from the first byte
 * until the transport is handed to a connection or dropped, reads the HTTP
 * head within a size limit, keeps the bytes that follow it, and ends the
 * opening when its deadline passes, its signal aborts or the peer goes away.
 * Whatever ends it, the timer and the signal listener are cleaned up once.
 *
 * What to answer, and what the head means, stays with each side; this
 * module only decides what happens to bytes and time.
 *
 * @module
 */

import { type HttpHead, HttpHeadError, type HttpHeadLimits, HttpHeadParser } from "./handshake/http.ts";
import type { Transport, TransportSink } from "./transport/types.ts";
import { concatBytes } from "./codec/pool.ts";

/** Why an opening ended without a connection, as {@link OpeningEvents.ended} hears it. */
export type OpeningEnd =
  /** The deadline passed. */
  | { cause: "timeout" }
  /** The signal aborted; `reason` is its reason. */
  | { cause: "abort"; reason: unknown }
  /** The peer closed its side. */
  | { cause: "eof" }
  /** The transport failed. */
  | { cause: "error"; error: unknown }
  /** The bytes cannot become an HTTP head (400), or it is too large (431). */
  | { cause: "malformed"; error: HttpHeadError }
  /** More than `maxLeftover` bytes followed the head before the transport was handed over. */
  | { cause: "overflow" };

/** What the side running an {@link Opening} hears. */
export interface OpeningEvents {
  /** The head arrived; the bytes after it are kept (see {@link Opening.release}). */
  head(head: HttpHead): void;
  /**
   * The opening ended without a connection. Called at most once, and never
   * after `release`, `close` or `linger`; the transport is still open, for
   * an answer.
   */
  ended(end: OpeningEnd): void;
}

/** How an {@link Opening} reads. */
export interface OpeningOptions {
  /**
   * Read the HTTP head with these limits; `null` when it was read elsewhere
   * (node:http's `"upgrade"` event, an HTTP/2 stream), so every byte is one
   * that follows the head.
   */
  head: HttpHeadLimits | null;
  /** Milliseconds until `ended({ cause: "timeout" })`; none when absent. */
  timeout?: number;
  /** Aborting it ends the opening with `{ cause: "abort" }`. */
  signal?: AbortSignal;
  /** The most bytes kept after the head; more end the opening with `{ cause: "overflow" }`. Defaults to no limit. */
  maxLeftover?: number;
  /**
   * Where the deadline and the linger are timed; the platform's timers when
   * absent. (The connection options' `clock`, which tests move by hand.)
   */
  timers?: OpeningTimers;
}

/** The two timer calls the opening makes; the connection's `Clock` has this shape. */
export interface OpeningTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const platformTimers: OpeningTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * One opening handshake's hold on its transport, from {@link Opening.start}
 * on. It ends in exactly one of: {@link Opening.release} (the transport goes to a
 * connection with the bytes that followed the head), {@link Opening.close}
 * (dropped now) or {@link Opening.linger} (an answer was sent: dropped when
 * the peer has read it and gone, or after a grace period).
 */
export class Opening implements TransportSink {
  readonly #transport: Transport;
  readonly #events: OpeningEvents;
  readonly #signal: AbortSignal | undefined;
  readonly #maxLeftover: number;
  #parser: HttpHeadParser | null;
  #leftover: Uint8Array[] = [];
  #leftoverBytes = 0;
  /** After the head: where the following bytes go instead of being kept (a refusal's body). */
  #follow: ((chunk: Uint8Array) => void) | null = null;
  readonly #timers: OpeningTimers;
  #timer: unknown;
  /** "reading" until the opening ends; "lingering" while a sent answer is read. */
  #state: "reading" | "ended" | "lingering" | "done" = "reading";
  readonly #onAbort = () => this.#end({ cause: "abort", reason: this.#signal!.reason });

  /**
   * The deadline and the signal count from here; reading starts with
   * {@link Opening.start}.
   *
   * @param transport The transport, not yet started.
   * @param options Head limits, deadline, signal and leftover bound.
   * @param events Where the head and the end go.
   */
  constructor(transport: Transport, options: OpeningOptions, events: OpeningEvents) {
    this.#transport = transport;
    this.#events = events;
    this.#signal = options.signal;
    this.#maxLeftover = options.maxLeftover ?? Infinity;
    this.#timers = options.timers ?? platformTimers;
    this.#parser = options.head === null ? null : new HttpHeadParser(options.head);
    if (options.timeout !== undefined && options.timeout !== Infinity) this.deadline(options.timeout);
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * Starts reading. Separate from the constructor so that the owner holds
   * the Opening before any event can reach it (a transport may report a
   * failure from inside `start`). A signal aborted already ends the
   * opening here, without reading.
   */
  start(): void {
    if (this.#signal?.aborted) return this.#onAbort();
    this.#transport.start(this);
  }

  /** Whether the head is still awaited. */
  get readingHead(): boolean {
    return this.#parser !== null;
  }

  /** Whether the opening is still running (neither ended, handed over nor closed). */
  get reading(): boolean {
    return this.#state === "reading";
  }

  /**
   * Moves the deadline to `ms` from now (a refusal's body gets its own).
   *
   * @param ms Milliseconds until `ended({ cause: "timeout" })`.
   */
  deadline(ms: number): void {
    if (this.#state !== "reading") return;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = this.#timers.setTimeout(() => this.#end({ cause: "timeout" }), ms);
  }

  /**
   * Sends the bytes that follow the head, those already kept first, to
   * `consume` instead of keeping them.
   *
   * @param consume Takes each chunk.
   */
  follow(consume: (chunk: Uint8Array) => void): void {
    this.#follow = consume;
    const kept = this.#takeLeftover();
    if (kept !== undefined) consume(kept);
  }

  data(chunk: Uint8Array): void {
    if (this.#state !== "reading") return;
    const parser = this.#parser;
    if (parser === null) return this.#keep(chunk);
    let head;
    try {
      head = parser.push(chunk);
    } catch (err) {
      if (!(err instanceof HttpHeadError)) throw err;
      return this.#end({ cause: "malformed", error: err });
    }
    if (head === null) return;
    this.#parser = null;
    if (head.rest.length > 0) this.#keep(head.rest);
    if (this.#state === "reading") this.#events.head(head);
  }

  end(): void {
    if (this.#state === "lingering") this.close();
    else this.#end({ cause: "eof" });
  }

  error(error: unknown): void {
    if (this.#state === "lingering") this.close();
    else this.#end({ cause: "error", error });
  }

  drain(): void {}

  /**
   * Hands the transport over: stops listening and returns the bytes that
   * followed the head, for the connection, which must `start` the transport
   * right away (in the same synchronous run): bytes arriving in between
   * would be lost.
   *
   * @returns The bytes, or undefined when there were none.
   */
  release(): Uint8Array | undefined {
    this.#cleanUp("done");
    return this.#takeLeftover();
  }

  /** Drops the transport now. Safe to call in any state, and again. */
  close(): void {
    this.#cleanUp("done");
    this.#leftover = [];
    this.#transport.destroy();
  }

  /**
   * After an answer that ends the opening was written: closes our side and
   * drops the transport when the peer closes its own, or after `ms`.
   *
   * @param ms The grace period.
   */
  linger(ms: number): void {
    if (this.#state === "done") return;
    this.#cleanUp("lingering");
    this.#leftover = [];
    this.#timer = this.#timers.setTimeout(() => this.close(), ms);
  }

  #keep(chunk: Uint8Array): void {
    if (this.#follow !== null) return this.#follow(chunk);
    this.#leftoverBytes += chunk.length;
    if (this.#leftoverBytes > this.#maxLeftover) return this.#end({ cause: "overflow" });
    this.#leftover.push(chunk);
  }

  #takeLeftover(): Uint8Array | undefined {
    const parts = this.#leftover;
    this.#leftover = [];
    this.#leftoverBytes = 0;
    return parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : concatBytes(parts);
  }

  #end(end: OpeningEnd): void {
    if (this.#state !== "reading") return;
    this.#cleanUp("ended");
    this.#events.ended(end);
  }

  /** Clears the timer and the signal listener; runs its cleanup once, whatever ends the opening. */
  #cleanUp(next: "ended" | "lingering" | "done"): void {
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#state === "reading") this.#signal?.removeEventListener("abort", this.#onAbort);
    if (this.#state !== "done") this.#state = next;
  }
}

