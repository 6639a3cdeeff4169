/**
 * The resuming client: `reconnecting(url, { resume: true })`. Subscriptions
 * and publishes on durable topics that survive reconnects, server crashes
 * and Redis restarts, over the `streamsock.resume.v1` subprotocol
 * (docs/resume-protocol.md).
 *
 * @module
 */

import type { WebSocketConnection } from "../connection/connection.ts";
import {
  fromWire,
  type GapReason,
  parseServerFrame,
  type Position,
  RESUME_PROTOCOL,
  type ServerFrame,
  toWire,
} from "../pubsub/resume_protocol.ts";

/**
 * Options of the resuming client (`reconnecting(url, { resume: { ... } })`).
 *
 * @example
 * ```ts
 * import type { ResumeOptions } from "@streamsock/streamsock";
 *
 * const options: ResumeOptions = { producer: "sensor-17", maxQueued: 1000 };
 * ```
 */
export interface ResumeOptions {
  /**
   * This client's producer id, the first half of each publish's idempotency
   * key (the second is a sequence number per topic). Defaults to a random
   * UUID: unique per client object.
   */
  producer?: string;
  /**
   * Events received but not yet taken from the iterator past which the
   * client stops reading the connection (the server then waits: TCP
   * backpressure). Defaults to 10000.
   */
  maxQueued?: number;
  /** Publishes not yet acknowledged past which `publish` rejects. Defaults to 10000. */
  maxPending?: number;
  /** Called with each new connection, once it speaks the subprotocol and before anything is sent on it. */
  onConnect?: (ws: WebSocketConnection) => void;
}

/**
 * What a resuming client yields: messages of its durable topics in log
 * order, exactly once; explicit gaps where messages can no longer be
 * delivered; refusals of subscriptions.
 *
 * @example
 * ```ts
 * import type { ResumeEvent } from "@streamsock/streamsock";
 *
 * const show = (event: ResumeEvent) =>
 *   event.type === "message" ? `${event.topic}#${event.offset}: ${String(event.data)}`
 *   : event.type === "gap" ? `${event.topic}: ${event.from}-${event.to ?? "?"} ${event.reason}`
 *   : `${event.topic} refused: ${event.reason}`;
 * console.log(show({ type: "gap", topic: "news", epoch: "e1", from: 3, to: 9, reason: "trimmed" })); // news: 3-9 trimmed
 * ```
 */
export type ResumeEvent =
  | { type: "message"; topic: string; data: string | Uint8Array; epoch: string; offset: number }
  | { type: "gap"; topic: string; epoch: string; from: number; to: number | null; reason: GapReason; next?: string }
  | { type: "refused"; topic: string; reason: string };

/**
 * Where a new subscription starts: `"now"` (the default) from the next
 * message, `"start"` from the oldest message the log still keeps, or after
 * a position saved earlier (`client.position(topic)`).
 *
 * @example
 * ```ts
 * import type { SubscribeFrom } from "@streamsock/streamsock";
 *
 * const saved: SubscribeFrom = { epoch: "k3j9x", offset: 41 };
 * ```
 */
export type SubscribeFrom = "now" | "start" | Position;

/**
 * A publish the log stored: where, and whether it was a retry of a message
 * already stored.
 *
 * @example
 * ```ts
 * import type { PublishReceipt } from "@streamsock/streamsock";
 *
 * const receipt: PublishReceipt = { topic: "news", epoch: "k3j9x", offset: 42, duplicate: false };
 * ```
 */
export interface PublishReceipt {
  /** The topic. */
  topic: string;
  /** The log's epoch (absent for a topic that is not durable). */
  epoch?: string;
  /** The message's offset (absent for a topic that is not durable, or a duplicate whose original is no longer known). */
  offset?: number;
  /** True when the server had already stored this message: this was a retry. */
  duplicate: boolean;
}

/**
 * Makes the connections: `reconnecting`'s loop with the subprotocol and the
 * client's signal (how `reconnecting(url, { resume: true })` builds a
 * {@link ResumingClient}).
 *
 * @example
 * ```ts ignore
 * import { reconnecting, RESUME_PROTOCOL, type ResumeConnections, ResumingClient } from "@streamsock/streamsock";
 *
 * const connections: ResumeConnections = (signal) => reconnecting("ws://127.0.0.1:8080/", { protocol: RESUME_PROTOCOL, signal });
 * const client = new ResumingClient(connections);
 * ```
 */
export type ResumeConnections = (signal: AbortSignal) => AsyncIterable<WebSocketConnection>;

interface Pending {
  seq: number;
  text: string;
  resolve(receipt: PublishReceipt): void;
  reject(error: unknown): void;
}

interface TopicState {
  from: SubscribeFrom;
  position: Position | null;
}

/**
 * A client of durable topics that survives reconnects: made by
 * `reconnecting(url, { resume: true })`. It subscribes again after each
 * reconnect from the position of the last message it received, so it
 * yields every message of its topics once, in the log's order, or a `gap`
 * event where the log no longer has them; publishes are retried until the
 * server acknowledges them, and stored once.
 *
 * @example
 * ```ts ignore
 * import { reconnecting } from "@streamsock/streamsock";
 *
 * const client = reconnecting("wss://chat.example/", { resume: true });
 * client.subscribe("/lobby", { from: "start" });
 * await client.publish("/lobby", "hello");
 * for await (const event of client) {
 *   if (event.type === "message") console.log(event.offset, event.data);
 *   else console.warn(event);
 * }
 * ```
 */
export class ResumingClient implements AsyncIterable<ResumeEvent> {
  /** The producer id of this client's publishes. */
  readonly producer: string;
  /** Resolves when the client has stopped: after `close()`, or rejects with an error reconnecting cannot fix. */
  readonly done: Promise<void>;
  readonly #topics = new Map<string, TopicState>();
  readonly #pending = new Map<string, Map<number, Pending>>();
  readonly #seqs = new Map<string, number>();
  readonly #events: ResumeEvent[] = [];
  #eventWaiters: (() => void)[] = [];
  #drainWaiters: (() => void)[] = [];
  readonly #maxQueued: number;
  readonly #maxPending: number;
  readonly #onConnect: ((ws: WebSocketConnection) => void) | undefined;
  readonly #stop = new AbortController();
  #pendingCount = 0;
  #ws: WebSocketConnection | null = null;
  #ended = false;
  #error: { error: unknown } | null = null;
  #skipped = 0;
  #connections = 0;

  /**
   * Use `reconnecting(url, { resume: true })`.
   *
   * @param connections The reconnecting loop, given the client's signal.
   * @param options Producer id and bounds.
   * @param signal Closes the client when it aborts.
   */
  constructor(connections: ResumeConnections, options: ResumeOptions = {}, signal?: AbortSignal) {
    this.producer = options.producer ?? crypto.randomUUID();
    this.#maxQueued = options.maxQueued ?? 10_000;
    this.#maxPending = options.maxPending ?? 10_000;
    this.#onConnect = options.onConnect;
    if (signal?.aborted) this.#stop.abort();
    else signal?.addEventListener("abort", () => void this.close(), { once: true });
    this.done = this.#run(connections);
    this.done.catch(() => {});
  }

  /** The open connection, or null between two. */
  get connection(): WebSocketConnection | null {
    return this.#ws;
  }

  /** How many connections were opened so far. */
  get connections(): number {
    return this.#connections;
  }

  /** Messages received again after a reconnect and not yielded twice (0 with a server that keeps the protocol). */
  get skipped(): number {
    return this.#skipped;
  }

  /** Publishes sent and not yet acknowledged. */
  get pending(): number {
    return this.#pendingCount;
  }

  /**
   * Subscribes to a durable topic (again after every reconnect, from where
   * it left off). Subscribing again to a topic restarts it from `from`.
   *
   * @param topic The topic.
   * @param options Where to start: `"now"` (default), `"start"` or a saved position.
   */
  subscribe(topic: string, options: { from?: SubscribeFrom } = {}): void {
    const from = options.from ?? "now";
    const state: TopicState = { from, position: typeof from === "object" ? { ...from } : null };
    this.#topics.set(topic, state);
    this.#sendSub(topic, state);
  }

  /**
   * Stops receiving a topic.
   *
   * @param topic The topic.
   */
  unsubscribe(topic: string): void {
    if (!this.#topics.delete(topic)) return;
    this.#send({ op: "unsub", topic });
  }

  /**
   * The position of the last message received on a topic (or where its
   * subscription started): pass it as `from` to resume in another client.
   *
   * @param topic The topic.
   * @returns The position, or undefined before the server confirmed the subscription.
   */
  position(topic: string): Position | undefined {
    const position = this.#topics.get(topic)?.position;
    return position === null || position === undefined ? undefined : { ...position };
  }

  /**
   * Publishes a message, retried across reconnects until the server
   * acknowledges it; the server stores it once however often it was sent
   * (producer id + sequence number).
   *
   * @param topic The topic.
   * @param data Text or bytes.
   * @returns The receipt, once the log stored it.
   * @throws {RangeError} When `maxPending` publishes already wait for their acknowledgement.
   */
  publish(topic: string, data: string | Uint8Array): Promise<PublishReceipt> {
    if (this.#ended) return Promise.reject(new Error("The resuming client is closed"));
    if (this.#pendingCount >= this.#maxPending) {
      return Promise.reject(new RangeError(`${this.#maxPending} publishes already wait for their acknowledgement`));
    }
    const seq = (this.#seqs.get(topic) ?? 0) + 1;
    this.#seqs.set(topic, seq);
    const text = JSON.stringify({ op: "pub", topic, producer: this.producer, seq, ...toWire(data) });
    return new Promise((resolve, reject) => {
      let queue = this.#pending.get(topic);
      if (queue === undefined) this.#pending.set(topic, queue = new Map());
      queue.set(seq, { seq, text, resolve, reject });
      this.#pendingCount++;
      this.#sendText(text);
    });
  }

  /**
   * The next event; waits for one.
   *
   * @returns The event, or done once the client is closed and every event was taken.
   */
  async next(): Promise<IteratorResult<ResumeEvent, undefined>> {
    for (;;) {
      const event = this.#events.shift();
      if (event !== undefined) {
        if (this.#events.length < this.#maxQueued) for (const wake of this.#drainWaiters.splice(0)) wake();
        return { value: event, done: false };
      }
      if (this.#error !== null) throw this.#error.error;
      if (this.#ended) return { value: undefined, done: true };
      await new Promise<void>((resolve) => this.#eventWaiters.push(resolve));
    }
  }

  /** Iterates over the events; breaking out of the loop does not close the client. */
  [Symbol.asyncIterator](): AsyncIterator<ResumeEvent, undefined> {
    return { next: () => this.next() };
  }

  /**
   * Closes the connection (1001) and stops reconnecting; unacknowledged
   * publishes reject. Events already received can still be taken.
   *
   * @returns Resolves when the client has stopped.
   */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.done.catch(() => {});
  }

  #emit(event: ResumeEvent): void {
    this.#events.push(event);
    for (const wake of this.#eventWaiters.splice(0)) wake();
  }

  #sendText(text: string): void {
    // Not awaited, so that sends keep their order; one that fails is resent after the reconnect.
    this.#ws?.send(text).catch(() => {});
  }

  #send(frame: object): void {
    this.#sendText(JSON.stringify(frame));
  }

  #sendSub(topic: string, state: TopicState): void {
    const at = state.position ?? (state.from === "start" ? { offset: 0 } : {});
    this.#send({ op: "sub", topic, ...at });
  }

  async #run(connections: ResumeConnections): Promise<void> {
    try {
      for await (const ws of connections(this.#stop.signal)) {
        if (ws.protocol !== RESUME_PROTOCOL) {
          await ws.close(1000, "").catch(() => {});
          throw new Error(`The server did not accept the ${RESUME_PROTOCOL} subprotocol`);
        }
        this.#connections++;
        this.#onConnect?.(ws);
        this.#ws = ws;
        // Synchronously, in this order: subscriptions, then every publish not
        // yet acknowledged, oldest first, before any new one.
        for (const [topic, state] of this.#topics) this.#sendSub(topic, state);
        for (const queue of this.#pending.values()) for (const pending of queue.values()) this.#sendText(pending.text);
        try {
          for await (const msg of ws) {
            if (msg.type !== "text") continue;
            this.#receive(parseServerFrame(msg.data as string));
            while (this.#events.length >= this.#maxQueued && !this.#stop.signal.aborted) {
              await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
            }
          }
        } catch (error) {
          // A frame that breaks the protocol: this connection is useless, the next may do.
          await ws.close(1002, String((error as Error).message).slice(0, 100)).catch(() => {});
        }
        this.#ws = null;
      }
    } catch (error) {
      this.#error = { error };
      throw error;
    } finally {
      this.#ws = null;
      this.#ended = true;
      for (const queue of this.#pending.values()) {
        for (const pending of queue.values()) pending.reject(new Error("The resuming client closed before the publish was acknowledged"));
      }
      this.#pending.clear();
      this.#pendingCount = 0;
      for (const wake of this.#eventWaiters.splice(0)) wake();
    }
  }

  #receive(frame: ServerFrame): void {
    switch (frame.op) {
      case "msg": {
        const state = this.#topics.get(frame.topic);
        if (state === undefined || frame.epoch === undefined || frame.offset === undefined) return;
        const at = state.position;
        if (at !== null && at.epoch === frame.epoch && frame.offset <= at.offset) {
          this.#skipped++;
          return;
        }
        state.position = { epoch: frame.epoch, offset: frame.offset };
        this.#emit({ type: "message", topic: frame.topic, data: fromWire(frame), epoch: frame.epoch, offset: frame.offset });
        return;
      }
      case "gap": {
        const state = this.#topics.get(frame.topic);
        if (state === undefined) return;
        state.position = frame.reason === "epoch"
          ? (frame.next === undefined ? null : { epoch: frame.next, offset: 0 })
          : { epoch: frame.epoch, offset: frame.to ?? 0 };
        const { topic, epoch, from, to, reason, next } = frame;
        this.#emit(next === undefined ? { type: "gap", topic, epoch, from, to, reason } : { type: "gap", topic, epoch, from, to, reason, next });
        return;
      }
      case "subscribed": {
        const state = this.#topics.get(frame.topic);
        if (state !== undefined && frame.epoch !== undefined && frame.offset !== undefined) {
          state.position = { epoch: frame.epoch, offset: frame.offset };
        }
        return;
      }
      case "ack":
      case "nack": {
        const queue = this.#pending.get(frame.topic);
        if (frame.seq === undefined || frame.producer !== this.producer) {
          if (frame.op === "nack" && frame.seq === undefined && this.#topics.delete(frame.topic)) {
            this.#emit({ type: "refused", topic: frame.topic, reason: frame.reason });
          }
          return;
        }
        const pending = queue?.get(frame.seq);
        if (pending === undefined) return; // acknowledged before: a resend's answer
        queue!.delete(frame.seq);
        this.#pendingCount--;
        if (frame.op === "nack") pending.reject(new Error(`The server refused the publish: ${frame.reason}`));
        else {
          const receipt: PublishReceipt = { topic: frame.topic, duplicate: frame.duplicate };
          if (frame.epoch !== undefined) receipt.epoch = frame.epoch;
          if (frame.offset !== undefined) receipt.offset = frame.offset;
          pending.resolve(receipt);
        }
        return;
      }
      default:
        return;
    }
  }
}
