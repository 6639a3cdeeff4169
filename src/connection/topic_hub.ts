/**
 * The hub a connection joined, as the connection sees it.
 *
 * @module
 */

/**
 * What a connection asks of the hub it joined: its topic methods
 * (`subscribe`, `publish` ...) hand over to these, and the connection calls
 * `remove` itself as it is dropped. `Hub` (`src/pubsub/hub.ts`) implements
 * it; `Face` is what the hub knows connections by (`WebSocketConnection`).
 * An interface here, so that the connection does not import the hub that
 * imports it.
 */
export interface TopicHub<Face> {
  /** Subscribes `ws` to `topic`. */
  subscribe(ws: Face, topic: string): boolean;
  /** Unsubscribes `ws` from `topic`; whether it was subscribed. */
  unsubscribe(ws: Face, topic: string): boolean;
  /** The topics `ws` subscribes to. */
  topicsOf(ws: Face): ReadonlySet<string>;
  /** Publishes to a topic's subscribers, except `options.except`; how many it was queued for. */
  publish(topic: string, data: string | Uint8Array, options: { except?: Face }): number;
  /** Forgets `ws`, which is closed or leaves. */
  remove(ws: Face): void;
}
