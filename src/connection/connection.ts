/**
 * WebSocketConnection: the socket API (Gerbil's WebSocket interface and what
 * users of ws, Deno and Bun expect) over any {@link Transport}.
 *
 * This is a shell: the RFC 6455 rules live in the sans-I/O core
 * (`src/protocol/protocol.ts`); this class pumps bytes between the core and
 * the transport, runs the timers, and keeps the inbox (`inbox.ts`), the
 * writer (`writer.ts`) and liveness (`liveness.ts`). See docs/architecture.md.
 *
 * @module
 */

import { CloseCode, encodeClosePayload } from "../codec/close.ts";
import { DEFAULT_MAX_FRAME_SIZE } from "../codec/decoder.ts";
import type { Frame } from "../codec/frame.ts";
import { ConnectionClosedError, TimeoutError, WebSocketError } from "../errors.ts";
import { INFLATE_BACKLOG_BYTES, PerMessageDeflate } from "../extensions/permessage_deflate.ts";
import { compressionTuning, negotiatedDeflateOf } from "../handshake/deflate_options.ts";
import { Message } from "../message.ts";
import { type CloseInfo, Protocol, type ProtocolSink } from "../protocol/protocol.ts";
import type { Hub } from "../pubsub/hub.ts";
import { nextTurn } from "../transport/mod.ts";
import { streamTransport } from "../transport/streams.ts";
import { nodeZlib } from "../transport/zlib.ts";
import type { ByteStreamPair, Transport, TransportSink } from "../transport/types.ts";
import type { Inbox } from "./inbox.ts";
import { Receiver, type ReceiverHost } from "./receiver.ts";
import { type Clock, Liveness, type LivenessHost, systemClock } from "./liveness.ts";
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_BACKPRESSURE,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_PING_INTERVAL,
  DEFAULT_PING_TIMEOUT,
  type Sendable,
  type WebSocketConnectionOptions,
} from "./options.ts";
import { Sender, type SenderHost, type SendOptions } from "./sender.ts";
import { Writer, type WriterHost } from "./writer.ts";

/**
 * Frames taken apart before the connection lets the event loop run: a read
 * full of tiny frames (a flood of empty ones) must not keep timers, accepts
 * and other connections waiting (see docs/performance.md).
 */
const FRAMES_PER_TURN = 512;
const NO_BYTES = new Uint8Array(0);
/** Queued bytes beyond the application's frames that still do not pause reading while it waits to send. */
const CONGESTION_SLACK = 1024 * 1024;

// ------------------------------------------------------------------------
// SEAM for topics. src/pubsub/hub.ts reaches the connection only through
// these two functions, bound to private methods in the class's static block,
// and the connection reaches the hub only through #hub:
// - attachHub(ws, hub): sets #hub (null to leave); false once terminated.
// - writeShared(ws, shared): queues a published message in order with the
//   connection's own sends (held while a fragmented message is being sent),
//   applies maxBackpressure / backpressurePolicy, and returns the bytes now
//   queued (>= 0), SHARED_DROPPED or SHARED_CLOSED. Uncompressed server
//   connections write shared.frame() (encoded once per publish), the others
//   send shared.message() through their own encoder or compressor.
// ------------------------------------------------------------------------

/** A published message as the hub offers it to each subscriber. */
export interface SharedMessage {
  /** The unmasked, uncompressed frame; encoded on first call, then the same bytes. */
  frame(): Uint8Array;
  /** The message, for connections that mask or compress. */
  message(): Message;
}
/** writeShared: not written, by the "drop" policy. */
export const SHARED_DROPPED = -1;
/** writeShared: the connection is closed or closing (possibly by the "close" policy just now). */
export const SHARED_CLOSED = -2;
let attachHubOf: (ws: WebSocketConnection, hub: Hub | null) => boolean;
let writeSharedTo: (ws: WebSocketConnection, shared: SharedMessage) => number;
/** Joins `ws` to `hub` (null leaves); false when `ws` is already closed. */
export function attachHub(ws: WebSocketConnection, hub: Hub | null): boolean {
  return attachHubOf(ws, hub);
}
/** Queues a published message on `ws`; see the SEAM comment above. */
export function writeShared(ws: WebSocketConnection, shared: SharedMessage): number {
  return writeSharedTo(ws, shared);
}

/** A stream or async iterable of chunks (not a Blob or a Message): sendAll streams it. */
function isByteSource(value: unknown): value is AsyncIterable<Uint8Array> {
  return typeof value === "object" && value !== null && !(value instanceof Blob) &&
    (Symbol.asyncIterator in value || typeof (value as ReadableStream).getReader === "function");
}

/**
 * One message arriving as a stream of its payload, from
 * {@link WebSocketConnection.recvStream}.
 *
 * @example
 * ```ts
 * import type { IncomingStream, WebSocketConnection } from "@streamsock/streamsock";
 *
 * async function size(ws: WebSocketConnection): Promise<number> {
 *   const incoming: IncomingStream = await ws.recvStream();
 *   let bytes = 0;
 *   for await (const chunk of incoming.readable) bytes += chunk.length;
 *   return bytes;
 * }
 * ```
 */
export interface IncomingStream {
  /** The message's type. */
  type: "text" | "binary";
  /** Its payload, frame by frame; text as UTF-8. */
  readable: ReadableStream<Uint8Array>;
}

/** The class of a connection's hooks object; assigned in WebSocketConnection's static block. */
let Hooks: new (ws: WebSocketConnection) =>
  & ProtocolSink
  & TransportSink
  & ReceiverHost
  & SenderHost
  & WriterHost
  & LivenessHost;

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
 *   for await (const msg of ws) await ws.send(msg);
 *   console.log("closed with", (await ws.closed).code);
 * }
 * ```
 */
export class WebSocketConnection implements AsyncIterable<Message> {
  readonly #transport: Transport;
  readonly #protocolName: string | null;
  readonly #url: string | null;
  readonly #extensions: string;
  readonly #maxFrameSize: number;
  readonly #closeTimeout: number;
  readonly #clock: Clock;
  readonly #core: Protocol;
  /** permessage-deflate, when negotiated; null keeps every path synchronous. */
  readonly #deflate: PerMessageDeflate | null;
  readonly #receiver: Receiver;
  readonly #inbox: Inbox;
  readonly #writer: Writer;
  readonly #sender: Sender;
  readonly #liveness: Liveness | null;

  #paused = false;
  /** Frames wait in the core's buffer for the next turn of the event loop. */
  #yielding = false;
  #resumeTask: (() => void) | null = null;
  readonly #maxBackpressure: number;
  readonly #backpressurePolicy: "close" | "drop";
  /** A client masks every frame, so a published frame cannot be shared as it is. */
  readonly #client: boolean;
  // Topics: the hub this connection joined, and published messages held
  // while a fragmented message of ours is being sent.
  #hub: Hub | null = null;
  #held: (() => void)[] | null = null;
  #heldBytes = 0;
  /** close() was called (or the peer's close is being answered); the frame may wait for sends ahead of it. */
  #closeRequested: { code: number; reason: string } | null = null;
  /** Defers the answer to the peer's close by one macrotask. */
  #echoTimer: unknown = undefined;
  #closeTimer: unknown = undefined;
  #terminated = false;
  #resolveClosed!: (info: CloseInfo) => void;
  /**
   * Resolves once the connection is closed, cleanly or not, with the code and
   * reason; it never rejects. It resolves when the transport is closed: a
   * client waits for the server to close TCP first (RFC 6455 §7.1.1), up to
   * `closeTimeout`.
   */
  readonly closed: Promise<CloseInfo>;

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
    this.#transport = "start" in transport ? transport : streamTransport(transport);
    this.#protocolName = options.protocol ?? null;
    this.#url = options.url ?? null;
    this.#extensions = options.extensions ?? "";
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.#clock = options.clock ?? systemClock;
    this.#client = options.role === "client";
    this.#maxBackpressure = options.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE;
    this.#backpressurePolicy = options.backpressurePolicy ?? "close";
    // One object answers every part's callbacks (see Hooks below).
    const hooks = new Hooks(this);
    this.#receiver = new Receiver(options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE, hooks);
    this.#inbox = this.#receiver.inbox;
    this.#writer = new Writer(this.#transport, this.#inbox, hooks);
    // No extension negotiated (the common case): no deflate state, not even its callbacks.
    const negotiated = negotiatedDeflateOf(options);
    this.#deflate = negotiated === null ? null : new PerMessageDeflate(
      negotiated,
      compressionTuning(options.compression),
      this.#maxFrameSize,
      {
        deliver: (frame) => this.#onInflated(frame),
        write: (frame) => this.#core.sendFrame(frame),
        fail: (err) => this.#fail(err),
      },
      nodeZlib,
      options.zlibSweeper ?? null,
    );
    this.#core = new Protocol({
      role: options.role,
      maxFrameSize: this.#maxFrameSize,
      autoPong: options.autoPong,
      maskKey: options.maskKey,
      allowedRsv: this.#deflate === null ? 0 : 4,
      ownsChunks: this.#transport.mutableChunks,
      stage: this.#deflate,
    }, hooks);
    this.#sender = new Sender(this.#core, this.#writer, this.#deflate, this.#maxFrameSize, hooks);
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#transport.start(hooks);
    const pingInterval = options.pingInterval ?? DEFAULT_PING_INTERVAL;
    const idleTimeout = options.idleTimeout ?? 0;
    this.#liveness = pingInterval > 0 || idleTimeout > 0
      ? new Liveness(this.#clock, { pingInterval, pingTimeout: options.pingTimeout ?? DEFAULT_PING_TIMEOUT, idleTimeout }, hooks)
      : null;
    // A copy as a plain Uint8Array: node:http hands the upgrade head over as a
    // Buffer, and payload views of it would otherwise reach users as Buffers.
    if (options.head !== undefined && options.head.length > 0) this.#onData(new Uint8Array(options.head));
  }

  static {
    attachHubOf = (ws, hub) => {
      if (hub !== null && ws.#terminated) return false;
      ws.#hub = hub;
      return true;
    };
    writeSharedTo = (ws, shared) => ws.#writeShared(shared);
    /**
     * The callbacks of the connection's parts (core, transport, receiver,
     * sender, writer, liveness) as methods of one object per connection,
     * rather than two dozen closures: an idle connection is smaller (see
     * docs/performance.md). Defined in this static block because only code
     * inside the class may reach its private members.
     */
    Hooks = class implements ProtocolSink, TransportSink, ReceiverHost, SenderHost, WriterHost, LivenessHost {
      readonly #ws: WebSocketConnection;
      constructor(ws: WebSocketConnection) {
        this.#ws = ws;
      }
      // ProtocolSink: what the core decided.
      frame(msg: Message, size: number): void {
        const ws = this.#ws;
        if (ws.#liveness !== null && (msg.type === "text" || msg.type === "binary")) ws.#liveness.dataReceived();
        ws.#inbox.deliver(msg, size);
      }
      write(bytes: Uint8Array): void {
        this.#ws.#writer.write(bytes);
      }
      sendEof(): void {
        this.#ws.#endTransport();
      }
      closeReceived(): void {
        this.#ws.#onCloseReceived();
      }
      failing(err: WebSocketError): void {
        this.#ws.#onFailing(err);
      }
      // TransportSink: what the transport reports.
      data(chunk: Uint8Array): void {
        this.#ws.#onData(chunk);
      }
      end(): void {
        this.#ws.#onTransportEnd(undefined);
      }
      error(err: unknown): void {
        this.#ws.#onTransportEnd(err);
      }
      drain(): void {
        this.#ws.#writer.drain();
      }
      // ReceiverHost, WriterHost.
      taken(): void {
        if (this.#ws.#paused) this.#ws.#updateReading();
      }
      congestionChanged(): void {
        this.#ws.#updateReading();
      }
      fail(err: WebSocketError): void {
        this.#ws.#fail(err);
      }
      peerClosed(): boolean {
        return this.#ws.#core.closeReceived;
      }
      // SenderHost.
      closeRequested(): { code: number; reason: string } | null {
        return this.#ws.#closeRequested;
      }
      terminated(): boolean {
        return this.#ws.#terminated;
      }
      close(message: Message): Promise<void> {
        return this.#ws.#sendCloseMessage(message);
      }
      messageEnded(): void {
        const ws = this.#ws;
        if (ws.#held !== null) ws.#releaseHeld();
      }
      // LivenessHost.
      active(): boolean {
        return !this.#ws.#terminated && !this.#ws.#core.closeSent;
      }
      ping(): void {
        this.#ws.#core.sendPing();
      }
      dead(pingTimeout: number): void {
        this.#ws.#onKeepaliveTimeout(pingTimeout);
      }
      idle(): void {
        void this.#ws.close(CloseCode.GoingAway, "Idle timeout");
      }
    };
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
    return this.#core.state;
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
    return this.#transport.remoteAddress;
  }

  /** The peer's port, where the runtime knows it; see {@link WebSocketConnection.remoteAddress}. */
  get remotePort(): number | undefined {
    return this.#transport.remotePort;
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
    return this.#maxFrameSize;
  }

  /** Bytes queued for sending but not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this.#writer.bufferedAmount + this.#transport.bufferedAmount;
  }

  // ---------------------------------------------------------------- receiving

  #onData(chunk: Uint8Array): void {
    const core = this.#core;
    if (!core.receiving) return;
    this.#liveness?.received();
    // While frames wait for the next turn, new bytes only join them.
    const more = core.receiveData(chunk, this.#yielding ? 0 : FRAMES_PER_TURN);
    if (more && !this.#yielding) this.#yieldTurn();
    this.#updateReading();
  }

  /** Lets the event loop run (timers, accepts, other connections) before the next frames. */
  #yieldTurn(): void {
    this.#yielding = true;
    nextTurn(this.#resumeTask ??= () => {
      this.#yielding = false;
      if (!this.#terminated && this.#core.receiving && this.#core.receiveData(NO_BYTES, FRAMES_PER_TURN)) {
        this.#yieldTurn();
      }
      this.#updateReading();
    });
  }

  /**
   * The frame permessage-deflate took, back inflated: the core handles it,
   * then decodes what arrived behind it (unless a turn is already scheduled).
   */
  #onInflated(frame: Frame): void {
    const core = this.#core;
    if (core.receiveFrame(frame) && !this.#yielding && core.receiveData(NO_BYTES, FRAMES_PER_TURN)) this.#yieldTurn();
    this.#updateReading();
  }

  /** Pauses the transport while too much is unread or unsent; resumes when both fall. */
  #updateReading(): void {
    // Once the core stopped processing (a close frame arrived, or we failed
    // the connection) bytes are discarded as they come, so there is nothing
    // to hold back, and the transport must be read to see the peer's EOF.
    // Congestion pauses reading when nobody paces it (our automatic pongs
    // to a peer that floods pings and never reads them), or when far more is
    // queued than one frame of the application's (pongs on top of it).
    const writer = this.#writer;
    const congested = writer.congested &&
      (!writer.senderWaiting || this.bufferedAmount > 2 * this.#maxFrameSize + CONGESTION_SLACK);
    const shouldPause = this.#core.receiving &&
      (this.#inbox.full || this.#yielding || congested || (this.#core.waitingForStage && this.#core.bufferedAmount > INFLATE_BACKLOG_BYTES));
    if (shouldPause !== this.#paused && !this.#terminated) {
      this.#paused = shouldPause;
      if (shouldPause) this.#transport.pause();
      else this.#transport.resume();
    }
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
    return this.#receiver.recv();
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
    return this.#receiver.recvAll(maxMessageSize);
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
  async recvStream(): Promise<IncomingStream> {
    let first = await this.recv();
    while (first.type === "ping" || first.type === "pong") first = await this.recv();
    if (first.type === "close") throw this.#closedError();
    const type = first.type as "text" | "binary";
    const bytesOf = (msg: Message) => typeof msg.data === "string" ? new TextEncoder().encode(msg.data) : msg.data;
    let head: Message | null = first;
    let ended = false;
    const readable = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        let msg = head;
        head = null;
        while (msg === null || msg.type === "ping" || msg.type === "pong") msg = await this.recv();
        if (msg.type === "close") {
          controller.error(this.#closedError());
          return;
        }
        controller.enqueue(bytesOf(msg));
        if (!msg.partial) {
          ended = true;
          controller.close();
        }
      },
      cancel: async () => {
        // The rest of the message is read and dropped, so the next receive starts clean.
        while (!ended) {
          const msg = await this.recv();
          if (msg.type === "close") return;
          if ((msg.type === "text" || msg.type === "binary") && !msg.partial) ended = true;
        }
      },
    }, { highWaterMark: 0 });
    return { type, readable };
  }

  /**
   * Iterates over whole text and binary messages, skipping pings and pongs,
   * until the peer closes. Ends normally after a close frame; throws the
   * failure when the connection fails or the transport is lost.
   */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return this.#receiver.iterator();
  }

  /**
   * Whole text and binary messages as a ReadableStream, like WHATWG
   * WebSocketStream. It closes after the peer's close frame and errors when
   * the connection fails. Cancelling it closes the connection.
   */
  get readable(): ReadableStream<Message> {
    this.#readable ??= new ReadableStream<Message>({
      pull: async (controller) => {
        const msg = await this.#receiver.nextDataMessage();
        if (msg === null) controller.close();
        else controller.enqueue(msg);
      },
      cancel: async () => {
        await this.close();
      },
    }, { highWaterMark: 0 });
    return this.#readable;
  }

  /**
   * A WritableStream of messages: each chunk is sent with `sendAll`. Closing
   * it closes the connection with 1000; aborting it closes with 1011.
   */
  get writable(): WritableStream<Sendable> {
    this.#writable ??= new WritableStream<Sendable>({
      write: (chunk) => this.sendAll(chunk),
      close: async () => {
        await this.close();
      },
      abort: async () => {
        await this.close(CloseCode.InternalError);
      },
    });
    return this.#writable;
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
    if (options !== undefined) return this.#sendWith(options, () => this.#sender.send(msg, options.compress));
    if (this.#overBackpressure()) return this.#sendOverLimit(msg);
    return this.#sender.send(msg);
  }

  /** A send with options: the backpressure check, then `start`, bounded by the signal. */
  #sendWith(options: SendOptions, start: () => Promise<void>): Promise<void> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#overBackpressure()) return Promise.reject(this.#backpressureExceeded());
    const sending = start();
    if (signal === undefined) return sending;
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        reject(signal.reason);
        // Bytes of this message may already be in the socket: nothing may follow
        // them, not even a close frame, so the transport is dropped.
        if (!this.#terminated) {
          this.#core.abandon(new WebSocketError("A send was aborted by its signal", {
            code: "ERR_SEND_ABORTED",
            cause: signal.reason,
          }));
          this.#transport.destroy();
          this.#terminate();
        }
      };
      signal.addEventListener("abort", onAbort, { once: true });
      sending.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  /** A send while maxBackpressure bytes wait: refused unless it closes, or the connection is closed anyway. */
  #sendOverLimit(msg: Sendable): Promise<void> {
    if (this.#terminated || (msg instanceof Message && msg.type === "close")) return this.#sender.send(msg);
    return Promise.reject(this.#backpressureExceeded());
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
    if (isByteSource(msg)) {
      return this.#sendWith(options ?? {}, () => this.#sender.sendStream(msg, options?.compress));
    }
    if (options !== undefined) return this.#sendWith(options, () => this.#sender.sendAll(msg, options.compress));
    if (this.#overBackpressure()) return this.#sendOverLimit(msg);
    return this.#sender.sendAll(msg);
  }

  // ------------------------------------------------------------------- topics

  #hubOrThrow(): Hub {
    if (this.#hub === null) {
      throw new Error(
        this.#terminated ? "The connection is closed" : "Topics need a hub: use serve, or requestHandler with a hub option",
      );
    }
    return this.#hub;
  }

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
    if (this.#terminated) return;
    this.#hubOrThrow().subscribe(this, String(topic));
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
    return this.#hub?.unsubscribe(this, String(topic)) ?? false;
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
    return this.#hub?.topicsOf(this).has(String(topic)) ?? false;
  }

  /** The topics this connection subscribes to (Bun's `ws.subscriptions`). */
  get topics(): string[] {
    return this.#hub === null ? [] : [...this.#hub.topicsOf(this)];
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
    return this.#hubOrThrow().publish(String(topic), data, { except: options.includeSelf === true ? undefined : this });
  }

  /** True when maxBackpressure bytes or more already wait to be sent. */
  #overBackpressure(): boolean {
    // Bytes still waiting for the compressor count too: publishing faster
    // than zlib keeps up must not queue without bound either.
    const deflating = this.#deflate === null ? 0 : this.#deflate.queuedBytes;
    return this.#writer.bufferedAmount + this.#heldBytes + deflating + this.#transport.bufferedAmount >=
      this.#maxBackpressure;
  }

  /** Applies backpressurePolicy; the error is what a refused send rejects with. */
  #backpressureExceeded(): WebSocketError {
    const close = this.#backpressurePolicy === "close";
    const err = new WebSocketError(
      `More than ${this.#maxBackpressure} bytes wait to be sent (maxBackpressure): the peer does not read fast enough`,
      { code: "ERR_BACKPRESSURE", closeCode: close ? CloseCode.TryAgainLater : undefined },
    );
    if (close && !this.#terminated) {
      // The peer is not reading: a close frame behind the queue would never
      // reach it, and the queue must be freed now, not after closeTimeout.
      this.#fail(err);
      this.#transport.destroy();
      this.#terminate();
    }
    return err;
  }

  #writeShared(shared: SharedMessage): number {
    if (this.#terminated || this.#closeRequested !== null || this.#core.closeSent) return SHARED_CLOSED;
    if (this.#overBackpressure()) {
      this.#backpressureExceeded();
      return this.#terminated ? SHARED_CLOSED : SHARED_DROPPED;
    }
    const write = this.#deflate !== null || this.#client
      ? () => void this.sendAll(shared.message()).catch(() => {})
      : () => this.#writer.write(shared.frame());
    if (!this.#core.messageInProgress) {
      write();
      this.#writer.keepCorked();
    } else {
      // A fragmented message of ours is on the wire: a data frame between its
      // fragments would break RFC 6455 §5.4, so this waits for its last frame.
      (this.#held ??= []).push(write);
      this.#heldBytes += shared.frame().length;
    }
    return this.bufferedAmount;
  }

  /** Our fragmented message ended: what was published meanwhile goes out now, in order. */
  #releaseHeld(): void {
    const held = this.#held!;
    this.#held = null;
    this.#heldBytes = 0;
    for (const write of held) write();
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
    this.#requestClose(code, reason);
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
    if (!this.#terminated) {
      this.#core.abandon(new Error("terminate() dropped the connection"));
      this.#transport.destroy();
      this.#terminate();
    }
    return this.closed;
  }

  #sendCloseMessage(message: Message): Promise<void> {
    const reason = message.data as string;
    this.#requestClose(message.code ?? (reason === "" ? undefined : CloseCode.Normal), reason);
    return this.#writer.ready();
  }

  /**
   * Sends our close frame once nothing sent before it is cut off: a message
   * `sendAll` is fragmenting, and the sends issued before the close waiting
   * behind it, go first; sends issued after it are refused.
   *
   * @throws {RangeError} For a code that may not be sent or a reason too long.
   */
  #requestClose(code: number | undefined, reason: string): void {
    const core = this.#core;
    if (core.closeSent || this.#closeRequested !== null || this.#terminated) return;
    // Validates before anything is sent; after the peer's close the core echoes its code instead.
    if (!core.closeReceived) encodeClosePayload(code, reason);
    this.#closeRequested = { code: code ?? CloseCode.NoStatus, reason };
    this.#clock.clearTimeout(this.#echoTimer);
    if (this.#sender.busy === null) {
      core.sendClose(code, reason);
      this.#afterCloseSent();
      return;
    }
    // The wait for the sends ahead is bounded like the handshake itself.
    this.#armCloseTimer();
    void (async () => {
      while (this.#sender.busy !== null) await this.#sender.busy;
      if (core.closeSent || this.#terminated) return;
      core.sendClose(code, reason);
      this.#afterCloseSent();
    })();
  }

  #onCloseReceived(): void {
    const info = this.#core.closeInfo!;
    this.#inbox.end(new ConnectionClosedError(info.code, info.reason));
    if (this.#core.closeSent) {
      this.#afterCloseSent();
    } else if (this.#closeRequested === null) {
      // §5.5.1 asks for the answer "as soon as practical": one macrotask
      // lets the application reply to messages that arrived just before
      // the close (an echo server's replies are not cut off).
      this.#echoTimer = this.#clock.setTimeout(() => this.#requestClose(undefined, ""), 0);
    }
  }

  /**
   * After our close frame went out (or the handshake completed): wait for
   * the peer, up to closeTimeout. The core already told the server to close
   * TCP when both frames are exchanged (§7.1.1); the client waits for it.
   */
  #afterCloseSent(): void {
    // Ending the transport can report its end at once (Bun's socket.end()
    // calls the close handler synchronously): a timer set after that would
    // only hold the process open for closeTimeout.
    if (this.#terminated) return;
    this.#armCloseTimer();
  }

  #armCloseTimer(): void {
    this.#clock.clearTimeout(this.#closeTimer);
    this.#closeTimer = this.#clock.setTimeout(() => this.#onCloseTimeout(), this.#closeTimeout);
  }

  #onCloseTimeout(): void {
    if (this.#terminated) return;
    this.#core.abandon(new Error(`Peer did not finish the closing handshake within ${this.#closeTimeout} ms`));
    this.#transport.destroy();
    this.#terminate();
  }

  #onKeepaliveTimeout(pingTimeout: number): void {
    // The peer is unresponsive: waiting for a closing handshake is pointless.
    this.#fail(
      new TimeoutError(`No answer to a keepalive ping within ${pingTimeout} ms`, { closeCode: CloseCode.InternalError }),
    );
    this.#transport.destroy();
    this.#terminate();
  }

  #endTransport(): void {
    const writer = this.#writer;
    if (writer.ended) return;
    if (this.#deflate !== null && this.#deflate.sending) {
      // The close frame waits behind compressed messages: end once it is out.
      void this.#deflate.sent().then(() => this.#endTransport());
      return;
    }
    writer.flush();
    writer.ended = true;
    this.#transport.end();
  }

  /** Fails the connection (RFC 6455 §7.1.7, decided by the core). */
  #fail(err: WebSocketError): void {
    if (this.#terminated) return;
    this.#core.failWith(err);
    this.#updateReading(); // a paused transport must be read again to see the peer's EOF
  }

  /** The core is failing the connection: drop what waits to be compressed, wake readers, bound the wait. */
  #onFailing(err: WebSocketError): void {
    this.#deflate?.dispose(err);
    this.#inbox.end(err);
    this.#armCloseTimer();
  }

  #onTransportEnd(cause: unknown): void {
    if (this.#terminated) return;
    this.#writer.ended = true;
    this.#core.receiveEof(cause);
    if (cause !== undefined) this.#transport.destroy();
    else this.#transport.end();
    this.#terminate();
  }

  #closedError(): ConnectionClosedError {
    const info = this.#core.closeInfo;
    return new ConnectionClosedError(info?.code ?? CloseCode.Abnormal, info?.reason ?? "");
  }

  #terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    const clock = this.#clock;
    clock.clearTimeout(this.#closeTimer);
    clock.clearTimeout(this.#echoTimer);
    this.#liveness?.stop();
    this.#core.abandon(new Error("The connection was dropped"));
    const info = this.#core.closeInfo!;
    this.#inbox.end(info.error ?? this.#closedError(), true);
    this.#writer.close(this.#closedError());
    this.#deflate?.dispose(this.#closedError());
    this.#held = null;
    this.#heldBytes = 0;
    this.#resolveClosed(info);
  }
}
