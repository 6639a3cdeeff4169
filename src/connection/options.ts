/**
 * The options, defaults and public types of `WebSocketConnection`.
 *
 * @module
 */

import type { CompressionOptions } from "../handshake/deflate_options.ts";
import type { Message } from "../message.ts";
import type { ZlibSweeper } from "../extensions/zlib_sweeper.ts";
import type { Clock } from "./clock.ts";

/**
 * The default limit for a reassembled message: 64 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_MESSAGE_SIZE } from "@streamsock/streamsock";
 *
 * console.log(DEFAULT_MAX_MESSAGE_SIZE); // 67108864
 * ```
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;
/**
 * The default time to wait for the peer during the closing handshake, in ms.
 *
 * @example
 * ```ts
 * import { DEFAULT_CLOSE_TIMEOUT } from "@streamsock/streamsock";
 *
 * console.log(DEFAULT_CLOSE_TIMEOUT); // 5000
 * ```
 */
export const DEFAULT_CLOSE_TIMEOUT = 5000;
/**
 * The default bound on bytes waiting to be sent on one connection: 1 MiB.
 * Past it, `backpressurePolicy` applies to further sends and publishes.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_BACKPRESSURE } from "@streamsock/streamsock";
 *
 * console.log(DEFAULT_MAX_BACKPRESSURE); // 1048576
 * ```
 */
export const DEFAULT_MAX_BACKPRESSURE = 1024 * 1024;
/** The default keepalive: a ping after this many ms without receiving anything. */
export const DEFAULT_PING_INTERVAL = 20000;
/** The default time a keepalive ping waits for the peer to show it is alive. */
export const DEFAULT_PING_TIMEOUT = 20000;

/**
 * Options for `WebSocketConnection`.
 *
 * @example A server end that answers pings itself and waits 1 s for close frames
 * ```ts
 * import type { WebSocketConnectionOptions } from "@streamsock/streamsock";
 *
 * const options: WebSocketConnectionOptions = { role: "server", autoPong: false, closeTimeout: 1000 };
 * ```
 */
export interface WebSocketConnectionOptions {
  /** Which end this is: a client masks what it sends, a server requires masked frames. */
  role: "client" | "server";
  /** The negotiated subprotocol, or null. */
  protocol?: string | null;
  /** The negotiated `Sec-WebSocket-Extensions` value, or "". */
  extensions?: string;
  /**
   * permessage-deflate (RFC 7692). `connect` and `requestHandler` negotiate
   * it from this option (on by default for clients, off for servers). On a
   * connection built directly, compression is on when `extensions` names
   * permessage-deflate, and an object here only tunes it (`threshold`,
   * `level`, `memLevel`, a stricter window or context takeover of our own).
   */
  compression?: boolean | CompressionOptions;
  /**
   * Releases this connection's idle zlib state (permessage-deflate). A
   * server passes one sweeper to all its connections; without one, a
   * connection makes its own when compression first holds zlib state.
   */
  zlibSweeper?: ZlibSweeper;
  /** Largest frame payload accepted or sent by `send`. Defaults to 1 MiB (1048576). */
  maxFrameSize?: number;
  /** Largest message `recvAll` and iteration reassemble. Defaults to 64 MiB. */
  maxMessageSize?: number;
  /** Answer pings with pongs automatically. Defaults to true. */
  autoPong?: boolean;
  /**
   * Answer the peer's close frame with its status code and its reason, as
   * ws and python-websockets do, rather than the code alone (RFC 6455
   * §5.5.1 asks only for the code). Defaults to false.
   *
   * @example A server that answers `close(4000, "bye")` with 4000 "bye"
   * ```ts
   * import { requestHandler } from "@streamsock/streamsock";
   *
   * const handler = requestHandler(async (ws) => {
   *   for await (const msg of ws) await ws.send(msg);
   * }, undefined, { echoCloseReason: true });
   * ```
   */
  echoCloseReason?: boolean;
  /** Milliseconds to wait for the peer's part of the closing handshake. Defaults to 5000. */
  closeTimeout?: number;
  /**
   * Keepalive: after this many ms in which nothing arrived, send a ping.
   * Defaults to 20000; 0 turns keepalive off.
   */
  pingInterval?: number;
  /**
   * Keepalive: if nothing (a pong or anything else) arrives within this many
   * ms of a keepalive ping, the peer is taken for dead: a close frame with
   * 1011 is sent on a best-effort basis, the transport is dropped at once,
   * and `closed` resolves with 1011 and a `TimeoutError`. Defaults to 20000.
   */
  pingTimeout?: number;
  /**
   * Close with 1001 (Going Away) when no text or binary frame arrived for
   * this many ms; pings and pongs do not count. Defaults to 0 (off).
   */
  idleTimeout?: number;
  /**
   * The most bytes that may wait to be sent (`bufferedAmount`) before a new
   * `send`, `sendAll` or published message is refused by
   * `backpressurePolicy`. A message is always accepted while less than this
   * waits, whatever its size, and a sender that awaits each send never gets
   * near it: this bounds senders that do not await (fire-and-forget sends,
   * topic publishes) at a peer that reads slowly or not at all. Defaults to
   * 1 MiB ({@link DEFAULT_MAX_BACKPRESSURE}); `Infinity` queues without
   * limit, as `ws` does.
   */
  maxBackpressure?: number;
  /** The URL the connection was opened to, for `ws.url` (`connect` sets it: the one after redirects). */
  url?: string;
  /**
   * What happens past `maxBackpressure`. `"close"` (the default) fails the
   * connection with 1013 (Try Again Later): nothing more is queued, and the
   * close frame goes out behind what already waits, so a peer that keeps
   * reading gets every message queued before it and then learns it fell
   * behind (and can reconnect and resynchronise); one that does not read is
   * dropped after `closeTimeout`. The send that crossed the limit rejects
   * with a `WebSocketError` coded `ERR_BACKPRESSURE`, later ones with
   * `ConnectionClosedError`. `"drop"`: the message is not sent (a `send`
   * rejects with `ERR_BACKPRESSURE`; a published message is skipped for this
   * connection and counted by the hub), for feeds where a gap is harmless.
   */
  backpressurePolicy?: "close" | "drop";
  /**
   * The most whole text and binary messages this connection takes from its
   * peer per second: a token bucket holding `rateLimitBurst` seconds' worth.
   * Past it, `rateLimitAction` applies. Off by default. Frames are decoded no
   * faster than the bucket allows, even out of one read.
   *
   * @example A chat server: 20 messages a second, bursts of 40, and 64 KiB a second
   * ```ts
   * import { requestHandler } from "@streamsock/streamsock";
   *
   * const handler = requestHandler(async (ws) => {
   *   for await (const msg of ws) await ws.send(msg);
   * }, undefined, { maxMessagesPerSecond: 20, maxBytesPerSecond: 64 * 1024, rateLimitBurst: 2 });
   * ```
   */
  maxMessagesPerSecond?: number;
  /**
   * The most bytes this connection reads from its peer per second (every
   * byte on the wire: headers, control frames, compressed payloads), as a
   * token bucket holding `rateLimitBurst` seconds' worth. Past it,
   * `rateLimitAction` applies; with `"pause"` the bytes of the read that
   * crossed it are still decoded, so one read (at most the socket's read
   * size) may go beyond it. Off by default.
   */
  maxBytesPerSecond?: number;
  /** The rate limits' bucket size, in seconds of their rate: what a quiet connection may send at once. Defaults to 1. */
  rateLimitBurst?: number;
  /**
   * What a connection over its rate limit meets: `"pause"` (the default)
   * stops reading its socket until the bucket refills, so TCP flow control
   * slows the peer and nothing piles up in memory; `"close"` fails the
   * connection with 1008 (Policy Violation).
   */
  rateLimitAction?: "pause" | "close";
  /** Source of client masking keys. Defaults to random keys; inject only in tests. */
  maskKey?: () => Uint8Array;
  /**
   * Where time and timers come from (keepalive, idle and close timeouts; on
   * a server the opening handshake's `handshakeTimeout`; on a client
   * `connect`'s `timeout` and `reconnecting`'s delays and `resetAfter`).
   * Defaults to the platform clock; inject one only in tests.
   */
  clock?: Clock;
  /**
   * Bytes already read from the transport after the opening handshake (they
   * arrived with the HTTP head); they are decoded before anything else.
   */
  head?: Uint8Array;
}

/**
 * What `send` accepts: a Message, or a string (text) or binary data
 * (an ArrayBuffer, any typed array, DataView or Buffer, or a Blob) shorthand.
 *
 * @example
 * ```ts
 * import { Message, type Sendable } from "@streamsock/streamsock";
 *
 * const outbox: Sendable[] = [
 *   "text",
 *   new Uint8Array([1, 2]),
 *   new Float32Array([0.5]),
 *   new Blob(["hi"]),
 *   new Message("bye", "close"),
 * ];
 * ```
 */
export type Sendable = Message | string | ArrayBuffer | ArrayBufferView | Blob;

