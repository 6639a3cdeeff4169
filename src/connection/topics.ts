/**
 * The seam for topics: `src/pubsub/hub.ts` reaches a connection only through
 * two functions, and the connection reaches the hub only through
 * `Shell.hub`, a {@link TopicHub}:
 * - {@link attachHub}`(ws, hub)`: sets the hub (null to leave); false once
 *   the connection is dropped.
 * - {@link writeShared}`(ws, shared)`: queues a published message in order
 *   with the connection's own sends (held while a fragmented message of ours
 *   is being sent), applies maxBackpressure / backpressurePolicy, and
 *   returns the bytes now queued (>= 0), {@link SHARED_DROPPED} or
 *   {@link SHARED_CLOSED}. Uncompressed server connections write
 *   `shared.frame()` (encoded once per publish), the others send
 *   `shared.message()` through their own encoder or compressor.
 *
 * @module
 */

import type { Message } from "../message.ts";
import { backpressureExceeded, overBackpressure } from "./backpressure.ts";
import { shellOf, type WebSocketConnection } from "./connection.ts";
import type { TopicHub } from "./topic_hub.ts";

/** A published message as the hub offers it to each subscriber. */
export interface SharedMessage {
  /** The message's payload: text or bytes. */
  readonly data: string | Uint8Array;
  /** The unmasked, uncompressed frame; encoded on first call, then the same bytes. */
  frame(): Uint8Array;
  /** The message, for connections that mask or compress. */
  message(): Message;
}

/** writeShared: not written, by the "drop" policy. */
export const SHARED_DROPPED = -1;
/** writeShared: the connection is closed or closing (possibly by the "close" policy just now). */
export const SHARED_CLOSED = -2;

/**
 * Joins `ws` to `hub` (null leaves); false when `ws` is already closed. The
 * shell calls `hub.remove(ws)` itself when the connection is dropped.
 */
export function attachHub(ws: WebSocketConnection, hub: TopicHub<WebSocketConnection> | null): boolean {
  const shell = shellOf(ws);
  if (hub !== null && shell.dropped) return false;
  // Joining another hub leaves the previous one (its remove() calls attachHub(ws, null)).
  const previous = shell.hub;
  if (previous !== null && hub !== null && previous !== hub) previous.remove(ws);
  shell.hub = hub;
  return true;
}

/** Queues a published message on `ws`; see the module's comment. */
export function writeShared(ws: WebSocketConnection, shared: SharedMessage): number {
  const shell = shellOf(ws);
  if (shell.dropped || shell.closeRequest !== null || shell.core.closeSent) return SHARED_CLOSED;
  if (overBackpressure(shell)) {
    backpressureExceeded(shell);
    return shell.dropped || shell.core.closeSent ? SHARED_CLOSED : SHARED_DROPPED;
  }
  const writer = shell.writer;
  // Through the core either way, which refuses it once our close frame is
  // decided (RFC 6455 §5.5.1): a held publish may be released after that.
  const write = shell.deflate !== null || shell.client
    ? () => void ws.sendAll(shared.message()).catch(() => {})
    : () => {
      try {
        shell.core.sendEncoded(shared.frame());
        const data = shared.data;
        shell.messageSent(typeof data === "string" ? "text" : "binary", data);
      } catch {
        // Closed meanwhile: the subscriber is leaving the hub.
      }
    };
  if (!shell.core.messageInProgress) {
    write();
    writer.keepCorked();
  } else {
    // A fragmented message of ours is on the wire: a data frame between its
    // fragments would break RFC 6455 §5.4, so this waits for its last frame
    // (Shell.messageEnded releases it).
    (shell.held ??= []).push(write);
    shell.heldBytes += shared.frame().length;
  }
  return shell.bufferedAmount;
}
