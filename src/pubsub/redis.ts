/**
 * The Redis backplane: topics that span processes and machines through
 * Redis pub/sub, on the `redis` client from npm (node-redis, an optional
 * peer dependency: `npm install redis`). Its own entry point,
 * `@streamsock/streamsock/redis` on JSR and `streamsock/redis` on npm, so the
 * main package stays free of dependencies.
 *
 * Guarantees (those of Redis pub/sub, as in crossws and Socket.IO's Redis
 * adapter):
 * - at most once across processes: nothing is stored or acknowledged; a
 *   process that is not connected to Redis when a message passes misses it;
 * - ordered per publisher per topic: one process's publishes to a topic
 *   reach every other process in the order they were made;
 * - local delivery never waits for Redis: while Redis is down, subscribers of
 *   the publishing process still get its messages at once, and the copies for
 *   other processes are dropped and counted (`dropped`), not buffered;
 * - the client reconnects with exponential backoff (50 ms doubling, at most
 *   `maxReconnectDelay`, with jitter) and subscribes again to every topic.
 *
 * @example Two servers, one chat
 * ```ts ignore
 * import { serve } from "@streamsock/streamsock";
 * import { RedisBackplane } from "@streamsock/streamsock/redis";
 *
 * const backplane = new RedisBackplane({ url: "redis://127.0.0.1:6379" });
 * const server = serve({ port: 8080, backplane }, async (ws, request) => {
 *   const room = new URL(request.url, "ws://x").pathname;
 *   ws.subscribe(room);
 *   for await (const msg of ws) ws.publish(room, msg.data);
 * });
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createClient } from "redis";
import type { Backplane, BackplaneReceiver } from "./backplane.ts";
import type { DurableLog } from "./durable_log.ts";
import { RedisLog } from "./redis_log.ts";

export type { Backplane, BackplaneReceiver, DurableLog };

/**
 * Options for {@link RedisBackplane}.
 *
 * @example
 * ```ts
 * import type { RedisBackplaneOptions } from "@streamsock/streamsock/redis";
 *
 * const options: RedisBackplaneOptions = { url: "redis://127.0.0.1:6379", prefix: "chat:", maxReconnectDelay: 5000 };
 * ```
 */
export interface RedisBackplaneOptions {
  /** The Redis server. Defaults to `redis://127.0.0.1:6379`. */
  url?: string;
  /** Prepended to each topic to make the Redis channel name. Defaults to `"streamsock:"`. */
  prefix?: string;
  /** This process's name in the messages it publishes. Defaults to a random UUID. */
  instanceId?: string;
  /** The longest wait between two reconnection attempts, in ms. Defaults to 2000. */
  maxReconnectDelay?: number;
  /** Connection errors (Redis down, refused...); the backplane keeps reconnecting. Defaults to ignoring them. */
  onError?: (error: unknown) => void;
  /**
   * Every message that arrives from another process, before the hub
   * delivers it locally: `origin` is the publisher's `instanceId`.
   */
  onMessage?: (topic: string, data: string | Uint8Array, origin: string) => void;
}

// On the wire, one Redis message: kind (0 text, 1 binary), the length of the
// origin's id, the id in UTF-8, then the payload (UTF-8 for text). Binary
// frames keep bytes exact, and the id lets a process skip its own publishes.
const TEXT = 0;
const BINARY = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** node-redis hands buffer-mode pub/sub payloads as Node Buffers, which are Uint8Arrays. */
type Bytes = Uint8Array;

/**
 * A {@link Backplane} on Redis pub/sub, with two connections (a subscriber
 * connection cannot publish). Give it to `serve({ backplane })` or to
 * `new Hub({ backplane })`; the hub subscribes to a topic's Redis channel
 * while it has local subscribers, and closes the backplane when it closes.
 *
 * @example
 * ```ts ignore
 * import { Hub } from "@streamsock/streamsock";
 * import { RedisBackplane } from "@streamsock/streamsock/redis";
 *
 * const backplane = new RedisBackplane({ url: "redis://127.0.0.1:6379" });
 * const hub = new Hub({ backplane });
 * await backplane.ready;
 * hub.publish("news", "to every process");
 * console.log(backplane.instanceId, backplane.published, backplane.dropped);
 * await hub.close();
 * ```
 */
export class RedisBackplane implements Backplane {
  /** This process's id, carried by every message it publishes. */
  readonly instanceId: string;
  /** Resolves when both connections to Redis are up the first time; rejects if `close()` comes first. */
  readonly ready: Promise<void>;
  readonly #prefix: string;
  readonly #idBytes: Uint8Array;
  readonly #publisher: ReturnType<typeof createClient>;
  readonly #subscriber: ReturnType<typeof createClient>;
  readonly #onMessage: RedisBackplaneOptions["onMessage"];
  #receiver: BackplaneReceiver | null = null;
  #published = 0;
  #dropped = 0;
  #received = 0;
  #closing: Promise<void> | null = null;

  /**
   * Connects to Redis (in the background: see `ready`).
   *
   * @param options Where Redis is, the channel prefix, backoff and hooks.
   */
  constructor(options: RedisBackplaneOptions = {}) {
    this.instanceId = options.instanceId ?? crypto.randomUUID();
    this.#idBytes = encoder.encode(this.instanceId);
    if (this.#idBytes.length > 255) throw new RangeError("instanceId must be at most 255 bytes of UTF-8");
    this.#prefix = options.prefix ?? "streamsock:";
    this.#onMessage = options.onMessage;
    const maxDelay = options.maxReconnectDelay ?? 2000;
    const onError = options.onError ?? (() => {});
    const socket = {
      // Exponential backoff with jitter, so that many processes do not all
      // reconnect in the same instant after a Redis restart.
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 16), maxDelay) + Math.random() * 50,
    };
    const url = options.url ?? "redis://127.0.0.1:6379";
    // Publishes are never queued while Redis is down (we drop and count them
    // instead); subscriptions are, and node-redis re-sends them on reconnect.
    this.#publisher = createClient({ url, socket, disableOfflineQueue: true });
    this.#subscriber = createClient({ url, socket });
    this.#publisher.on("error", onError);
    this.#subscriber.on("error", onError);
    this.ready = Promise.all([this.#publisher.connect(), this.#subscriber.connect()]).then(() => {});
    this.ready.catch(() => {}); // a rejection nobody awaits must not crash the process
  }

  /** Messages sent to Redis. */
  get published(): number {
    return this.#published;
  }

  /** Messages not sent to other processes because Redis was unreachable (local delivery still happened). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Messages received from other processes. */
  get received(): number {
    return this.#received;
  }

  /** Whether the publishing connection is up now. */
  get connected(): boolean {
    return this.#publisher.isReady;
  }

  /**
   * Called by the hub once: where messages of other processes go.
   *
   * @param receiver The hub's delivery.
   */
  attach(receiver: BackplaneReceiver): void {
    if (this.#receiver !== null) throw new Error("This backplane is already attached to a hub");
    this.#receiver = receiver;
  }

  /**
   * Sends a local publish to the other processes, or drops and counts it
   * while Redis is unreachable.
   *
   * @param topic The topic.
   * @param data The message.
   */
  publish(topic: string, data: string | Uint8Array): void {
    if (this.#closing !== null) return;
    if (!this.#publisher.isReady) {
      this.#dropped++;
      return;
    }
    const payload = typeof data === "string" ? encoder.encode(data) : data;
    const id = this.#idBytes;
    const message = new Uint8Array(2 + id.length + payload.length);
    message[0] = typeof data === "string" ? TEXT : BINARY;
    message[1] = id.length;
    message.set(id, 2);
    message.set(payload, 2 + id.length);
    this.#published++;
    // node-redis takes a Buffer for binary arguments: a view, not a copy.
    this.#publisher.publish(this.#prefix + topic, Buffer.from(message.buffer, message.byteOffset, message.byteLength))
      .catch(() => {
        // Lost on its way (Redis went down with it in flight): at most once.
        this.#published--;
        this.#dropped++;
      });
  }

  /**
   * Starts receiving a topic from other processes.
   *
   * @param topic The topic.
   */
  subscribe(topic: string): void {
    if (this.#closing !== null) return;
    this.#subscriber.subscribe(this.#prefix + topic, this.#onRedisMessage, true).catch(() => {});
  }

  /**
   * Stops receiving a topic.
   *
   * @param topic The topic.
   */
  unsubscribe(topic: string): void {
    if (this.#closing !== null) return;
    this.#subscriber.unsubscribe(this.#prefix + topic, this.#onRedisMessage, true).catch(() => {});
  }

  /**
   * The log of the hub's durable topics: Redis Streams, on this backplane's
   * connections (called by the hub; see `Hub.durable`). Each durable topic T
   * uses the keys `<prefix>durable:{T}:log` (a stream), `...:meta`, `...:p:<producer>`
   * and the channel `...:feed`.
   *
   * @returns The log.
   *
   * @example
   * ```ts ignore
   * import { Hub } from "@streamsock/streamsock";
   * import { RedisBackplane } from "@streamsock/streamsock/redis";
   *
   * const hub = new Hub({ backplane: new RedisBackplane(), durable: { prefix: "orders/", maxLen: 100_000 } });
   * console.log(await hub.append("orders/eu", "order 1", { producer: "shop-1", seq: 1 }));
   * await hub.close();
   * ```
   */
  openLog(): DurableLog {
    return new RedisLog(this.#publisher, this.#subscriber, this.#prefix);
  }

  readonly #onRedisMessage = (message: Bytes, channel: Bytes): void => {
    if (message.length < 2 || message.length < 2 + message[1]) return; // not ours
    const origin = decoder.decode(message.subarray(2, 2 + message[1]));
    if (origin === this.instanceId) return; // delivered locally when published
    const topic = decoder.decode(channel).slice(this.#prefix.length);
    const body = message.subarray(2 + message[1]);
    // A plain Uint8Array copy: subscribers must not get a Buffer of node-redis's.
    const data = message[0] === TEXT ? decoder.decode(body) : new Uint8Array(body);
    this.#received++;
    try {
      this.#onMessage?.(topic, data, origin);
    } catch (err) {
      console.error("streamsock: onMessage failed:", err);
    }
    this.#receiver?.deliver(topic, data, origin);
  };

  /**
   * Disconnects from Redis. Calling it again returns the same promise.
   *
   * @returns Resolves once both connections are closed.
   */
  close(): Promise<void> {
    this.#closing ??= Promise.all([this.#publisher, this.#subscriber].map((client) => {
      if (!client.isOpen) {
        // Still connecting or reconnecting: stop trying.
        try {
          client.destroy();
        } catch {
          // Already closed.
        }
        return Promise.resolve();
      }
      return client.close().catch(() => client.destroy());
    })).then(() => {});
    return this.#closing;
  }
}
