/**
 * The inbox: received frames waiting for `recv`, the callers waiting for
 * frames, and when to stop reading (inbound backpressure). Nothing is
 * allocated until the first frame or the first waiting caller: an idle
 * connection holds no arrays here.
 *
 * @module
 */

import type { WebSocketError } from "../errors.ts";
import type { Message } from "../message.ts";

/** Inbound backpressure: stop reading when this many bytes are received but unread... */
export const INBOX_HIGH_WATER_BYTES = 1024 * 1024;
/** ...or this many frames. */
export const INBOX_HIGH_WATER_COUNT = 1024;

interface Waiter {
  resolve(msg: Message): void;
  reject(err: unknown): void;
}

/** A FIFO of received frames with their payload sizes, and the readers waiting for them. */
export class Inbox {
  #messages: (Message | undefined)[] | null = null;
  #sizes: number[] | null = null;
  #head = 0;
  #waiters: Waiter[] | null = null;
  /** Control frames `recvAll` set aside while it gathered fragments; they come out first. */
  #setAside: Message[] | null = null;
  /** Told (once) of the next frame queued or of `end`; see `whenReady`. */
  #onReady: { ready(): void } | null = null;
  /** Why no more frames will come once the queue is empty. */
  #error: WebSocketError | null = null;
  /** Unread payload bytes. */
  bytes = 0;
  /** Frames taken so far (the writer's cork watches it). */
  taken = 0;

  /** Frames queued and unread (set-aside ones not counted). */
  get length(): number {
    return this.#messages === null ? 0 : this.#messages.length - this.#head;
  }

  /** Whether reading should pause until the application catches up. */
  get full(): boolean {
    return this.bytes > INBOX_HIGH_WATER_BYTES || this.length > INBOX_HIGH_WATER_COUNT;
  }

  /** Why `next` rejects once the queue is empty, or null. */
  get error(): WebSocketError | null {
    return this.#error;
  }

  /** Whether frames were set aside by `recvAll`. */
  get hasSetAside(): boolean {
    return this.#setAside !== null && this.#setAside.length > 0;
  }

  /** A received frame: to the first waiting reader, else to the queue. */
  deliver(msg: Message, size: number): void {
    const waiter = this.#waiters?.shift();
    if (waiter !== undefined) {
      waiter.resolve(msg);
      return;
    }
    if (this.#messages === null) {
      this.#messages = [];
      this.#sizes = [];
    }
    this.#messages.push(msg);
    this.#sizes!.push(size);
    this.bytes += size;
    if (this.#onReady !== null) this.#wake();
  }

  /**
   * Calls `waiter.ready()` once a frame is queued or the inbox ends, without
   * taking it: the iterator's wait while a connection is idle, with no
   * promise here (rather than a chain of async functions waiting in
   * `recv`). One waiter at a time.
   */
  whenReady(waiter: { ready(): void }): void {
    this.#onReady = waiter;
  }

  #wake(): void {
    const waiter = this.#onReady!;
    this.#onReady = null;
    waiter.ready();
  }

  /** The next queued frame; only valid when `length > 0`. */
  peek(): Message {
    return this.#messages![this.#head]!;
  }

  /** The size of the next queued frame; only valid when `length > 0`. */
  peekSize(): number {
    return this.#sizes![this.#head];
  }

  /** Removes the next queued frame; only valid when `length > 0`. */
  shift(): Message {
    const messages = this.#messages!;
    const sizes = this.#sizes!;
    const msg = messages[this.#head]!;
    this.bytes -= sizes[this.#head];
    messages[this.#head] = undefined;
    this.#head++;
    this.taken++;
    if (this.#head === messages.length) {
      // Drained: drop the arrays so an idle connection holds none.
      this.#messages = null;
      this.#sizes = null;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > messages.length) {
      this.#messages = messages.slice(this.#head);
      this.#sizes = sizes.slice(this.#head);
      this.#head = 0;
    }
    return msg;
  }

  /** The next frame if one is ready (set-aside ones first), else undefined. */
  take(): Message | undefined {
    if (this.hasSetAside) return this.#setAside!.shift();
    return this.length > 0 ? this.shift() : undefined;
  }

  /** A promise of the next frame, for when `take` found none. */
  wait(): Promise<Message> {
    if (this.#error !== null) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => (this.#waiters ??= []).push({ resolve, reject }));
  }

  /** Puts control frames back in front of the queue, in order. */
  setAside(messages: Message[]): void {
    (this.#setAside ??= []).push(...messages);
  }

  /**
   * No more frames will come: readers waiting now and later get `error`
   * (unless `keep` and an error is already recorded).
   */
  end(error: WebSocketError, keep = false): void {
    if (keep && this.#error !== null) return;
    this.#error = error;
    if (this.#onReady !== null) this.#wake();
    const waiters = this.#waiters;
    this.#waiters = null;
    if (waiters !== null) for (const waiter of waiters) waiter.reject(error);
  }
}
