/**
 * WebSocketConnection: the socket API (Gerbil's WebSocket interface and what
 * users of ws, Deno and Bun expect) over any {@link Transport}.
 *
 * Every RFC decision above the frame format lives here: reassembly and UTF-8
 * (§5.4, §8.1), ping/pong (§5.5.2-3), the closing handshake (§5.5.1, §7),
 * and failing the connection with the right code (§7.1.7).
 *
 * @module
 */

import { CloseCode, decodeClosePayload, encodeClosePayload, MAX_CLOSE_REASON_BYTES } from "./codec/close.ts";
import { DEFAULT_MAX_FRAME_SIZE, FrameDecoder } from "./codec/decoder.ts";
import { checkControlFrame, encodeFrame, encodeTextFrame } from "./codec/encoder.ts";
import { type Frame, headerSize, Opcode, writeHeader } from "./codec/frame.ts";
import { randomMaskKey } from "./codec/mask.ts";
import { decodeUtf8, utf8Length, Utf8StreamDecoder } from "./codec/utf8.ts";
import { ConnectionClosedError, MessageTooBigError, TimeoutError, type WebSocketError } from "./errors.ts";
import { isValidMessage, Message, type MessageType } from "./message.ts";
import { type CompressionOptions, PerMessageDeflate } from "./extensions/permessage_deflate.ts";
import { streamTransport } from "./transport/streams.ts";
import type { ByteStreamPair, Transport, TransportSink } from "./transport/types.ts";

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
/** The default keepalive: a ping after this many ms without receiving anything. */
export const DEFAULT_PING_INTERVAL = 20000;
/** The default time a keepalive ping waits for the peer to show it is alive. */
export const DEFAULT_PING_TIMEOUT = 20000;

/**
 * Options for {@link WebSocketConnection}.
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
  /** Largest frame payload accepted or sent by `send`. Defaults to 1 MiB (1048576). */
  maxFrameSize?: number;
  /** Largest message `recvAll` and iteration reassemble. Defaults to 64 MiB. */
  maxMessageSize?: number;
  /** Answer pings with pongs automatically. Defaults to true. */
  autoPong?: boolean;
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
   * and `closed` resolves with 1011 and a {@link TimeoutError}. Defaults to 20000.
   */
  pingTimeout?: number;
  /**
   * Close with 1001 (Going Away) when no text or binary frame arrived for
   * this many ms; pings and pongs do not count. Defaults to 0 (off).
   */
  idleTimeout?: number;
  /** Source of client masking keys. Defaults to random keys; inject only in tests. */
  maskKey?: () => Uint8Array;
  /**
   * Bytes already read from the transport after the opening handshake (they
   * arrived with the HTTP head); they are decoded before anything else.
   */
  head?: Uint8Array;
}

/**
 * How a connection ended.
 *
 * @example
 * ```ts
 * import type { CloseInfo, WebSocketConnection } from "@streamsock/streamsock";
 *
 * async function report(ws: WebSocketConnection): Promise<void> {
 *   const info: CloseInfo = await ws.closed;
 *   console.log(info.code, info.reason, info.wasClean, info.error?.message);
 * }
 * ```
 */
export interface CloseInfo {
  /** The status code: the peer's, ours when we failed the connection, or 1006 when the transport was lost. */
  code: number;
  /** The reason that went with the code. */
  reason: string;
  /** True when both close frames were exchanged. */
  wasClean: boolean;
  /** The failure that ended the connection, if it did not end cleanly. */
  error?: WebSocketError;
}

/**
 * What `send` accepts: a Message, or a string (text) or bytes (binary) shorthand.
 *
 * @example
 * ```ts
 * import { Message, type Sendable } from "@streamsock/streamsock";
 *
 * const outbox: Sendable[] = ["text", new Uint8Array([1, 2]), new Message("bye", "close")];
 * ```
 */
export type Sendable = Message | string | Uint8Array;

// Writes accumulated in one tick are coalesced into one transport write; past
// this size they are handed over at once.
const FLUSH_THRESHOLD = 64 * 1024;
// Chunks this large are written as they are rather than copied together.
const LARGE_CHUNK = 16 * 1024;
// Inbound backpressure: stop reading when this much is received but unread.
const INBOX_HIGH_WATER_BYTES = 1024 * 1024;
const INBOX_HIGH_WATER_COUNT = 1024;
// Frames decoded before the connection lets the event loop run: a read full of
// tiny frames (a flood of empty ones) must not keep timers, accepts and other
// connections waiting while it is taken apart.
const FRAMES_PER_TURN = 2048;
// Microtask rounds without progress after which a corked flush goes out (see #flushTask).
const CORK_ROUNDS = 16;
// Microtask rounds a corked flush waits after the last message was taken.
const CORK_TAIL_ROUNDS = 4;

const RESOLVED: Promise<void> = Promise.resolve();

/** Runs `task` in a later macrotask, after pending I/O and timers. */
const nextTurn: (task: () => void) => void = typeof globalThis.setImmediate === "function"
  ? (task) => void globalThis.setImmediate(task)
  : (task) => void setTimeout(task, 0);

/** A FIFO of received frames and their payload sizes. */
class Inbox {
  #messages: (Message | undefined)[] = [];
  #sizes: number[] = [];
  #head = 0;
  bytes = 0;

  get length(): number {
    return this.#messages.length - this.#head;
  }

  push(msg: Message, size: number): void {
    this.#messages.push(msg);
    this.#sizes.push(size);
    this.bytes += size;
  }

  /** The next message; only valid when `length > 0`. */
  peek(): Message {
    return this.#messages[this.#head]!;
  }

  /** Size of the next message; only valid when `length > 0`. */
  peekSize(): number {
    return this.#sizes[this.#head];
  }

  shift(): Message {
    const msg = this.#messages[this.#head]!;
    this.bytes -= this.#sizes[this.#head];
    this.#messages[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#messages.length) {
      this.#messages.length = 0;
      this.#sizes.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#messages.length) {
      this.#messages = this.#messages.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
    return msg;
  }
}

interface Waiter {
  resolve(msg: Message): void;
  reject(err: unknown): void;
}

function truncateReason(text: string): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= MAX_CLOSE_REASON_BYTES) return text;
  // Cut at a character boundary: drop continuation bytes at the cut.
  let end = MAX_CLOSE_REASON_BYTES;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

function messageOf(data: Sendable): Message {
  if (typeof data === "string") return new Message(data, "text");
  if (data instanceof Uint8Array && !(data instanceof Message)) return new Message(data, "binary");
  if (!isValidMessage(data)) {
    throw new TypeError("send expects a Message, a string or a Uint8Array");
  }
  return data;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

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
  readonly #client: boolean;
  readonly #protocol: string | null;
  readonly #extensions: string;
  readonly #maxFrameSize: number;
  readonly #maxMessageSize: number;
  readonly #autoPong: boolean;
  readonly #closeTimeout: number;
  readonly #pingInterval: number;
  readonly #pingTimeout: number;
  readonly #idleTimeout: number;
  readonly #maskKey: (() => Uint8Array) | null;
  readonly #decoder: FrameDecoder;
  /** permessage-deflate, when negotiated; null keeps every path synchronous. */
  readonly #deflate: PerMessageDeflate | null;

  // Receiving.
  readonly #inbox = new Inbox();
  /** Control frames set aside by `recvAll` while it gathered fragments. */
  #setAside: Message[] = [];
  #waiters: Waiter[] = [];
  #recvType: "text" | "binary" = "binary";
  #textDecoder: Utf8StreamDecoder | null = null;
  #reading = true;
  #paused = false;
  /** Frames wait in the decoder for the next turn of the event loop. */
  #yielding = false;
  /** Why `recv` cannot deliver more once the inbox is empty. */
  #recvError: WebSocketError | null = null;

  // Sending.
  #out: Uint8Array[] = [];
  #outBytes = 0;
  #flushScheduled = false;
  /** Messages taken from the inbox so far, and the count the cork last saw. */
  #taken = 0;
  #corkTaken = 0;
  #corkRounds = 0;
  #congested = false;
  #drainWaiters: { resolve(): void; reject(err: unknown): void }[] = [];
  #sendType: "text" | "binary" | null = null;
  #sendAllBusy: Promise<void> | null = null;

  // Closing.
  #closeSent = false;
  /** close() was called (or the peer's close is being answered); the frame may wait for sends ahead of it. */
  #closeRequested = false;
  /** Defers the answer to the peer's close by one macrotask. */
  #echoTimer: ReturnType<typeof setTimeout> | undefined;
  #closeReceived = false;
  #transportEnded = false;
  #terminated = false;
  #closeInfo: CloseInfo | null = null;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  // Keepalive and idle detection: timestamps are taken per received chunk or
  // data frame only when the feature is on, and one timer per feature checks
  // them, rather than a timer reset per frame.
  #keepaliveTimer: ReturnType<typeof setTimeout> | undefined;
  #lastReceived = 0;
  #pingSentAt = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #lastData = 0;
  #resolveClosed!: (info: CloseInfo) => void;
  /**
   * Resolves once the connection is closed, cleanly or not, with the code and
   * reason; it never rejects.
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
    this.#client = options.role === "client";
    this.#protocol = options.protocol ?? null;
    this.#extensions = options.extensions ?? "";
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.#autoPong = options.autoPong ?? true;
    this.#closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.#pingInterval = options.pingInterval ?? DEFAULT_PING_INTERVAL;
    this.#pingTimeout = options.pingTimeout ?? DEFAULT_PING_TIMEOUT;
    this.#idleTimeout = options.idleTimeout ?? 0;
    this.#maskKey = this.#client ? (options.maskKey ?? randomMaskKey) : null;
    this.#deflate = PerMessageDeflate.fromExtensions(this.#extensions, options.role, options.compression, this.#maxFrameSize, {
      deliver: (frame) => this.#onInflated(frame),
      write: (frame) => this.#write(encodeFrame(frame, this.#nextMaskKey())),
      fail: (err) => this.#fail(err),
    });
    this.#decoder = new FrameDecoder({
      masked: !this.#client,
      // maxFrameSize bounds the decompressed payload, checked while inflating;
      // a compressed frame on the wire may be slightly larger (incompressible data).
      maxFrameSize: this.#deflate?.frameLimit ?? this.#maxFrameSize,
      allowedRsv: this.#deflate === null ? 0 : 4,
      ownsChunks: this.#transport.mutableChunks,
    });
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    const sink: TransportSink = {
      data: (chunk) => this.#onData(chunk),
      end: () => this.#onTransportEnd(undefined),
      error: (err) => this.#onTransportEnd(err),
      drain: () => this.#onDrain(),
    };
    this.#transport.start(sink);
    const now = Date.now();
    if (this.#pingInterval > 0) {
      this.#lastReceived = now;
      this.#keepaliveTimer = setTimeout(() => this.#onKeepaliveTimer(), this.#pingInterval);
    }
    if (this.#idleTimeout > 0) {
      this.#lastData = now;
      this.#idleTimer = setTimeout(() => this.#onIdleTimer(), this.#idleTimeout);
    }
    // A copy as a plain Uint8Array: node:http hands the upgrade head over as a
    // Buffer, and payload views of it would otherwise reach users as Buffers.
    if (options.head !== undefined && options.head.length > 0) this.#onData(new Uint8Array(options.head));
  }

  /** The negotiated subprotocol, or null (Gerbil's `WebSocket-protocol`). */
  get protocol(): string | null {
    return this.#protocol;
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
    return this.#outBytes + this.#transport.bufferedAmount;
  }

  // ---------------------------------------------------------------- receiving

  #onData(chunk: Uint8Array): void {
    if (!this.#reading) return;
    if (this.#pingInterval > 0) this.#lastReceived = Date.now();
    this.#decoder.push(chunk);
    // Frames already waiting for the next turn come first.
    if (!this.#yielding) this.#decodeFrames();
  }

  /** Takes frames apart, at most FRAMES_PER_TURN before yielding to the event loop. */
  #decodeFrames(): void {
    const decoder = this.#decoder;
    let budget = FRAMES_PER_TURN;
    try {
      for (let frame = decoder.next(); frame !== null; frame = decoder.next()) {
        this.#onFrame(frame);
        if (!this.#reading) break;
        if (--budget === 0 && decoder.bufferedAmount > 0) {
          this.#yielding = true;
          this.#updateReading();
          nextTurn(this.#resumeDecoding);
          return;
        }
      }
    } catch (err) {
      this.#fail(err as WebSocketError);
      return;
    }
    this.#updateReading();
  }

  readonly #resumeDecoding = (): void => {
    this.#yielding = false;
    if (this.#reading && !this.#terminated) this.#decodeFrames();
  };

  #onFrame(frame: Frame): void {
    if (this.#deflate !== null && this.#deflate.intercept(frame)) return;
    const opcode = frame.opcode;
    const payload = frame.payload;
    switch (opcode) {
      case Opcode.Text:
      case Opcode.Binary:
      case Opcode.Continuation: {
        let type = this.#recvType;
        if (opcode !== Opcode.Continuation) type = this.#recvType = opcode === Opcode.Text ? "text" : "binary";
        let data: string | Uint8Array = payload;
        if (type === "text") {
          if (frame.fin && opcode !== Opcode.Continuation) {
            data = decodeUtf8(payload);
          } else {
            // Fragments: decode as they come, so invalid UTF-8 fails fast and
            // each partial message carries whole characters.
            this.#textDecoder ??= new Utf8StreamDecoder();
            data = this.#textDecoder.decode(payload, frame.fin);
          }
        }
        if (this.#idleTimeout > 0) this.#lastData = Date.now();
        this.#deliver(new Message(data, type, !frame.fin), payload.length);
        return;
      }
      case Opcode.Ping:
        // RFC 6455 §5.5.2: answer with a pong carrying the same data, unless
        // we already sent a close frame (§5.5.1: nothing follows it).
        if (this.#autoPong && !this.#closeSent) this.#writeControl(Opcode.Pong, payload);
        this.#deliver(new Message(payload, "ping"), payload.length);
        return;
      case Opcode.Pong:
        this.#deliver(new Message(payload, "pong"), payload.length);
        return;
      case Opcode.Close: {
        const { code, reason } = decodeClosePayload(payload);
        this.#closeReceived = true;
        // Data after a close frame is not processed (§5.5.1).
        this.#reading = false;
        this.#deliver(new Message(reason, "close", false, code), payload.length);
        this.#recvError = new ConnectionClosedError(code, reason);
        this.#closeInfo = { code, reason, wasClean: true };
        if (this.#closeSent) {
          this.#afterHandshake();
        } else if (!this.#closeRequested) {
          // §5.5.1 asks for the answer "as soon as practical": one macrotask
          // lets the application reply to messages that arrived just before
          // the close (an echo server's replies are not cut off).
          this.#echoTimer = setTimeout(() => this.#requestClose(code === CloseCode.NoStatus ? undefined : code, ""), 0);
        }
        return;
      }
    }
  }

  /** A frame back from permessage-deflate, in order: handled as if it had just arrived. */
  #onInflated(frame: Frame): boolean {
    if (!this.#reading) return false;
    try {
      this.#onFrame(frame);
    } catch (err) {
      this.#fail(err as WebSocketError);
      return false;
    }
    this.#updateReading();
    return this.#reading;
  }

  #deliver(msg: Message, size: number): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter.resolve(msg);
    else this.#inbox.push(msg, size);
  }

  /** Pauses the transport while too much is unread or unsent; resumes when both fall. */
  #updateReading(): void {
    const full = this.#inbox.bytes > INBOX_HIGH_WATER_BYTES || this.#inbox.length > INBOX_HIGH_WATER_COUNT;
    // Once reading stopped (a close frame arrived, or we failed the
    // connection) bytes are discarded as they come, so there is nothing to
    // hold back, and the transport must be read to see the peer's EOF, also
    // after our side of it was ended.
    const shouldPause = this.#reading &&
      (full || this.#yielding || this.#congested || (this.#deflate !== null && this.#deflate.backlogged));
    if (shouldPause !== this.#paused && !this.#terminated) {
      this.#paused = shouldPause;
      if (shouldPause) this.#transport.pause();
      else this.#transport.resume();
    }
  }

  #nextFrame(): Promise<Message> {
    const setAside = this.#setAside;
    if (setAside.length > 0) return Promise.resolve(setAside.shift()!);
    if (this.#inbox.length > 0) {
      const msg = this.#inbox.shift();
      this.#taken++;
      if (this.#paused) this.#updateReading();
      return Promise.resolve(msg);
    }
    if (this.#recvError !== null) return Promise.reject(this.#recvError);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
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
    return this.#nextFrame();
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
  async recvAll(maxMessageSize: number = this.#maxMessageSize): Promise<Message> {
    const size = this.#setAside.length === 0 && this.#inbox.length > 0 ? this.#inbox.peekSize() : -1;
    const first = await this.#nextFrame();
    const type = first.type;
    if (type !== "text" && type !== "binary") return first;
    let total = size >= 0 ? size : this.#payloadSize(first);
    this.#checkMessageSize(total, maxMessageSize);
    if (!first.partial) return first;

    // Gather without one object per fragment, so a flood of tiny fragments
    // costs memory in proportion to its bytes, bounded by maxMessageSize:
    // text in batches of joined strings, bytes in a buffer that doubles.
    const text: string[] = [];
    let batch: string[] = [];
    let bytes = new Uint8Array(0);
    let filled = 0;
    const add = (data: string | Uint8Array) => {
      if (typeof data === "string") {
        batch.push(data);
        if (batch.length === 1024) {
          text.push(batch.join(""));
          batch = [];
        }
        return;
      }
      if (filled + data.length > bytes.length) {
        const grown = new Uint8Array(Math.min(maxMessageSize, Math.max(2 * bytes.length, filled + data.length, 4096)));
        grown.set(bytes.subarray(0, filled));
        bytes = grown;
      }
      bytes.set(data, filled);
      filled += data.length;
    };
    add(first.data);
    const aside: Message[] = [];
    try {
      for (;;) {
        const msg = await this.#nextFrame();
        if (msg.type !== "text" && msg.type !== "binary") {
          aside.push(msg);
          if (msg.type === "close") throw this.#recvError;
          continue;
        }
        total += this.#payloadSize(msg);
        this.#checkMessageSize(total, maxMessageSize);
        add(msg.data);
        if (!msg.partial) break;
      }
    } finally {
      if (aside.length > 0) this.#setAside.push(...aside);
    }
    if (type === "text") return new Message(text.join("") + batch.join(""), "text");
    return new Message(filled === bytes.length ? bytes : bytes.slice(0, filled), "binary");
  }

  #payloadSize(msg: Message): number {
    const data = msg.data;
    return typeof data === "string" ? utf8Length(data) : data.length;
  }

  #checkMessageSize(total: number, max: number): void {
    if (total <= max) return;
    const err = new MessageTooBigError(`Message of more than ${max} bytes exceeds maxMessageSize`);
    this.#fail(err);
    throw err;
  }

  /** The next whole text or binary message, or null after a clean close. */
  async #nextDataMessage(): Promise<Message | null> {
    for (;;) {
      let msg: Message;
      try {
        msg = await this.recvAll();
      } catch (err) {
        if (err instanceof ConnectionClosedError && this.#closeReceived) return null;
        throw err;
      }
      if (msg.type === "text" || msg.type === "binary") return msg;
      if (msg.type === "close") return null;
    }
  }

  /**
   * Iterates over whole text and binary messages, skipping pings and pongs,
   * until the peer closes. Ends normally after a close frame; throws the
   * failure when the connection fails or the transport is lost.
   */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    // Hot path: a whole message already received is handed out with one
    // promise, instead of the hops through an async generator, recvAll and
    // #nextDataMessage; everything else takes that slow path. A next() made
    // while a slow one is pending waits for it, so messages stay in order.
    let done = false;
    let pending: Promise<unknown> | null = null;
    const end: IteratorResult<Message> = { value: undefined, done: true };
    const slow = (): Promise<IteratorResult<Message>> => {
      const result = this.#nextDataMessage().then(
        (msg): IteratorResult<Message> => {
          if (result === pending) pending = null;
          if (msg !== null) return { value: msg, done: false };
          done = true;
          return end;
        },
        (err) => {
          if (result === pending) pending = null;
          done = true;
          throw err;
        },
      );
      pending = result;
      return result;
    };
    const next = (): Promise<IteratorResult<Message>> => {
      if (done) return Promise.resolve(end);
      if (pending !== null) {
        const after = pending.then(next, next);
        pending = after;
        return after;
      }
      const msg = this.#takeWholeMessage();
      return msg === null ? slow() : Promise.resolve({ value: msg, done: false });
    };
    return {
      next,
      return: () => {
        done = true;
        return Promise.resolve(end);
      },
    };
  }

  /** The next inbox entry if it is a whole text or binary message within maxMessageSize, else null. */
  #takeWholeMessage(): Message | null {
    const inbox = this.#inbox;
    if (this.#setAside.length > 0 || inbox.length === 0) return null;
    const msg = inbox.peek();
    if (msg.partial || (msg.type !== "text" && msg.type !== "binary") || inbox.peekSize() > this.#maxMessageSize) {
      return null;
    }
    inbox.shift();
    this.#taken++;
    if (this.#paused) this.#updateReading();
    return msg;
  }

  /**
   * Whole text and binary messages as a ReadableStream, like WHATWG
   * WebSocketStream. It closes after the peer's close frame and errors when
   * the connection fails. Cancelling it closes the connection.
   */
  get readable(): ReadableStream<Message> {
    this.#readable ??= new ReadableStream<Message>({
      pull: async (controller) => {
        const msg = await this.#nextDataMessage();
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
  send(msg: Sendable): Promise<void> {
    // Hot path: a whole text or binary message with nothing in the way is
    // written without an async function's promise and ticks.
    if (this.#sendAllBusy === null && this.#deflate === null && !this.#closeRequested && !this.#terminated) {
      try {
        const message = messageOf(msg);
        const type = message.type;
        if ((type === "text" || type === "binary") && !message.partial) {
          this.#writeData(message.data, type, true);
          return this.#waitForTransport();
        }
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.#sendMessage(msg);
  }

  async #sendMessage(msg: Sendable): Promise<void> {
    const message = messageOf(msg);
    const type = message.type;
    if (type === "close") return this.#sendCloseMessage(message);
    this.#checkAccepting();
    if (type === "ping" || type === "pong") {
      const payload = message.data as Uint8Array;
      checkControlFrame(true, payload.length);
      this.#writeControl(type === "ping" ? Opcode.Ping : Opcode.Pong, payload);
      return this.#waitForTransport();
    }
    while (this.#sendAllBusy !== null) {
      await this.#sendAllBusy;
      this.#checkOpen();
    }
    const queued = this.#writeData(message.data, type, !message.partial);
    return queued === undefined ? this.#waitForTransport() : queued;
  }

  /**
   * Sends a message of any size, fragmented into frames of at most
   * `maxFrameSize` bytes (Gerbil's `WebSocket-send-all`). Text is split at
   * character boundaries. Other sends wait until all its frames are out, so
   * messages never interleave.
   *
   * @param msg What to send.
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
  async sendAll(msg: Sendable): Promise<void> {
    const message = messageOf(msg);
    const type = message.type;
    if (type !== "text" && type !== "binary") return this.send(message);
    this.#checkAccepting();
    while (this.#sendAllBusy !== null) {
      await this.#sendAllBusy;
      this.#checkOpen();
    }
    const data = message.data;
    const max = this.#maxFrameSize;
    // A message that fits one frame is encoded once, into the frame: a
    // string's size is bounded (3 bytes per UTF-16 unit) or counted, not
    // encoded, to decide.
    const fits = typeof data === "string" ? data.length * 3 <= max || utf8Length(data) <= max : data.length <= max;
    if (fits) {
      const queued = this.#writeData(data, type, !message.partial);
      return queued === undefined ? this.#waitForTransport() : queued;
    }
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    let release!: () => void;
    this.#sendAllBusy = new Promise((resolve) => (release = resolve));
    try {
      for (let start = 0; start < bytes.length;) {
        let end = Math.min(start + max, bytes.length);
        // Keep multi-byte characters whole within a text frame.
        if (type === "text") while (end < bytes.length && end > start && (bytes[end] & 0xc0) === 0x80) end--;
        const last = end === bytes.length;
        const queued = this.#writeFrame(type, bytes.subarray(start, end), last && !message.partial);
        start = end;
        await (queued ?? this.#waitForTransport());
        if (!last) this.#checkOpen();
      }
    } finally {
      this.#sendAllBusy = null;
      release();
    }
  }

  /** For a send being issued: refused once a close was asked for. */
  #checkAccepting(): void {
    if (this.#closeRequested) this.#checkOpen(true);
    else this.#checkOpen();
  }

  /** For a send issued earlier that waited its turn: refused once the close frame is out. */
  #checkOpen(closing = false): void {
    if (closing || this.#closeSent || this.#terminated) {
      const info = this.#closeInfo;
      throw new ConnectionClosedError(info?.code ?? CloseCode.Normal, info?.reason ?? "");
    }
  }

  /** Writes one data frame: a string is encoded straight into the frame. */
  #writeData(data: string | Uint8Array, type: MessageType, fin: boolean): Promise<void> | undefined {
    if (this.#deflate !== null) return this.#writeDeflated(data, type, fin);
    if (typeof data === "string") {
      const opcode = this.#nextDataOpcode(type);
      const { bytes, payloadLength } = encodeTextFrame(data, opcode, fin, 0, this.#nextMaskKey());
      if (payloadLength > this.#maxFrameSize) {
        throw new RangeError(`Frame payload of ${payloadLength} bytes exceeds maxFrameSize ${this.#maxFrameSize}`);
      }
      this.#sendType = fin ? null : type as "text";
      this.#write(bytes);
      return undefined;
    }
    if (data.length > this.#maxFrameSize) {
      throw new RangeError(`Frame payload of ${data.length} bytes exceeds maxFrameSize ${this.#maxFrameSize}`);
    }
    return this.#writeFrame(type, data, fin);
  }

  #writeFrame(type: MessageType, payload: Uint8Array, fin: boolean): Promise<void> | undefined {
    if (this.#deflate !== null) return this.#writeDeflated(payload, type, fin);
    const opcode = this.#nextDataOpcode(type);
    const key = this.#nextMaskKey();
    if (key === null && payload.length >= LARGE_CHUNK) {
      // Server frames are not masked: send the caller's bytes without copying.
      const header = new Uint8Array(headerSize(payload.length, false));
      writeHeader(header, 0, fin, 0, opcode, payload.length, null);
      this.#write(header);
      this.#write(payload);
    } else {
      this.#write(encodeFrame({ fin, opcode, payload }, key));
    }
    this.#sendType = fin ? null : type as "text" | "binary";
    return undefined;
  }

  /**
   * A data frame under permessage-deflate: compressed (a promise that
   * resolves once it is written and the transport can take more), or
   * written at once when small and nothing waits ahead of it (undefined).
   */
  #writeDeflated(data: string | Uint8Array, type: MessageType, fin: boolean): Promise<void> | undefined {
    const payload = typeof data === "string" ? new TextEncoder().encode(data) : data;
    if (payload.length > this.#maxFrameSize) {
      throw new RangeError(`Frame payload of ${payload.length} bytes exceeds maxFrameSize ${this.#maxFrameSize}`);
    }
    const opcode = this.#nextDataOpcode(type);
    this.#sendType = fin ? null : type as "text" | "binary";
    return this.#deflate!.send(opcode, payload, fin)?.then(() => this.#waitForTransport());
  }

  #nextDataOpcode(type: MessageType): Opcode {
    const ongoing = this.#sendType;
    if (ongoing === null) return type === "text" ? Opcode.Text : Opcode.Binary;
    if (ongoing !== type) {
      throw new TypeError(`A ${ongoing} message is in progress; finish it before sending ${type}`);
    }
    return Opcode.Continuation;
  }

  #nextMaskKey(): Uint8Array | null {
    return this.#maskKey === null ? null : this.#maskKey();
  }

  #writeControl(opcode: Opcode, payload: Uint8Array): void {
    const frame: Frame = { fin: true, opcode, payload };
    // Behind compressed messages still being deflated, so frames keep their order.
    if (this.#deflate !== null && this.#deflate.queueControl(frame)) return;
    this.#write(encodeFrame(frame, this.#nextMaskKey()));
  }

  /** Queues bytes; everything written in one tick goes out in one transport write. */
  #write(bytes: Uint8Array): void {
    if (this.#transportEnded || bytes.length === 0) return;
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    if (this.#outBytes >= FLUSH_THRESHOLD) {
      this.#flush();
    } else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      this.#corkRounds = 0;
      this.#corkTaken = this.#taken;
      RESOLVED.then(this.#flushTask);
    }
  }

  /**
   * Cork: the scheduled flush waits while the application is still taking
   * messages that arrived in the same read, so an echo loop's replies go out
   * in one write. Without it the flush ran before the loop's next `send`, one
   * write syscall per message (61% of a Node echo server's CPU was in
   * writeBuffer at 105k msgs/s; 240k msgs/s with it). A microtask round in
   * which no message was taken counts, and after CORK_ROUNDS of those the
   * flush happens anyway, so an application that stops reading only delays
   * it by a few microtasks.
   */
  readonly #flushTask = (): void => {
    if (!this.#flushScheduled) return;
    if (this.#outBytes < FLUSH_THRESHOLD) {
      if (this.#taken !== this.#corkTaken) {
        this.#corkTaken = this.#taken;
        this.#corkRounds = 0;
      }
      // With the inbox empty, the message taken last is still on its way to
      // its reply: wait a few rounds more (2 writes per read -> 1 on Bun).
      if (++this.#corkRounds <= (this.#inbox.length > 0 ? CORK_ROUNDS : CORK_TAIL_ROUNDS)) {
        RESOLVED.then(this.#flushTask);
        return;
      }
    }
    this.#flush();
  };

  #flush(): void {
    this.#flushScheduled = false;
    const out = this.#out;
    if (out.length === 0 || this.#transportEnded) return;
    this.#out = [];
    this.#outBytes = 0;
    let accepted = true;
    if (out.length === 1) {
      accepted = this.#transport.write(out[0]);
    } else {
      let small: Uint8Array[] = [];
      let smallBytes = 0;
      const writeSmall = () => {
        if (smallBytes === 0) return;
        accepted = this.#transport.write(small.length === 1 ? small[0] : concat(small, smallBytes)) && accepted;
        small = [];
        smallBytes = 0;
      };
      for (const chunk of out) {
        if (chunk.length >= LARGE_CHUNK) {
          writeSmall();
          accepted = this.#transport.write(chunk) && accepted;
        } else {
          small.push(chunk);
          smallBytes += chunk.length;
        }
      }
      writeSmall();
    }
    if (!accepted && !this.#congested) {
      this.#congested = true;
      this.#updateReading();
    }
  }

  /** Resolves when the transport can take more: at once unless it is congested. */
  #waitForTransport(): Promise<void> {
    if (!this.#congested && this.#outBytes < FLUSH_THRESHOLD) return RESOLVED;
    if (this.#terminated) return Promise.reject(this.#closedError());
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  #onDrain(): void {
    this.#congested = false;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter.resolve();
    this.#updateReading();
  }

  // ---------------------------------------------------------------- liveness

  /**
   * Keepalive (in the spirit of python-websockets' ping_interval and
   * ping_timeout): a ping after `pingInterval` of silence; anything received
   * after it, the pong or other data, proves the peer alive.
   */
  #onKeepaliveTimer(): void {
    if (this.#terminated || this.#closeSent) return;
    const now = Date.now();
    if (this.#pingSentAt === 0) {
      const silent = now - this.#lastReceived;
      if (silent < this.#pingInterval) {
        this.#keepaliveTimer = setTimeout(() => this.#onKeepaliveTimer(), this.#pingInterval - silent);
        return;
      }
      this.#pingSentAt = now;
      this.#writeControl(Opcode.Ping, new Uint8Array(0));
      this.#keepaliveTimer = setTimeout(() => this.#onKeepaliveTimer(), this.#pingTimeout);
      return;
    }
    if (this.#lastReceived >= this.#pingSentAt) {
      this.#pingSentAt = 0;
      const wait = Math.max(1, this.#pingInterval - (now - this.#lastReceived));
      this.#keepaliveTimer = setTimeout(() => this.#onKeepaliveTimer(), wait);
      return;
    }
    // The peer is unresponsive: waiting for a closing handshake is pointless.
    this.#fail(
      new TimeoutError(`No answer to a keepalive ping within ${this.#pingTimeout} ms`, {
        closeCode: CloseCode.InternalError,
      }),
    );
    this.#transport.destroy();
    this.#terminate();
  }

  #onIdleTimer(): void {
    if (this.#terminated || this.#closeSent) return;
    const idle = Date.now() - this.#lastData;
    if (idle < this.#idleTimeout) {
      this.#idleTimer = setTimeout(() => this.#onIdleTimer(), this.#idleTimeout - idle);
      return;
    }
    void this.close(CloseCode.GoingAway, "Idle timeout");
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

  #sendCloseMessage(message: Message): Promise<void> {
    const reason = message.data as string;
    this.#requestClose(message.code ?? (reason === "" ? undefined : CloseCode.Normal), reason);
    return this.#waitForTransport();
  }

  /**
   * Sends our close frame once nothing sent before it is cut off: a message
   * `sendAll` is fragmenting, and the sends issued before the close waiting
   * behind it, go first; sends issued after it are refused. Once the peer's
   * close has arrived, the answer echoes its code (§5.5.1).
   *
   * @throws {RangeError} For a code that may not be sent or a reason too long.
   */
  #requestClose(code: number | undefined, reason: string): void {
    if (this.#closeSent || this.#closeRequested || this.#terminated) return;
    if (this.#closeReceived) {
      const received = this.#closeInfo!.code;
      code = received === CloseCode.NoStatus ? undefined : received;
      reason = "";
    }
    encodeClosePayload(code, reason); // validates before anything is sent
    this.#closeRequested = true;
    clearTimeout(this.#echoTimer);
    this.#closeInfo ??= { code: code ?? CloseCode.NoStatus, reason, wasClean: true };
    if (this.#sendAllBusy === null) {
      this.#sendClose(code, reason);
      this.#afterHandshake();
      return;
    }
    // The wait for the sends ahead is bounded like the handshake itself.
    this.#closeTimer = setTimeout(() => this.#onCloseTimeout(), this.#closeTimeout);
    void (async () => {
      while (this.#sendAllBusy !== null) await this.#sendAllBusy;
      if (this.#closeSent || this.#terminated) return;
      this.#sendClose(code, reason);
      this.#afterHandshake();
    })();
  }

  #sendClose(code: number | undefined, reason: string): void {
    this.#closeSent = true;
    this.#writeControl(Opcode.Close, encodeClosePayload(code, reason));
  }

  /**
   * Moves the closing handshake on after a close frame was sent or received.
   * Once both are done the server closes TCP first (§7.1.1) and the client
   * waits for it; whoever waits gives up after `closeTimeout`.
   */
  #afterHandshake(): void {
    if (this.#terminated) return;
    clearTimeout(this.#closeTimer);
    if (this.#closeSent && this.#closeReceived && !this.#client) this.#endTransport();
    // Ending the transport can report its end at once (Bun's socket.end()
    // calls the close handler synchronously): a timer set after that would
    // only hold the process open for closeTimeout.
    if (this.#terminated) return;
    this.#closeTimer = setTimeout(() => this.#onCloseTimeout(), this.#closeTimeout);
  }

  #onCloseTimeout(): void {
    if (this.#terminated) return;
    // A failure keeps its own code; a clean close the peer did not finish is abnormal.
    if (!(this.#closeSent && this.#closeReceived) && (this.#closeInfo === null || this.#closeInfo.wasClean)) {
      this.#closeInfo = {
        code: CloseCode.Abnormal,
        reason: "",
        wasClean: false,
        error: new ConnectionClosedError(CloseCode.Abnormal, "", {
          cause: new Error(`Peer did not finish the closing handshake within ${this.#closeTimeout} ms`),
        }),
      };
    }
    this.#transport.destroy();
    this.#terminate();
  }

  #endTransport(): void {
    if (this.#transportEnded) return;
    if (this.#deflate !== null && this.#deflate.sending) {
      // The close frame waits behind compressed messages: end once it is out.
      void this.#deflate.sent().then(() => this.#endTransport());
      return;
    }
    this.#flush();
    this.#transportEnded = true;
    this.#transport.end();
  }

  /**
   * Fails the connection (RFC 6455 §7.1.7): sends a close frame with the
   * error's close code if none was sent yet, stops reading, and closes the
   * transport.
   */
  #fail(err: WebSocketError): void {
    if (this.#terminated) return;
    const code = err.closeCode ?? CloseCode.InternalError;
    this.#reading = false;
    // Failing drops whatever waits to be compressed: the close frame goes now.
    this.#deflate?.dispose(err);
    const reason = truncateReason(err.message);
    if (!this.#closeSent) this.#sendClose(code, reason);
    this.#closeInfo = { code, reason, wasClean: false, error: err };
    this.#setRecvError(err);
    this.#endTransport();
    clearTimeout(this.#closeTimer);
    if (this.#terminated) return; // the transport reported its end synchronously (Bun)
    this.#updateReading(); // a paused transport must be read again to see the peer's EOF
    this.#closeTimer = setTimeout(() => this.#onCloseTimeout(), this.#closeTimeout);
  }

  #setRecvError(err: WebSocketError): void {
    this.#recvError = err;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(err);
  }

  #onTransportEnd(cause: unknown): void {
    if (this.#terminated) return;
    this.#transportEnded = true;
    this.#reading = false;
    if (!(this.#closeSent && this.#closeReceived) && (this.#closeInfo === null || this.#closeInfo.wasClean)) {
      if (this.#closeReceived) {
        // The peer's close arrived and it ended the transport before our
        // answer went out (uWS does not wait for it): the peer's code stands,
        // and an orderly EOF after its close frame is a clean end; a
        // transport error is not.
        this.#closeInfo = { ...this.#closeInfo!, wasClean: cause === undefined };
      } else {
        const midFrame = this.#decoder.bufferedAmount > 0;
        const error = new ConnectionClosedError(CloseCode.Abnormal, "", {
          cause: cause ??
            new Error(midFrame ? "Transport closed in the middle of a frame" : "Transport closed without a closing handshake"),
        });
        this.#closeInfo = { code: CloseCode.Abnormal, reason: "", wasClean: false, error };
      }
    }
    if (cause !== undefined) this.#transport.destroy();
    else this.#transport.end();
    this.#terminate();
  }

  #closedError(): ConnectionClosedError {
    const info = this.#closeInfo;
    return new ConnectionClosedError(info?.code ?? CloseCode.Abnormal, info?.reason ?? "");
  }

  #terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#transportEnded = true;
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#keepaliveTimer);
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#echoTimer);
    const info = this.#closeInfo ?? { code: CloseCode.Abnormal, reason: "", wasClean: false };
    this.#closeInfo = info;
    if (this.#recvError === null) this.#setRecvError(info.error ?? this.#closedError());
    const drainWaiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of drainWaiters) waiter.reject(this.#closedError());
    this.#deflate?.dispose(this.#closedError());
    this.#out = [];
    this.#outBytes = 0;
    this.#resolveClosed(info);
  }
}
