/**
 * WebSocketConnection: the socket API (Gerbil's WebSocket interface and what
 * users of ws, Deno and Bun expect) over any {@link Transport}.
 *
 * This class is the public face only: each method hands over to the
 * connection's {@link Shell} (`shell.ts`: the core, the transport, the
 * receiving pump and the closing timers), to `send_options.ts` (signal,
 * compress, backpressure), `streams.ts` (readable, writable, recvStream) or
 * the hub it joined (subscribe, publish: a {@link TopicHub}, which
 * `topics.ts` attaches). The RFC 6455 rules live in the sans-I/O
 * core (`src/protocol/protocol.ts`). See docs/architecture.md.
 *
 * @module
 */

import { CloseCode } from "../codec/close.ts";
import { Message } from "../message.ts";
import type { CloseInfo } from "../protocol/types.ts";
import { streamTransport } from "../transport/streams.ts";
import type { ByteStreamPair, Transport } from "../transport/types.ts";
import type { Sendable, WebSocketConnectionOptions } from "./options.ts";
import type { SendOptions } from "./sender.ts";
import { send, sendAll } from "./send_options.ts";
import { Shell } from "./shell.ts";
import { type IncomingStream, readableOf, recvStream, writableOf } from "./streams.ts";
import type { TopicHub } from "./topic_hub.ts";

/** Set once by WebSocketConnection's static block: how the functions below reach a connection's shell. */
let shellAccess: (ws: WebSocketConnection) => Shell<WebSocketConnection>;

/**
 * A WebSocket connection over a {@link Transport}, after the opening
 * handshake. `connect` and the server hand these out; build one yourself only
 * to run WebSocket framing over a transport of your own.
 *
 * Frames: `send` writes one frame and `recv` returns one frame as a
 * {@link Message} (`partial: true` for a fragment that continues), as in
 * Gerbil. Messages: `sendAll` fragments at `maxFrameSize`, `recvAll`
 * reassembles, and `for await` iterates over whole text and binary messages.
 *
 * @example Echo every message until the peer closes
 * ```ts
 * import { type WebSocketConnection } from "@streamsock/streamsock";
 *
 * async function echo(ws: WebSocketConnection): Promise<void> {
 *   for await (const msg of ws) await ws.sendAll(msg); // sendAll: a message may be larger than one frame
 *   console.log("closed with", (await ws.closed).code);
 * }
 * ```
 */
export class WebSocketConnection implements AsyncIterable<Message> {
  readonly #shell: Shell<WebSocketConnection>;
  readonly #protocolName: string | null;
  readonly #url: string | null;
  readonly #extensions: string;
  #readable: ReadableStream<Message> | null = null;
  #writable: WritableStream<Sendable> | null = null;

  /**
   * Wraps a transport that has completed the opening handshake.
   *
   * @param transport The byte pipe, already past the opening handshake: a
   * {@link Transport} or a pair of byte streams.
   * @param options Role, limits and policies.
   */
  constructor(transport: Transport | ByteStreamPair, options: WebSocketConnectionOptions) {
    this.#protocolName = options.protocol ?? null;
    this.#url = options.url ?? null;
    this.#extensions = options.extensions ?? "";
    this.#shell = new Shell(this, "start" in transport ? transport : streamTransport(transport), options);
  }

  static {
    shellAccess = (ws) => ws.#shell;
  }

  /** {@link WebSocketConnection.readyState}: the opening handshake is in progress (never seen on a connection handed out). */
  static readonly CONNECTING = 0;
  /** {@link WebSocketConnection.readyState}: open, messages flow both ways. */
  static readonly OPEN = 1;
  /** {@link WebSocketConnection.readyState}: the closing handshake has started. */
  static readonly CLOSING = 2;
  /** {@link WebSocketConnection.readyState}: closed, the transport is gone. */
  static readonly CLOSED = 3;

  /**
   * Resolves once the connection is closed, cleanly or not, with the code and
   * reason; it never rejects. It resolves when the transport is closed: a
   * client waits for the server to close TCP first (RFC 6455 §7.1.1), up to
   * `closeTimeout`.
   *
   * @example
   * ```ts
   * import type { WebSocketConnection } from "@streamsock/streamsock";
   *
   * async function logClose(ws: WebSocketConnection): Promise<void> {
   *   const { code, reason } = await ws.closed;
   *   console.log("closed", code, reason);
   * }
   * ```
   */
  get closed(): Promise<CloseInfo> {
    return this.#shell.closed;
  }

  /**
   * Where the connection stands, as WHATWG's `WebSocket.readyState`: OPEN (1)
   * until a close frame is sent or received, CLOSING (2) during the closing
   * handshake, CLOSED (3) once the transport is closed.
   *
   * @example
   * ```ts
   * import { WebSocketConnection } from "@streamsock/streamsock";
   *
   * function describe(ws: WebSocketConnection): string {
   *   return ws.readyState === WebSocketConnection.OPEN ? "open" : "closing or closed";
   * }
   * ```
   */
  get readyState(): 0 | 1 | 2 | 3 {
    return this.#shell.core.state;
  }

  /**
   * The URL a client connection was opened to (after redirects), or null on
   * the server's end.
   *
   * @example
   * ```ts
   * import { connect } from "@streamsock/streamsock";
   *
   * const ws = await connect("ws://127.0.0.1:8080/chat");
   * console.log(ws.url); // ws://127.0.0.1:8080/chat
   * ```
   */
  get url(): string | null {
    return this.#url;
  }

  /**
   * The peer's IP address, where the runtime knows it (undefined over an
   * in-memory pipe). Through a proxy, it is the proxy's.
   *
   * @example
   * ```ts
   * import { serve } from "@streamsock/streamsock";
   *
   * const server = serve({ port: 0, hostname: "127.0.0.1" }, (ws) => {
   *   console.log(`a client from ${ws.remoteAddress}:${ws.remotePort}`);
   * });
   * await server.ready;
   * await server.close();
   * ```
   */
  get remoteAddress(): string | undefined {
    return this.#shell.transport.remoteAddress;
  }

  /** The peer's port, where the runtime knows it; see {@link WebSocketConnection.remoteAddress}. */
  get remotePort(): number | undefined {
    return this.#shell.transport.remotePort;
  }

  /** The negotiated subprotocol, or null (Gerbil's `WebSocket-protocol`). */
  get protocol(): string | null {
    return this.#protocolName;
  }

  /** The negotiated extensions, as the `Sec-WebSocket-Extensions` header said. */
  get extensions(): string {
    return this.#extensions;
  }

  /** The largest frame payload `send` sends and `recv` accepts (Gerbil's `WebSocket-max-frame-size`). */
  get maxFrameSize(): number {
    return this.#shell.maxFrameSize;
  }

  /** Bytes queued for sending but not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this.#shell.bufferedAmount;
  }

  /**
   * Receives the next frame as a Message (Gerbil's `WebSocket-recv`):
   * text, binary, ping, pong or close. A fragment of a longer message has
   * `partial: true`; its continuation frames carry the message's type, and a
   * text fragment always holds whole characters.
   *
   * Pings are answered automatically (unless `autoPong` is off) and still
   * returned here. After the close message has been returned, or when the
   * connection failed, `recv` rejects: with {@link ConnectionClosedError}
   * after a close, or with the error that failed the connection.
   *
   * @returns The next frame.
   * @throws {ConnectionClosedError} Once the connection is closed.
   * @throws {ProtocolError} When the peer broke the protocol.
   *
   * @example
   * ```ts
   * import type { WebSocketConnection } from "@streamsock/streamsock";
   *
   * async function firstFrame(ws: WebSocketConnection): Promise<void> {
   *   const msg = await ws.recv();
   *   console.log(msg.type, msg.partial, msg.data);
   * }
   * ```
   */
  recv(): Promise<Message> {
    return this.#shell.receiver.recv();
  }

  /**
   * Receives a whole message, reassembling fragments (Gerbil's
   * `WebSocket-recv-all`). Control frames that arrive between fragments are
   * kept and returned by the following calls, so none is lost. A control
   * frame that comes before any fragment is returned as it is.
   *
   * @param maxMessageSize Largest total payload in bytes, every frame
   * counted. Defaults to the connection's `maxMessageSize` (64 MiB).
   * @returns The whole message.
   * @throws {MessageTooBigError} When the message exceeds `maxMessageSize`;
   * the connection is then failed with 1009.
   *
   * @example
   * ```ts
   * import type { WebSocketConnection } from "@streamsock/streamsock";
   *
   * async function readJson(ws: WebSocketConnection): Promise<unknown> {
   *   const msg = await ws.recvAll(1024 * 1024);
   *   return JSON.parse(msg.data as string);
   * }
   * ```
   */
  recvAll(maxMessageSize?: number): Promise<Message> {
    return this.#shell.receiver.recvAll(maxMessageSize);
  }

  /**
   * Receives the next text or binary message as a stream of its payload
   * (text as UTF-8), frame by frame as the reader pulls: a message larger than
   * memory is never held whole, and while the reader is slow the connection
   * stops reading its socket, so TCP slows the sender. Pings and pongs in
   * between are skipped (pings are still answered). Finish reading (or cancel)
   * the stream before receiving anything else.
   *
   * @returns The message's type and its payload.
   * @throws {ConnectionClosedError} When the connection closes before a message starts.
   *
   * @example Save the next message to a file, with flat memory
   * ```ts ignore
   * import { createWriteStream } from "node:fs";
   * import { Writable } from "node:stream";
   * import type { WebSocketConnection } from "@streamsock/streamsock";
   *
   * async function save(ws: WebSocketConnection, path: string): Promise<void> {
   *   const { readable } = await ws.recvStream();
   *   await readable.pipeTo(Writable.toWeb(createWriteStream(path)));
   * }
   * ```
   */
  recvStream(): Promise<IncomingStream> {
    return recvStream(this.#shell);
  }

  /**
   * Iterates over whole text and binary messages, skipping pings and pongs,
   * until the peer closes. Ends normally after a close frame; throws the
   * failure when the connection fails or the transport is lost.
   */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return this.#shell.receiver.iterator();
  }

  /**
   * Whole text and binary messages as a ReadableStream, like WHATWG
   * WebSocketStream. It closes after the peer's close frame and errors when
   * the connection fails. Cancelling it closes the connection.
   */
  get readable(): ReadableStream<Message> {
    return this.#readable ??= readableOf(this.#shell, this);
  }

  /**
   * A WritableStream of messages: each chunk is sent with `sendAll`. Closing
   * it closes the connection with 1000; aborting it closes with 1011.
   */
  get writable(): WritableStream<Sendable> {
    return this.#writable ??= writableOf(this);
  }

  // ------------------------------------------------------------------ sending

  /**
   * Sends one frame (Gerbil's `WebSocket-send`). A string is sent as text and
   * a Uint8Array as binary. A Message with `partial: true` sends a non-final
   * frame; the next text or binary sends continue that message (opcode 0)
   * until one with `partial: false` ends it. Ping and pong messages are sent
   * as they are; a close message starts the closing handshake.
   *
   * Resolves once the transport has accepted the bytes: a sender that awaits
   * each send never grows memory without bound.
   *
   * @param msg What to send.
   * @param options `compress` (with permessage-deflate: force or skip compressing this message) and
   * `signal` (give up waiting for a peer that does not read: the send rejects and the connection is dropped).
   * @throws {RangeError} When the payload exceeds `maxFrameSize` (nothing is sent),
   * or a ping/pong exceeds 125 bytes.
   * @throws {ConnectionClosedError} After the closing handshake started.
   * @throws {TypeError} For something that is not a valid message.
   *
   * @example
   * ```ts
   * import { Message, type WebSocketConnection } from "@streamsock/streamsock";
   *
   * async function greet(ws: WebSocketConnection): Promise<void> {
   *   await ws.send("hello");
   *   await ws.send(new Message("one message, ", "text", true));
   *   await ws.send(new Message("two frames", "text"));
   * }
   * ```
   */
  send(msg: Sendable, options?: SendOptions): Promise<void> {
    return send(this.#shell, msg, options);
  }

  /**
   * Sends a ping (RFC 6455 §5.5.2); the peer answers with a pong carrying the
   * same data, which `recv` returns. Shorthand for
   * `send(new Message(data, "ping"))`.
   *
   * @param data At most 125 bytes: a string is sent as its UTF-8. Empty by default.
   * @throws {RangeError} For more than 125 bytes.
   *
   * @example
   * ```ts
   * import type { WebSocketConnection } from "@streamsock/streamsock";
   *
   * async function probe(ws: WebSocketConnection): Promise<void> {
   *   await ws.ping("are you there?");
   * }
   * ```
   */
  ping(data: string | Uint8Array = ""): Promise<void> {
    return this.send(new Message(typeof data === "string" ? new TextEncoder().encode(data) : data, "ping"));
  }

  /**
   * Sends an unsolicited pong (RFC 6455 §5.5.3: a one-way heartbeat); pings
   * are answered automatically unless `autoPong` is off.
   *
   * @param data At most 125 bytes: a string is sent as its UTF-8. Empty by default.
   * @throws {RangeError} For more than 125 bytes.
   *
   * @example
   * ```ts
   * import type { WebSocketConnection } from "@streamsock/streamsock";
   *
   * async function heartbeat(ws: WebSocketConnection): Promise<void> {
   *   await ws.pong();
   * }
   * ```
   */
  pong(data: string | Uint8Array = ""): Promise<void> {
    return this.send(new Message(typeof data === "string" ? new TextEncoder().encode(data) : data, "pong"));
  }

  /**
   * Sends a message of any size, fragmented into frames of at most
   * `maxFrameSize` bytes (Gerbil's `WebSocket-send-all`). Text is split at
   * character boundaries. Other sends wait until all its frames are out, so
   * messages never interleave.
   *
   * A `ReadableStream` or async iterable of `Uint8Array` chunks (a file,
   * a socket, a generator) is sent as one binary message as the chunks
   * arrive, with flat memory however large it is.
   *
   * @param msg What to send, or a stream of its bytes.
   * @param options `compress` and `signal`, as for {@link WebSocketConnection.send}.
   * @throws {ConnectionClosedError} After the closing handshake started.
   *
   * @example
   * ```ts
   * import type { WebSocketConnection } from "@streamsock/streamsock";
   *
   * async function upload(ws: WebSocketConnection, file: Uint8Array): Promise<void> {
   *   await ws.sendAll(file); // frames of at most ws.maxFrameSize bytes
   * }
   * ```
   */
  sendAll(msg: Sendable | AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>, options?: SendOptions): Promise<void> {
    return sendAll(this.#shell, msg, options);
  }

  // ------------------------------------------------------------------- topics

  /**
   * Subscribes this connection to a topic of its server's hub: messages
   * published to it are sent here. Closing unsubscribes from everything. On
   * a closed connection it does nothing.
   *
   * @param topic Any string, such as a room name or a URL path.
   * @throws {Error} When the connection is not in a hub (a client
   * connection, or `requestHandler` without a `hub` option).
   *
   * @example
   * ```ts
   * import { serve } from "@streamsock/streamsock";
   *
   * const server = serve({ port: 0, hostname: "127.0.0.1" }, async (ws) => {
   *   ws.subscribe("news");
   *   for await (const msg of ws) ws.publish("news", msg.data);
   * });
   * await server.ready;
   * await server.close();
   * ```
   */
  subscribe(topic: string): void {
    if (this.#shell.dropped) return;
    hubOf(this.#shell).subscribe(this, String(topic));
  }

  /**
   * Unsubscribes this connection from a topic.
   *
   * @param topic The topic.
   * @returns Whether it was subscribed.
   *
   * @example
   * ```ts
   * import type { WebSocketConnection } from "@streamsock/streamsock";
   *
   * function leave(ws: WebSocketConnection): void {
   *   if (ws.unsubscribe("lobby")) console.log("left the lobby");
   * }
   * ```
   */
  unsubscribe(topic: string): boolean {
    return this.#shell.hub?.unsubscribe(this, String(topic)) ?? false;
  }

  /**
   * Whether this connection subscribes to a topic.
   *
   * @param topic The topic.
   * @returns True when subscribed.
   *
   * @example
   * ```ts
   * import type { WebSocketConnection } from "@streamsock/streamsock";
   *
   * function toggle(ws: WebSocketConnection, topic: string): void {
   *   if (ws.isSubscribed(topic)) ws.unsubscribe(topic);
   *   else ws.subscribe(topic);
   * }
   * ```
   */
  isSubscribed(topic: string): boolean {
    return this.#shell.hub?.topicsOf(this).has(String(topic)) ?? false;
  }

  /** The topics this connection subscribes to (Bun's `ws.subscriptions`). */
  get topics(): string[] {
    return this.#shell.hub === null ? [] : [...this.#shell.hub.topicsOf(this)];
  }

  /**
   * Publishes a message to every subscriber of a topic, across processes
   * when the hub has a backplane, except this connection unless
   * `includeSelf` (as in Bun and uWS). It does not wait; see
   * `maxBackpressure` for slow subscribers.
   *
   * @param topic The topic.
   * @param data Text (a string) or binary (bytes).
   * @param options `includeSelf: true` sends it here too, if subscribed.
   * @returns How many local subscribers it was queued for.
   * @throws {Error} When the connection is not in a hub.
   *
   * @example
   * ```ts
   * import type { WebSocketConnection } from "@streamsock/streamsock";
   *
   * async function relay(ws: WebSocketConnection): Promise<void> {
   *   ws.subscribe("chat");
   *   for await (const msg of ws) ws.publish("chat", msg.data);
   * }
   * ```
   */
  publish(topic: string, data: string | Uint8Array, options: { includeSelf?: boolean } = {}): number {
    return hubOf(this.#shell).publish(String(topic), data, { except: options.includeSelf === true ? undefined : this });
  }

  // ------------------------------------------------------------------ closing

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2) and resolves when the
   * connection is closed: after the peer's close frame and the end of the
   * transport, or after `closeTimeout` when the peer does not answer (then
   * the transport is closed anyway). Everything sent before is delivered
   * first. Calling it again, or after the peer closed, just returns `closed`.
   *
   * @param code The status code: 1000 by default; 1000-1003, 1007-1014 or 3000-4999.
   * @param reason At most 123 bytes of UTF-8.
   * @returns How the connection closed.
   * @throws {RangeError} For a code that may not be sent or a reason too long.
   *
   * @example
   * ```ts
   * import type { WebSocketConnection } from "@streamsock/streamsock";
   *
   * async function bye(ws: WebSocketConnection): Promise<void> {
   *   const { code, reason } = await ws.close(1000, "done");
   *   console.log(code, reason);
   * }
   * ```
   */
  close(code: number = CloseCode.Normal, reason = ""): Promise<CloseInfo> {
    this.#shell.requestClose(code, reason);
    return this.closed;
  }

  /**
   * Drops the transport at once, without a closing handshake: nothing queued
   * is sent, and `closed` resolves with 1006 (unless both close frames were
   * already exchanged). For a peer that is gone or misbehaving; `close` is
   * the polite way.
   *
   * @returns How the connection closed.
   *
   * @example
   * ```ts
   * import type { WebSocketConnection } from "@streamsock/streamsock";
   *
   * async function kick(ws: WebSocketConnection): Promise<void> {
   *   const { code } = await ws.terminate();
   *   console.log(code); // 1006
   * }
   * ```
   */
  terminate(): Promise<CloseInfo> {
    if (!this.#shell.dropped) {
      this.#shell.core.abandon(new Error("terminate() dropped the connection"));
      this.#shell.drop();
    }
    return this.closed;
  }
}

/**
 * The shell of a connection, for the modules that work on a connection from
 * outside its class (`topics.ts`, and the functions below).
 */
export function shellOf(ws: WebSocketConnection): Shell<WebSocketConnection> {
  return shellAccess(ws);
}

/**
 * Makes `for await` over `ws` (and its `readable`) end normally however the
 * connection ends, failures and lost transports included, instead of
 * throwing: what `reconnecting` hands out, whose loop goes on to the next
 * connection after exactly those. How it ended stays in `ws.closed`.
 */
export function endIterationOnAnyClose(ws: WebSocketConnection): void {
  shellOf(ws).receiver.endsOnAnyClose = true;
}

/**
 * Deletes `ws` from `registry` (a Set or Map) when the connection closes,
 * synchronously as it is dropped; at once if it is already closed.
 */
export function untrackOnClose(ws: WebSocketConnection, registry: { delete(ws: WebSocketConnection): unknown }): void {
  const shell = shellOf(ws);
  if (shell.dropped) registry.delete(ws);
  else shell.registry = registry;
}

/** The connection's hub, for subscribe and publish. */
function hubOf(shell: Shell<WebSocketConnection>): TopicHub<WebSocketConnection> {
  if (shell.hub === null) {
    throw new Error(
      shell.dropped ? "The connection is closed" : "Topics need a hub: use serve, or requestHandler with a hub option",
    );
  }
  return shell.hub;
}
