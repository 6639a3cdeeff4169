/**
 * Topics: the Hub holds a server's open connections and who subscribed to
 * what, and publishes a message to a topic's subscribers with the frame
 * encoded once. `serve` makes one per server; `requestHandler` users make
 * their own and pass it as the `hub` option.
 *
 * @module
 */

import { encodeFrame, encodeTextFrame } from "../codec/encoder.ts";
import { Opcode } from "../codec/frame.ts";
import { CloseCode } from "../codec/close.ts";
import { attachHub, SHARED_CLOSED, SHARED_DROPPED, type SharedMessage, writeShared } from "../connection/topics.ts";
import type { WebSocketConnection } from "../connection/connection.ts";
import { Message } from "../message.ts";
import type { Backplane } from "./backplane.ts";
import { DurableTopics, type ResumeSessionOptions } from "./durable.ts";
import { type Appended, type DurableLog, type DurableTopicOptions, MemoryLog } from "./durable_log.ts";
import { type ServerStats, Telemetry } from "../connection/telemetry.ts";
import { nodeChannels } from "../transport/diagnostics.ts";

/**
 * Options for {@link Hub}.
 *
 * @example Count what slow subscribers miss
 * ```ts
 * import { Hub } from "@streamsock/streamsock";
 *
 * const hub = new Hub({ onDrop: (_ws, topic) => console.warn(`a slow subscriber missed a message on ${topic}`) });
 * console.log(hub.dropped); // 0
 * ```
 */
export interface HubOptions {
  /**
   * Carries publishes to the hubs of other processes (see `./redis`). The
   * hub attaches it, and closes it in `close()`.
   */
  backplane?: Backplane;
  /**
   * Called when a published message was not written to a subscriber whose
   * `backpressurePolicy` is `"drop"` because `maxBackpressure` bytes were
   * already waiting for it. Also counted in `hub.dropped`.
   */
  onDrop?: (ws: WebSocketConnection, topic: string) => void;
  /**
   * Durable topics by prefix: every topic that starts with `prefix` is
   * durable with that window (see {@link Hub.durable}). `"/"` makes every
   * URL-path topic durable.
   */
  durable?: DurablePrefix | DurablePrefix[];
  /**
   * Where durable topics are kept: by default the backplane's log (Redis
   * Streams for `RedisBackplane`), or a {@link MemoryLog} without a backplane.
   * The hub closes it in `close()`.
   */
  log?: DurableLog;
  /**
   * How long an acknowledged publish with an idempotency key (producer and
   * sequence number) is retried while the log is unreachable before it
   * fails, in ms. Defaults to 5000.
   */
  appendTimeout?: number;
  /**
   * How long the log remembers a producer's last sequence number, in ms: a
   * retry within that time is recognised as a duplicate. Defaults to 24 hours.
   */
  producerTtl?: number;
}

/**
 * Every topic that starts with `prefix` is durable with this window.
 *
 * @example
 * ```ts
 * import { Hub, type DurablePrefix } from "@streamsock/streamsock";
 *
 * const rooms: DurablePrefix = { prefix: "/rooms/", maxLen: 500 };
 * const hub = new Hub({ durable: rooms });
 * console.log(hub.isDurable("/rooms/lobby"), hub.isDurable("/status")); // true false
 * ```
 */
export interface DurablePrefix extends DurableTopicOptions {
  /** The start of the topics' names. */
  prefix: string;
}

/**
 * Options for {@link Hub.append}.
 *
 * @example
 * ```ts
 * import type { AppendKey } from "@streamsock/streamsock";
 *
 * const key: AppendKey = { producer: "sensor-17", seq: 42 };
 * ```
 */
export interface AppendKey {
  /** Who publishes; with `seq`, the idempotency key. */
  producer?: string;
  /** The producer's sequence number for this topic: from 1, increasing; a retry repeats it. */
  seq?: number;
}

/**
 * Options for {@link Hub.publish}.
 *
 * @example
 * ```ts
 * import type { PublishOptions } from "@streamsock/streamsock";
 *
 * const options: PublishOptions = { local: true };
 * ```
 */
export interface PublishOptions {
  /** This connection does not get the message (`ws.publish` passes itself unless `includeSelf`). */
  except?: WebSocketConnection;
  /**
   * Deliver to this process's subscribers only, not through the backplane.
   * Defaults to false. Durable topics ignore it: their messages go through
   * the log.
   */
  local?: boolean;
}

const NO_TOPICS: ReadonlySet<string> = new Set();

let telemetryAccess: ((hub: Hub) => Telemetry) | null = null;

/**
 * A set of open connections and their topic subscriptions (Bun's and uWS's
 * topics, for any server). Connections join with `add` (done for you by
 * `serve` and by `requestHandler` given a `hub`) and leave when they close,
 * taking their subscriptions with them.
 *
 * `publish` encodes the frame once and writes the same bytes to every
 * uncompressed subscriber; compressed ones compress it with their own
 * context. Messages reach each subscriber in the order they were published,
 * and in order with that connection's own sends. A subscriber that already
 * has `maxBackpressure` bytes waiting is closed with 1013 (or, with
 * `backpressurePolicy: "drop"`, misses the message, counted in `dropped`).
 *
 * @example A room per URL path on a node:http server
 * ```ts
 * import { createServer } from "node:http";
 * import { Hub, requestHandler } from "@streamsock/streamsock";
 *
 * const hub = new Hub();
 * const handler = requestHandler(async (ws, request) => {
 *   const room = new URL(request.url, "ws://x").pathname;
 *   ws.subscribe(room);
 *   for await (const msg of ws) ws.publish(room, msg.data);
 * }, undefined, { hub });
 * const http = createServer().on("upgrade", handler);
 * console.log(hub.clients.size, hub.subscriberCount("/lobby")); // 0 0
 * await hub.close();
 * http.close();
 * ```
 */
export class Hub {
  readonly #clients = new Set<WebSocketConnection>();
  readonly #subscribers = new Map<string, Set<WebSocketConnection>>();
  readonly #topicsOf = new Map<WebSocketConnection, Set<string>>();
  readonly #backplane: Backplane | null;
  readonly #onDrop: ((ws: WebSocketConnection, topic: string) => void) | undefined;
  readonly #durable: DurableTopics;
  readonly #options: HubOptions;
  #dropped = 0;
  #closing: Promise<void> | null = null;
  /** The counters and channels of the connections that joined through a server. */
  readonly #telemetry: Telemetry = new Telemetry(nodeChannels, this);

  static {
    telemetryAccess = (hub) => hub.#telemetry;
  }

  /**
   * Creates an empty hub.
   *
   * @param options A backplane to span processes, and the drop hook.
   */
  constructor(options: HubOptions = {}) {
    this.#backplane = options.backplane ?? null;
    this.#options = options;
    this.#onDrop = options.onDrop;
    this.#backplane?.attach({ deliver: (topic, data) => this.#deliver(topic, data, undefined) });
    const backplane = this.#backplane;
    this.#durable = new DurableTopics(
      { deliver: (topic, data, except) => void this.#deliver(topic, data, except) },
      () => {
        if (options.log !== undefined) return options.log;
        if (backplane === null) return new MemoryLog();
        if (backplane.openLog === undefined) throw new TypeError("Durable topics need a backplane that keeps a log");
        return backplane.openLog();
      },
      { appendTimeout: options.appendTimeout ?? 5000, producerTtl: options.producerTtl ?? 24 * 3_600_000 },
    );
    const prefixes = options.durable === undefined ? [] : [options.durable].flat();
    for (const { prefix, ...window } of prefixes) this.#declare(() => this.#durable.declarePrefix(prefix, window));
  }

  #declare(declare: () => void): void {
    if (this.#options.log === undefined && this.#backplane !== null && this.#backplane.openLog === undefined) {
      throw new TypeError("Durable topics need a backplane that keeps a log (RedisBackplane does), or none");
    }
    declare();
  }

  /**
   * Makes a topic durable: every message published to it is stored in the
   * topic's log (Redis Streams through a `RedisBackplane`, else a bounded
   * log in this process) with a position, and delivered in the log's order
   * to every subscriber, in every process. Clients of the
   * `streamsock.resume.v1` subprotocol (see {@link Hub.resume}) resume from
   * their position after a reconnect; plain subscribers get the same
   * messages as before. Declare a topic before publishing to it, the same
   * way in every process.
   *
   * @param topic The topic.
   * @param options How much of the log is kept: `maxLen` messages (1000), for `maxAge` ms (no limit).
   * @throws {TypeError} When the hub's backplane keeps no log.
   * @throws {RangeError} For a window that is not a positive count or a duration.
   *
   * @example
   * ```ts
   * import { Hub } from "@streamsock/streamsock";
   *
   * const hub = new Hub();
   * hub.durable("orders", { maxLen: 10_000, maxAge: 60 * 60_000 });
   * const stored = await hub.append("orders", "order 1", { producer: "shop", seq: 1 });
   * console.log(stored.offset, stored.duplicate); // 1 false
   * console.log((await hub.append("orders", "order 1", { producer: "shop", seq: 1 })).duplicate); // true
   * await hub.close();
   * ```
   */
  durable(topic: string, options: DurableTopicOptions = {}): void {
    this.#declare(() => this.#durable.declare(String(topic), options));
  }

  /**
   * Whether a topic is durable (by name or by prefix).
   *
   * @param topic The topic.
   * @returns True for a durable topic.
   */
  isDurable(topic: string): boolean {
    return this.#durable.windowOf(topic) !== undefined;
  }

  /**
   * Publishes to a durable topic and resolves once the log stored it, with
   * its position. With a `producer` and `seq`, a retry of the same message
   * is recognised and not stored twice (`duplicate: true`), and the append
   * is retried while the log is unreachable, up to `appendTimeout`.
   *
   * @param topic A durable topic.
   * @param data The message.
   * @param key The idempotency key.
   * @returns Where it is stored.
   * @throws {TypeError} When the topic is not durable.
   *
   * @example
   * ```ts
   * import { Hub } from "@streamsock/streamsock";
   *
   * const hub = new Hub({ durable: { prefix: "" } });
   * const { epoch, offset } = await hub.append("feed", new Uint8Array([1, 2, 3]));
   * console.log(typeof epoch, offset); // string 1
   * await hub.close();
   * ```
   */
  append(topic: string, data: string | Uint8Array, key: AppendKey = {}): Promise<Appended> {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      return Promise.reject(new TypeError("append expects a string or a Uint8Array"));
    }
    return this.#durable.append(String(topic), data, key.producer, key.seq);
  }

  /**
   * Serves the `streamsock.resume.v1` subprotocol (docs/resume-protocol.md)
   * on a connection of this hub until it closes: the client subscribes to
   * durable topics from a position and gets what it missed, in order, then
   * live messages; its publishes are acknowledged with their positions.
   * Call it from `onSocket` when `ws.protocol` is {@link RESUME_PROTOCOL}.
   *
   * @param ws A connection of this hub that negotiated the subprotocol.
   * @param options Who may subscribe and publish to what; a hook on publishes.
   * @returns Resolves when the connection has closed.
   *
   * @example
   * ```ts ignore
   * import { RESUME_PROTOCOL, serve } from "@streamsock/streamsock";
   *
   * const server = serve({ port: 8080, durable: { prefix: "/" } }, async (ws, request) => {
   *   if (ws.protocol === RESUME_PROTOCOL) return server.hub.resume(ws);
   *   const room = new URL(request.url, "ws://x").pathname;
   *   ws.subscribe(room);
   *   for await (const msg of ws) ws.publish(room, msg.data);
   * });
   * ```
   */
  resume(ws: WebSocketConnection, options: ResumeSessionOptions = {}): Promise<void> {
    return this.#durable.session(ws, (topic, data) => void this.publish(topic, data), options);
  }

  /** Publishes to durable topics that the log could not take (it was unreachable); plain subscribers missed them. */
  get unlogged(): number {
    return this.#durable.unlogged;
  }

  /** The open connections that joined (like ws's `wss.clients`). Read-only. */
  get clients(): ReadonlySet<WebSocketConnection> {
    return this.#clients;
  }

  /** Published messages not written to a subscriber because of its backpressure policy `"drop"`. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * The counters of the connections that joined this hub through a server
   * (`serve`, or `requestHandler` with this hub): open connections, totals,
   * closes by code, messages and bytes each way, refused handshakes by
   * status, drops by cause, limits hit, topics, subscriptions and the bytes
   * waiting to be sent. A snapshot, cheap to take: the connections count in
   * plain fields and this adds them up. `server.stats()` is the same.
   *
   * @returns A new plain object.
   *
   * @example
   * ```ts
   * import { Hub } from "@streamsock/streamsock";
   *
   * const hub = new Hub();
   * const { connections, messagesReceived, closeCodes } = hub.stats();
   * console.log(connections, messagesReceived, closeCodes); // 0 0 {}
   * ```
   */
  stats(): ServerStats {
    let subscriptions = 0;
    for (const subscribers of this.#subscribers.values()) subscriptions += subscribers.size;
    return this.#telemetry.snapshot(this.#subscribers.size, subscriptions);
  }

  /** The backplane given to the constructor, or null. */
  get backplane(): Backplane | null {
    return this.#backplane;
  }

  /**
   * Adds a connection: it can subscribe, and `close()` closes it. It leaves
   * the hub, and every topic, when it closes. Adding a connection that is in
   * another hub moves it.
   *
   * @param ws An open connection.
   * @throws {Error} When the hub is closing.
   */
  add(ws: WebSocketConnection): void {
    if (this.#closing !== null) throw new Error("The hub is closing");
    if (this.#clients.has(ws)) return;
    this.#clients.add(ws);
    // The connection calls remove(ws) itself when it closes (no callback per connection).
    if (!attachHub(ws, this)) this.#clients.delete(ws); // already closed: nothing to track
  }

  /**
   * Takes a connection out of the hub and out of every topic (done by
   * itself when the connection closes).
   *
   * @param ws A connection.
   */
  remove(ws: WebSocketConnection): void {
    if (!this.#clients.delete(ws)) return;
    const topics = this.#topicsOf.get(ws);
    if (topics !== undefined) { for (const topic of topics) this.unsubscribe(ws, topic); }
    attachHub(ws, null);
  }

  /**
   * Subscribes a connection of this hub to a topic (what `ws.subscribe` does).
   *
   * @param ws A connection added to this hub.
   * @param topic Any string.
   * @returns False when `ws` is not (or no longer) in this hub.
   */
  subscribe(ws: WebSocketConnection, topic: string): boolean {
    if (!this.#clients.has(ws)) return false;
    let topics = this.#topicsOf.get(ws);
    if (topics === undefined) this.#topicsOf.set(ws, topics = new Set());
    if (topics.has(topic)) return true;
    topics.add(topic);
    let subscribers = this.#subscribers.get(topic);
    if (subscribers === undefined) {
      this.#subscribers.set(topic, subscribers = new Set());
      if (this.#durable.windowOf(topic) !== undefined) this.#durable.watch(topic);
      else this.#backplane?.subscribe(topic);
    }
    subscribers.add(ws);
    return true;
  }

  /**
   * Unsubscribes a connection from a topic (what `ws.unsubscribe` does).
   *
   * @param ws A connection.
   * @param topic The topic.
   * @returns Whether it was subscribed.
   */
  unsubscribe(ws: WebSocketConnection, topic: string): boolean {
    const topics = this.#topicsOf.get(ws);
    if (topics === undefined || !topics.delete(topic)) return false;
    if (topics.size === 0) this.#topicsOf.delete(ws);
    const subscribers = this.#subscribers.get(topic)!;
    subscribers.delete(ws);
    if (subscribers.size === 0) {
      this.#subscribers.delete(topic);
      if (this.#durable.windowOf(topic) !== undefined) this.#durable.unwatch(topic);
      else this.#backplane?.unsubscribe(topic);
    }
    return true;
  }

  /**
   * The topics a connection subscribed to.
   *
   * @param ws A connection.
   * @returns Its topics (empty when none).
   */
  topicsOf(ws: WebSocketConnection): ReadonlySet<string> {
    return this.#topicsOf.get(ws) ?? NO_TOPICS;
  }

  /**
   * How many connections of this process subscribe to a topic.
   *
   * @param topic The topic.
   * @returns The local subscriber count.
   */
  subscriberCount(topic: string): number {
    return this.#subscribers.get(topic)?.size ?? 0;
  }

  /**
   * The topics with at least one local subscriber: a new array each time,
   * the same shape as `ws.topics` (and serialisable, unlike an iterator).
   *
   * @example
   * ```ts
   * import { Hub } from "@streamsock/streamsock";
   *
   * const hub = new Hub();
   * console.log(hub.topics, JSON.stringify(hub.topics)); // [] []
   * ```
   */
  get topics(): string[] {
    return [...this.#subscribers.keys()];
  }

  /**
   * Sends a message to every subscriber of `topic` in this process (except
   * `options.except`) and, through the backplane, in the others. It does not
   * wait: each subscriber's bytes are queued in order with its own sends,
   * bounded by its `maxBackpressure`.
   *
   * @param topic The topic.
   * @param data Text (a string) or binary (bytes) message.
   * @param options Who to leave out; local-only delivery.
   * @returns How many local subscribers the message was queued for.
   *
   * @example
   * ```ts
   * import { Hub } from "@streamsock/streamsock";
   *
   * const hub = new Hub();
   * console.log(hub.publish("news", "nobody listens yet")); // 0
   * ```
   */
  publish(topic: string, data: string | Uint8Array, options: PublishOptions = {}): number {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw new TypeError("publish expects a string or a Uint8Array");
    }
    if (this.#durable.windowOf(topic) !== undefined) {
      // Delivered from the log, in its order, in every process.
      this.#durable.publish(topic, data, options.except);
      return this.subscriberCount(topic) - (options.except !== undefined && this.topicsOf(options.except).has(topic) ? 1 : 0);
    }
    const reached = this.#deliver(topic, data, options.except);
    if (options.local !== true) this.#backplane?.publish(topic, data);
    return reached;
  }

  /**
   * Hot path: one frame, encoded on first use, shared by every uncompressed
   * subscriber (the bytes are never mutated after encoding: server frames
   * are not masked).
   */
  #deliver(topic: string, data: string | Uint8Array, except: WebSocketConnection | undefined): number {
    const subscribers = this.#subscribers.get(topic);
    if (subscribers === undefined) {
      const channel = this.#telemetry.channels.topicPublish;
      if (channel.hasSubscribers) channel.publish({ hub: this, topic, deliveries: 0, drops: 0 });
      return 0;
    }
    let bytes: Uint8Array | null = null;
    let message: Message | null = null;
    const shared: SharedMessage = {
      data,
      frame: () =>
        bytes ??= typeof data === "string"
          ? encodeTextFrame(data, Opcode.Text, true, 0, null).bytes
          : encodeFrame({ fin: true, opcode: Opcode.Binary, payload: data }, null),
      message: () => message ??= new Message(data, typeof data === "string" ? "text" : "binary"),
    };
    let reached = 0;
    let drops = 0;
    // A subscriber closed by its policy leaves the set while we iterate: Set
    // iteration tolerates deleting entries already visited.
    for (const ws of subscribers) {
      if (ws === except) continue;
      const queued = writeShared(ws, shared);
      if (queued >= 0) reached++;
      else if (queued === SHARED_DROPPED) {
        drops++;
        this.#drop(ws, topic);
      } else if (queued === SHARED_CLOSED) this.remove(ws);
    }
    const channel = this.#telemetry.channels.topicPublish;
    if (channel.hasSubscribers) channel.publish({ hub: this, topic, deliveries: reached, drops });
    return reached;
  }

  #drop(ws: WebSocketConnection, topic: string): void {
    this.#dropped++;
    this.#telemetry.drop("backpressure");
    try {
      this.#onDrop?.(ws, topic);
    } catch (err) {
      console.error("streamsock: onDrop failed:", err);
    }
  }

  /**
   * Drains: upgrades to a server of this hub are answered 503 with
   * `Retry-After` from now on, every connection is closed with 1001 (Going
   * Away), and this waits for their closing handshakes; each connection drops its transport after its own
   * `closeTimeout` (5 s by default) if the peer does not answer. Then closes
   * the backplane. Connections cannot join meanwhile. Calling it again
   * returns the same promise.
   *
   * @param reason The close reason sent with 1001.
   * @returns Resolves when every connection is closed.
   */
  close(reason = "Server is shutting down"): Promise<void> {
    // Upgrades to a server of this hub are answered 503 from now on.
    this.#telemetry.draining = true;
    this.#closing ??= (async () => {
      // RFC 6455 §7.4.1: 1001, an endpoint going away.
      await Promise.all([...this.#clients].map((ws) => ws.close(CloseCode.GoingAway, reason)));
      await this.#durable.close();
      await this.#backplane?.close();
    })();
    return this.#closing;
  }
}

/** The telemetry of a hub, for the server that counts its connections into it. */
export function telemetryOf(hub: Hub): Telemetry {
  return telemetryAccess!(hub);
}
