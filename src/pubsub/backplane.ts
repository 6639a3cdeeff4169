/**
 * The Backplane interface: what carries a {@link Hub}'s publishes to the
 * hubs of other processes and machines (Redis in `./redis`), and brings
 * theirs back.
 *
 * @module
 */

import type { DurableLog } from "./durable_log.ts";

/**
 * What a backplane hands remote messages to: the hub that attached it.
 *
 * @example
 * ```ts
 * import type { BackplaneReceiver } from "@streamsock/streamsock";
 *
 * const log: BackplaneReceiver = {
 *   deliver: (topic, data, origin) => console.log(`${origin} published on ${topic}:`, data),
 * };
 * ```
 */
export interface BackplaneReceiver {
  /**
   * A message another process published: delivered to this process's local
   * subscribers of `topic`. `origin` is the publishing backplane's
   * `instanceId`.
   */
  deliver(topic: string, data: string | Uint8Array, origin: string): void;
}

/**
 * Carries publishes between processes. A {@link Hub} created with a
 * backplane calls `publish` for every message published locally (after it
 * delivered it to its own subscribers), and `subscribe` / `unsubscribe` when
 * a topic gains its first local subscriber or loses its last; the backplane
 * calls the receiver's `deliver` for messages of other instances only (never
 * its own: no double delivery).
 *
 * @example An in-memory backplane joining hubs of one process (for tests)
 * ```ts
 * import type { Backplane, BackplaneReceiver } from "@streamsock/streamsock";
 *
 * class MemoryBackplane implements Backplane {
 *   static #all = new Set<MemoryBackplane>();
 *   readonly instanceId = crypto.randomUUID();
 *   #receiver: BackplaneReceiver | null = null;
 *   attach(receiver: BackplaneReceiver): void {
 *     this.#receiver = receiver;
 *     MemoryBackplane.#all.add(this);
 *   }
 *   publish(topic: string, data: string | Uint8Array): void {
 *     for (const other of MemoryBackplane.#all) {
 *       if (other !== this) other.#receiver?.deliver(topic, data, this.instanceId);
 *     }
 *   }
 *   subscribe(): void {}
 *   unsubscribe(): void {}
 *   close(): Promise<void> {
 *     MemoryBackplane.#all.delete(this);
 *     return Promise.resolve();
 *   }
 * }
 * ```
 */
export interface Backplane {
  /** Identifies this process's publishes to the others (the `origin` they see). */
  readonly instanceId: string;
  /** Called once by the hub: where remote messages go. */
  attach(receiver: BackplaneReceiver): void;
  /** Sends a local publish to the other instances; must not throw or block. */
  publish(topic: string, data: string | Uint8Array): void;
  /** A topic got its first local subscriber: start receiving it. */
  subscribe(topic: string): void;
  /** A topic lost its last local subscriber: stop receiving it. */
  unsubscribe(topic: string): void;
  /** Disconnects; called by the hub's `close()`. */
  close(): Promise<void>;
  /**
   * The log that keeps the hub's durable topics across processes (Redis
   * Streams for `RedisBackplane`). A backplane without it cannot carry
   * durable topics. Called once, when the first durable topic is used; the
   * hub closes the log before the backplane.
   */
  openLog?(): DurableLog;
}
