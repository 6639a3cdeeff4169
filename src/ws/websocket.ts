/**
 * `WebSocket` of `streamsock/ws`: ws 8's client and server socket, an
 * EventEmitter over a {@link WebSocketConnection}. The connection does the
 * protocol (RFC 6455, permessage-deflate, limits); this class keeps ws's
 * surface: its events and their order, `send(data, options, cb)`, `pause`,
 * `binaryType`, its error messages.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { EventEmitter } from "node:events";
import type { ClientRequestArgs } from "node:http";
import { nextTick } from "node:process";
import type { WebSocketConnection } from "../connection/connection.ts";
import type { CloseInfo } from "../protocol/types.ts";
import { ConnectionClosedError } from "../errors.ts";
import { Message } from "../message.ts";
import { type HandshakeRequest, openClient, type ResponseMessage } from "./client_opening.ts";
import {
  addEventListener,
  attributeOf,
  emitSafely,
  removeEventListener,
  setAttribute,
  type WebSocketLike,
  type WsCloseEvent,
  type WsErrorEvent,
  type WsEvent,
  type WsEventHandler,
  type WsEventListener,
  type WsEventMap,
  type WsMessageEvent,
} from "./events.ts";
import { bufferOf, bytesOf, concat, EMPTY } from "./data.ts";
import { notOpenError, receiveErrorOf } from "./errors.ts";
import type { BinaryType, ClientOptions, RawData, SendOptions } from "./options.ts";
import { DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_PAYLOAD, type ReceiveLimits } from "./settings.ts";

const CONNECTING = 0 as const;
const OPEN = 1 as const;
const CLOSING = 2 as const;
const CLOSED = 3 as const;

const BINARY_TYPES = ["nodebuffer", "arraybuffer", "fragments", "blob"];

/** Set by WebSocket's static block: completes a server's end (internal to `streamsock/ws`). */
let attach: (ws: WebSocket, conn: WebSocketConnection, limits: ReceiveLimits) => void;

/**
 * Completes the server's end of a connection with what the handshake
 * produced (used by `WebSocketServer`; not part of the public API).
 */
export function attachConnection(ws: WebSocket, conn: WebSocketConnection, limits: ReceiveLimits): void {
  attach(ws, conn, limits);
}

/** The names of negotiated extensions, as ws's `extensions` lists them. */
function extensionNames(header: string): string {
  if (header === "") return "";
  return [...new Set(header.split(",").map((offer) => offer.split(";")[0].trim()).filter((name) => name !== ""))]
    .join();
}

/**
 * The events of a {@link WebSocket}, with the arguments their listeners get.
 *
 * @example
 * ```ts
 * import type { WebSocketEvents } from "@streamsock/streamsock/ws";
 *
 * const onClose = (...[code, reason]: WebSocketEvents["close"]) => console.log(code, reason.toString());
 * ```
 */
export interface WebSocketEvents {
  /** The connection opened. */
  open: [];
  /** A message: a Buffer for text; binary data as `binaryType` says. */
  message: [data: RawData, isBinary: boolean];
  /** The connection closed: the peer's code and reason (1005, 1006 when there was none). */
  close: [code: number, reason: Buffer];
  /** The connection failed; `close` follows. */
  error: [error: Error];
  /** A ping arrived (it is answered unless `autoPong` is false). */
  ping: [data: Buffer];
  /** A pong arrived. */
  pong: [data: Buffer];
  /** The server's 101, before it is checked. */
  upgrade: [response: ResponseMessage];
  /** A redirect is about to be followed (`followRedirects`). */
  redirect: [url: string, request: HandshakeRequest];
  /** The server answered the upgrade with something other than 101. */
  "unexpected-response": [request: HandshakeRequest, response: ResponseMessage];
}

/** The typed forms of the EventEmitter methods (ws's events, as `@types/ws` declares them). */
export interface WebSocket {
  /**
   * Adds a listener for one of ws's events (see {@link WebSocketEvents}).
   *
   * @param event The event.
   * @param listener Gets the event's arguments.
   * @returns This socket.
   */
  on<K extends keyof WebSocketEvents>(event: K, listener: (this: WebSocket, ...args: WebSocketEvents[K]) => void): this;
  /**
   * Adds a listener for any event.
   *
   * @param event The event.
   * @param listener Gets the event's arguments.
   * @returns This socket.
   */
  on(
    event: string | symbol, // deno-lint-ignore no-explicit-any
    listener: (this: WebSocket, ...args: any[]) => void,
  ): this;
  /**
   * Adds a one-time listener for one of ws's events.
   *
   * @param event The event.
   * @param listener Gets the event's arguments.
   * @returns This socket.
   */
  once<K extends keyof WebSocketEvents>(
    event: K,
    listener: (this: WebSocket, ...args: WebSocketEvents[K]) => void,
  ): this;
  /**
   * Adds a one-time listener for any event.
   *
   * @param event The event.
   * @param listener Gets the event's arguments.
   * @returns This socket.
   */
  once(
    event: string | symbol, // deno-lint-ignore no-explicit-any
    listener: (this: WebSocket, ...args: any[]) => void,
  ): this;
  /**
   * Removes a listener of one of ws's events.
   *
   * @param event The event.
   * @param listener The listener.
   * @returns This socket.
   */
  off<K extends keyof WebSocketEvents>(
    event: K,
    listener: (this: WebSocket, ...args: WebSocketEvents[K]) => void,
  ): this;
  /**
   * Removes a listener of any event.
   *
   * @param event The event.
   * @param listener The listener.
   * @returns This socket.
   */
  off(
    event: string | symbol, // deno-lint-ignore no-explicit-any
    listener: (this: WebSocket, ...args: any[]) => void,
  ): this;
  /**
   * Adds a listener for one of ws's events.
   *
   * @param event The event.
   * @param listener Gets the event's arguments.
   * @returns This socket.
   */
  addListener<K extends keyof WebSocketEvents>(event: K, listener: (...args: WebSocketEvents[K]) => void): this;
  /**
   * Adds a listener for any event.
   *
   * @param event The event.
   * @param listener Gets the event's arguments.
   * @returns This socket.
   */
  addListener(
    event: string | symbol, // deno-lint-ignore no-explicit-any
    listener: (this: WebSocket, ...args: any[]) => void,
  ): this;
  /**
   * Removes a listener of one of ws's events.
   *
   * @param event The event.
   * @param listener The listener.
   * @returns This socket.
   */
  removeListener<K extends keyof WebSocketEvents>(event: K, listener: (...args: WebSocketEvents[K]) => void): this;
  /**
   * Removes a listener of any event.
   *
   * @param event The event.
   * @param listener The listener.
   * @returns This socket.
   */
  removeListener(
    event: string | symbol, // deno-lint-ignore no-explicit-any
    listener: (this: WebSocket, ...args: any[]) => void,
  ): this;
}

/**
 * ws 8's `WebSocket`: a client (`new WebSocket(url, protocols, options)`)
 * or the server's end of a connection (from `WebSocketServer`), as an
 * EventEmitter with ws's events (`open`, `message (data, isBinary)`,
 * `close (code, reason)`, `error`, `ping`, `pong`, `upgrade`,
 * `unexpected-response`, `redirect`) and the browser-style
 * `addEventListener` and `on…` attributes. It runs on Node, Deno and Bun.
 *
 * @example Echo once
 * ```ts ignore
 * import { WebSocket } from "@streamsock/streamsock/ws";
 *
 * const ws = new WebSocket("ws://127.0.0.1:8080/");
 * ws.on("open", () => ws.send("hello"));
 * ws.on("message", (data, isBinary) => {
 *   console.log(isBinary ? data : data.toString());
 *   ws.close();
 * });
 * ws.on("close", (code, reason) => console.log("closed", code, reason.toString()));
 * ```
 */
export class WebSocket extends EventEmitter implements WebSocketLike {
  /** The connection is being opened. */
  static readonly CONNECTING: 0 = CONNECTING;
  /** The connection is open. */
  static readonly OPEN: 1 = OPEN;
  /** The closing handshake is under way. */
  static readonly CLOSING: 2 = CLOSING;
  /** The connection is closed. */
  static readonly CLOSED: 3 = CLOSED;
  /** `WebSocket` itself, as `require("ws").WebSocket` is (set by the entry point). */
  declare static WebSocket: typeof WebSocket;
  /** The server class, as `require("ws").WebSocketServer` is (set by the entry point). */
  declare static WebSocketServer: typeof import("./server.ts").WebSocketServer;
  /** The server class under ws's older name (set by the entry point). */
  declare static Server: typeof import("./server.ts").WebSocketServer;
  /** ws's `createWebSocketStream` (set by the entry point). */
  declare static createWebSocketStream: typeof import("./stream.ts").createWebSocketStream;
  /** The connection is being opened. */
  readonly CONNECTING: 0 = CONNECTING;
  /** The connection is open. */
  readonly OPEN: 1 = OPEN;
  /** The closing handshake is under way. */
  readonly CLOSING: 2 = CLOSING;
  /** The connection is closed. */
  readonly CLOSED: 3 = CLOSED;

  #readyState: 0 | 1 | 2 | 3 = CONNECTING;
  #conn: WebSocketConnection | null = null;
  #binaryType: BinaryType | "blob" = "nodebuffer";
  #protocol = "";
  #extensions = "";
  #url: string | undefined;
  #paused = false;
  #wakeReader: (() => void) | null = null;
  #maxPayload = DEFAULT_MAX_PAYLOAD;
  #maxFragments = DEFAULT_MAX_FRAGMENTS;
  /** A message broke maxPayload or maxFragments: our close frame is sent, nothing more is delivered. */
  #overLimit = false;
  /** Bytes of sends refused because the connection was not open (ws counts them in bufferedAmount). */
  #refusedBytes = 0;
  /** The type of the message whose fragments `send(…, { fin: false })` is sending. */
  #fragmentType: "text" | "binary" | null = null;
  #closeFrame: { code: number; reason: Buffer } | null = null;
  #cleanly = false;
  #errorEmitted = false;
  #deflate = false;
  /** The client's opening in progress, to abandon it. */
  #opening: AbortController | null = null;

  /**
   * The server's end of a connection, which a `WebSocketServer` completes.
   *
   * @param address null.
   */
  constructor(address: null);
  /**
   * Opens a client connection (ws's `new WebSocket(address, options)`).
   *
   * @param address A `ws:`, `wss:`, `http:` or `https:` URL.
   * @param options ws's client options (`protocols` among them).
   * @throws {SyntaxError} For an invalid URL or subprotocol, as ws.
   * @throws {RangeError} For a `protocolVersion` other than 13.
   */
  constructor(address: string | URL, options?: ClientOptions | ClientRequestArgs);
  /**
   * Opens a client connection (ws's `new WebSocket(address, protocols,
   * options)`).
   *
   * @param address A `ws:`, `wss:`, `http:` or `https:` URL.
   * @param protocols Subprotocols to offer.
   * @param options ws's client options.
   * @throws {SyntaxError} For an invalid URL or subprotocol, as ws.
   * @throws {RangeError} For a `protocolVersion` other than 13.
   */
  constructor(address: string | URL, protocols?: string | string[], options?: ClientOptions | ClientRequestArgs);
  constructor(
    address: string | URL | null,
    protocols?: string | string[] | ClientOptions | ClientRequestArgs,
    options?: ClientOptions | ClientRequestArgs,
  ) {
    super();
    // The server's end: its WebSocketServer attaches the connection.
    if (address === null) return;
    let list: string[];
    let opts = options as ClientOptions | undefined;
    if (protocols === undefined || (typeof protocols === "object" && !Array.isArray(protocols))) {
      if (protocols !== undefined) opts = protocols as ClientOptions;
      const given = opts?.protocols;
      list = given === undefined ? [] : Array.isArray(given) ? given : [given];
    } else {
      list = Array.isArray(protocols) ? protocols : [protocols as string];
    }
    ({ maxPayload: this.#maxPayload, maxFragments: this.#maxFragments } = openClient(address, list, opts ?? {}, {
      emitter: this,
      connecting: () => this.#readyState === CONNECTING,
      setUrl: (href) => (this.#url = href),
      setOpening: (controller) => (this.#opening = controller),
      opened: (conn) => {
        this.#open(conn);
        void this.#read(conn);
      },
      failed: (err) => this.#emitErrorAndClose(err),
      abort: (message) => this.#abortHandshake(message),
    }));
  }

  // ------------------------------------------------------------- attributes

  /**
   * How binary messages are delivered: `"nodebuffer"` (a Buffer, the
   * default), `"arraybuffer"`, `"fragments"` (an array of the frames'
   * payloads) or `"blob"`; other values are ignored.
   */
  get binaryType(): BinaryType {
    return this.#binaryType as BinaryType;
  }

  set binaryType(type: BinaryType | "blob") {
    if (BINARY_TYPES.includes(type)) this.#binaryType = type;
  }

  /** Bytes queued for sending and not yet written. */
  get bufferedAmount(): number {
    return (this.#conn?.bufferedAmount ?? 0) + this.#refusedBytes;
  }

  /** The negotiated extensions' names (`"permessage-deflate"`), or `""`. */
  get extensions(): string {
    return this.#extensions;
  }

  /** Whether `pause()` stopped the delivery of messages. */
  get isPaused(): boolean {
    return this.#paused;
  }

  /** The negotiated subprotocol, or `""`. */
  get protocol(): string {
    return this.#protocol;
  }

  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): 0 | 1 | 2 | 3 {
    return this.#readyState;
  }

  /** The URL a client connected to (after redirects); undefined on the server's end. */
  get url(): string {
    return this.#url as string;
  }

  /** Whether both close frames were exchanged: `CloseEvent.wasClean`. */
  get closedCleanly(): boolean {
    return this.#cleanly;
  }

  /** The `open` handler, browser style. */
  get onopen(): WsEventHandler<WsEvent> | null {
    return attributeOf(this, "open") as WsEventHandler<WsEvent> | null;
  }
  set onopen(handler: WsEventHandler<WsEvent> | null) {
    setAttribute(this, "open", handler);
  }
  /** The `message` handler, browser style: it gets a `MessageEvent`. */
  get onmessage(): WsEventHandler<WsMessageEvent> | null {
    return attributeOf(this, "message") as WsEventHandler<WsMessageEvent> | null;
  }
  set onmessage(handler: WsEventHandler<WsMessageEvent> | null) {
    setAttribute(this, "message", handler);
  }
  /** The `close` handler, browser style: it gets a `CloseEvent`. */
  get onclose(): WsEventHandler<WsCloseEvent> | null {
    return attributeOf(this, "close") as WsEventHandler<WsCloseEvent> | null;
  }
  set onclose(handler: WsEventHandler<WsCloseEvent> | null) {
    setAttribute(this, "close", handler);
  }
  /** The `error` handler, browser style: it gets an `ErrorEvent`. */
  get onerror(): WsEventHandler<WsErrorEvent> | null {
    return attributeOf(this, "error") as WsEventHandler<WsErrorEvent> | null;
  }
  set onerror(handler: WsEventHandler<WsErrorEvent> | null) {
    setAttribute(this, "error", handler);
  }

  /**
   * Adds a browser-style listener for `open`, `message`, `close` or `error`
   * (other types are ignored, as in ws).
   *
   * @param type The event type.
   * @param listener A function or an object with `handleEvent`.
   * @param options `once: true` removes it after one call.
   */
  addEventListener<K extends keyof WsEventMap>(
    type: K,
    listener: ((event: WsEventMap[K]) => void) | { handleEvent(event: WsEventMap[K]): void },
    options?: { once?: boolean },
  ): void;
  /**
   * Any other type is ignored, as in ws.
   *
   * @param type The event type.
   * @param listener A function or an object with `handleEvent`.
   * @param options `once: true` removes it after one call.
   */
  addEventListener(type: string, listener: WsEventListener, options?: { once?: boolean }): void;
  addEventListener(type: string, listener: WsEventListener, options?: { once?: boolean }): void {
    addEventListener(this, type, listener, options);
  }

  /**
   * Removes a listener added with `addEventListener`.
   *
   * @param type The event type.
   * @param listener The listener.
   */
  removeEventListener<K extends keyof WsEventMap>(
    type: K,
    listener: ((event: WsEventMap[K]) => void) | { handleEvent(event: WsEventMap[K]): void },
  ): void;
  /**
   * Any other type: nothing to remove.
   *
   * @param type The event type.
   * @param listener The listener.
   */
  removeEventListener(type: string, listener: WsEventListener): void;
  removeEventListener(type: string, listener: WsEventListener): void {
    removeEventListener(this, type, listener);
  }

  // ---------------------------------------------------------------- sending

  /**
   * Sends a message: a string as text, binary data (Buffer, ArrayBuffer,
   * typed array, DataView, Blob) as binary unless `options.binary` says
   * otherwise. `fin: false` sends a fragment that the next sends continue.
   * `cb` is called once the data is handed to the socket, or with the error.
   *
   * @param data What to send.
   * @param options `binary`, `compress` (false: never compress this one), `fin`; `mask` is ignored (clients always mask).
   * @param cb Called when sent, with an error if it could not be.
   * @throws {Error} While the connection is still opening.
   */
  send(data: unknown, options?: SendOptions | ((err?: Error) => void), cb?: (err?: Error) => void): void {
    if (typeof options === "function") {
      cb = options;
      options = {};
    }
    if (this.#readyState === CONNECTING) throw notOpenError(CONNECTING);
    if (typeof data === "number") data = data.toString();
    if (this.#readyState !== OPEN) return this.#refuse(data, cb);
    const conn = this.#conn!;
    const binary = options?.binary ?? typeof data !== "string";
    const fin = options?.fin ?? true;
    const type = this.#fragmentType ?? (binary ? "binary" : "text");
    this.#fragmentType = fin ? null : type;
    const sendOptions = this.#deflate && options?.compress === false ? { compress: false } : undefined;
    let sent: Promise<void>;
    if (typeof Blob !== "undefined" && data instanceof Blob) {
      sent = data.arrayBuffer().then((buffer) =>
        conn.send(this.#message(new Uint8Array(buffer), type, fin), sendOptions)
      );
    } else {
      const msg = this.#message(data, type, fin);
      const size = typeof msg.data === "string" ? Buffer.byteLength(msg.data) : msg.data.length;
      // ws sends any size as one frame; past our frame limit (maxPayload) a whole message goes fragmented.
      sent = fin && size > conn.maxFrameSize ? conn.sendAll(msg, sendOptions) : conn.send(msg, sendOptions);
    }
    settle(sent, cb);
  }

  #message(data: unknown, type: "text" | "binary", fin: boolean): Message {
    if (type === "text") {
      return new Message(typeof data === "string" ? data : Buffer.from(bytesOf(data)).toString(), "text", !fin);
    }
    return new Message(bytesOf(data), "binary", !fin);
  }

  /** ws's answer to a send on a connection that is not open: counted in bufferedAmount, the callback told. */
  #refuse(data: unknown, cb: ((err?: Error) => void) | undefined): void {
    if (data) {
      this.#refusedBytes += typeof Blob !== "undefined" && data instanceof Blob ? data.size : bytesOf(data).length;
    }
    if (cb !== undefined) {
      const err = notOpenError(this.#readyState);
      nextTick(() => cb(err));
    }
  }

  #control(kind: "ping" | "pong", data: unknown, mask: unknown, cb: unknown): void {
    if (this.#readyState === CONNECTING) throw notOpenError(CONNECTING);
    if (typeof data === "function") {
      cb = data;
      data = undefined;
    } else if (typeof mask === "function") {
      cb = mask;
    }
    if (typeof data === "number") data = data.toString();
    const callback = cb as ((err?: Error) => void) | undefined;
    if (this.#readyState !== OPEN) return this.#refuse(data, callback);
    const bytes = bytesOf(data);
    if (bytes.length > 125) throw new RangeError("The data size must not be greater than 125 bytes");
    settle(kind === "ping" ? this.#conn!.ping(bytes) : this.#conn!.pong(bytes), callback);
  }

  /**
   * Sends a ping (at most 125 bytes).
   *
   * @param data The payload.
   * @param mask Ignored: clients always mask.
   * @param cb Called when sent, with an error if it could not be.
   * @throws {RangeError} For more than 125 bytes.
   */
  ping(data?: unknown, mask?: boolean, cb?: (err: Error) => void): void;
  /**
   * ws's shorter form: the callback second.
   *
   * @param data The payload.
   * @param cb Called when sent, with an error if it could not be.
   */
  ping(data: unknown, cb: (err: Error) => void): void;
  ping(data?: unknown, mask?: boolean | ((err: Error) => void), cb?: (err: Error) => void): void {
    this.#control("ping", data, mask, cb);
  }

  /**
   * Sends a pong (at most 125 bytes); pings are answered automatically.
   *
   * @param data The payload.
   * @param mask Ignored: clients always mask.
   * @param cb Called when sent, with an error if it could not be.
   * @throws {RangeError} For more than 125 bytes.
   */
  pong(data?: unknown, mask?: boolean, cb?: (err: Error) => void): void;
  /**
   * ws's shorter form: the callback second.
   *
   * @param data The payload.
   * @param cb Called when sent, with an error if it could not be.
   */
  pong(data: unknown, cb: (err: Error) => void): void;
  pong(data?: unknown, mask?: boolean | ((err: Error) => void), cb?: (err: Error) => void): void {
    this.#control("pong", data, mask, cb);
  }

  // ---------------------------------------------------------------- closing

  /**
   * Starts the closing handshake: a close frame with `code` and `reason`
   * (none without a code). While opening, it gives up the handshake.
   *
   * @param code 1000-1003, 1007-1014 or 3000-4999.
   * @param reason At most 123 bytes.
   * @throws {TypeError} For a code that may not be sent, as ws.
   * @throws {RangeError} For a reason over 123 bytes.
   */
  close(code?: number, reason?: string | Buffer): void {
    if (this.#readyState === CLOSED) return;
    if (this.#readyState === CONNECTING) {
      return this.#abortHandshake("WebSocket was closed before the connection was established");
    }
    if (this.#readyState === CLOSING) return;
    if (code !== undefined && (typeof code !== "number" || !validCloseCode(code))) {
      throw new TypeError("First argument must be a valid error code number");
    }
    const text = reason === undefined
      ? ""
      : typeof reason === "string"
      ? reason
      : Buffer.from(bytesOf(reason)).toString();
    if (Buffer.byteLength(text) > 123) throw new RangeError("The message must not be greater than 123 bytes");
    this.#readyState = CLOSING;
    const conn = this.#conn!;
    if (code === undefined) void conn.send(new Message("", "close")).catch(() => {});
    else void conn.close(code, text);
  }

  /** Closes the connection at once, without a closing handshake (while opening: gives up). */
  terminate(): void {
    if (this.#readyState === CLOSED) return;
    if (this.#readyState === CONNECTING) {
      return this.#abortHandshake("WebSocket was closed before the connection was established");
    }
    this.#readyState = CLOSING;
    void this.#conn?.terminate();
  }

  /** Stops delivering messages (and reading from the peer) until `resume()`. */
  pause(): void {
    if (this.#readyState === CONNECTING || this.#readyState === CLOSED) return;
    this.#paused = true;
  }

  /** Delivers messages again after `pause()`. */
  resume(): void {
    if (this.#readyState === CONNECTING || this.#readyState === CLOSED) return;
    this.#paused = false;
    const wake = this.#wakeReader;
    this.#wakeReader = null;
    wake?.();
  }

  // --------------------------------------------------------------- internals

  static {
    attach = (ws, conn, limits) => {
      ws.#maxPayload = limits.maxPayload || Number.MAX_SAFE_INTEGER;
      ws.#maxFragments = limits.maxFragments || Number.MAX_SAFE_INTEGER;
      ws.#open(conn);
    };
  }

  /** Starts delivering messages; the server calls it once its connection callback ran. */
  startReading(): void {
    if (this.#conn !== null) void this.#read(this.#conn);
  }

  #open(conn: WebSocketConnection): void {
    this.#conn = conn;
    this.#protocol = conn.protocol ?? "";
    this.#extensions = extensionNames(conn.extensions);
    this.#deflate = this.#extensions !== "";
    this.#readyState = OPEN;
    this.emit("open");
  }

  #firstUrl: string | undefined;

  /** ws's abortHandshake: CLOSING now, the error and close events in the next turn. */
  #abortHandshake(message: string): void {
    this.#readyState = CLOSING;
    this.#opening?.abort();
    this.#opening = null;
    const err = new Error(message);
    nextTick(() => this.#emitErrorAndClose(err));
  }

  #emitErrorAndClose(err: unknown): void {
    this.#readyState = CLOSING;
    this.#errorEmitted = true;
    emitSafely(this, "error", err);
    this.#readyState = CLOSED;
    emitSafely(this, "close", 1006, EMPTY);
  }

  /**
   * Delivers frames as ws's events until the connection ends, then `close`.
   * Messages are put together here, frame by frame as ws's receiver does,
   * so that a ping between the fragments of a message is emitted when it
   * arrives, `binaryType: "fragments"` gets the frames' payloads, and
   * maxPayload and maxFragments apply as in ws.
   */
  async #read(conn: WebSocketConnection): Promise<void> {
    let closed = false;
    const ended = conn.closed.then(() => (closed = true));
    let parts: Buffer[] = [];
    let size = 0;
    let frames = 0;
    let binary = false;
    for (;;) {
      let frame: Message;
      try {
        frame = await conn.recv();
      } catch (err) {
        if (!(err instanceof ConnectionClosedError)) this.#failed(err);
        break;
      }
      // Past a broken limit ws reads nothing more; the frames are drained until the connection ends.
      if (this.#overLimit) continue;
      // Paused while this frame was on its way: it waits for resume() too.
      while (this.#paused && !closed) {
        await Promise.race([new Promise<void>((resolve) => (this.#wakeReader = resolve)), ended]);
        this.#wakeReader = null;
      }
      const type = frame.type;
      if (type !== "text" && type !== "binary") {
        this.#deliver(frame);
        continue;
      }
      if (frames === 0) binary = type === "binary";
      const bytes = frame.type === "text" ? Buffer.from(frame.data) : bufferOf(frame.data);
      size += bytes.length;
      if (size > this.#maxPayload) {
        this.#limitBroken(conn, 1009, "Max payload size exceeded", "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH");
        continue;
      }
      if (++frames > this.#maxFragments) {
        this.#limitBroken(conn, 1008, "Too many message fragments", "WS_ERR_TOO_MANY_BUFFERED_PARTS");
        continue;
      }
      // As ws: empty frames add nothing, not even to "fragments".
      if (bytes.length > 0) parts.push(bytes);
      if (frame.partial) continue;
      const data = binary ? this.#binary(parts, size) : concat(parts, size);
      parts = [];
      size = 0;
      frames = 0;
      emitSafely(this, "message", data, binary);
    }
    this.#closed(await conn.closed);
  }

  /**
   * ws's answer to a message over maxPayload or with too many frames: a
   * close frame with the code alone, the error, no more events but
   * `close` (1006, as ws stops reading).
   */
  #limitBroken(conn: WebSocketConnection, code: number, message: string, errorCode: string): void {
    this.#overLimit = true;
    if (this.#readyState === OPEN) this.#readyState = CLOSING;
    void conn.close(code);
    if (this.#errorEmitted) return;
    this.#errorEmitted = true;
    const err = new RangeError(message);
    Object.defineProperty(err, "code", { value: errorCode, writable: true, configurable: true, enumerable: true });
    emitSafely(this, "error", err);
  }

  #deliver(msg: Message): void {
    switch (msg.type) {
      case "ping":
        return emitSafely(this, "ping", bufferOf(msg.data));
      case "pong":
        return emitSafely(this, "pong", bufferOf(msg.data));
      case "close":
        this.#closeFrame = { code: msg.code ?? 1005, reason: Buffer.from(msg.data) };
        if (this.#readyState === OPEN) this.#readyState = CLOSING;
        return;
    }
  }

  /** A binary message's frames as `binaryType` asks. */
  #binary(parts: Buffer[], size: number): RawData | Blob {
    switch (this.#binaryType) {
      case "arraybuffer": {
        const bytes = concat(parts, size);
        return bytes.buffer.byteLength === bytes.byteLength && bytes.byteOffset === 0
          ? bytes.buffer as ArrayBuffer
          : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      }
      case "fragments":
        return parts;
      case "blob":
        return new Blob(parts as Uint8Array<ArrayBuffer>[]);
      default:
        return concat(parts, size);
    }
  }

  /** The peer broke the protocol (or sent too much): ws's error, once. */
  #failed(err: unknown): void {
    if (this.#readyState === OPEN) this.#readyState = CLOSING;
    if (this.#errorEmitted) return;
    this.#errorEmitted = true;
    emitSafely(this, "error", receiveErrorOf(err));
  }

  #closed(info: CloseInfo): void {
    const frame = this.#closeFrame;
    let code = 1006;
    let reason: Buffer = EMPTY;
    if (frame !== null) ({ code, reason } = frame);
    else if (info.error === undefined && !this.#overLimit) {
      code = info.code;
      reason = info.reason === "" ? EMPTY : Buffer.from(info.reason);
    }
    this.#cleanly = info.wasClean;
    this.#readyState = CLOSED;
    emitSafely(this, "close", code, reason);
  }
}

/**
 * The types `@types/ws` declares on `WebSocket` (`WebSocket.RawData`,
 * `WebSocket.ServerOptions`, `WebSocket.MessageEvent` …), so that code
 * written as `import WebSocket from "ws"` keeps its annotations.
 *
 * @example
 * ```ts
 * import WebSocket from "@streamsock/streamsock/ws";
 *
 * function size(data: WebSocket.RawData): number {
 *   return Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
 * }
 * ```
 */
// deno-lint-ignore no-namespace
export namespace WebSocket {
  /** A message's data as `message` listeners get it. */
  export type RawData = import("./options.ts").RawData;
  /** A message's data as `onmessage` handlers get it: text as a string. */
  export type Data = import("./options.ts").Data;
  /** Certificate and key data. */
  export type CertMeta = import("./options.ts").CertMeta;
  /** Options of a client. */
  export type ClientOptions = import("./options.ts").ClientOptions;
  /** Options of a server. */
  export type ServerOptions = import("./server.ts").ServerOptions;
  /** permessage-deflate's options. */
  export type PerMessageDeflateOptions = import("./options.ts").PerMessageDeflateOptions;
  /** `verifyClient` with one argument. */
  export type VerifyClientCallbackSync = import("./options.ts").VerifyClientCallbackSync;
  /** `verifyClient` with a callback. */
  export type VerifyClientCallbackAsync = import("./options.ts").VerifyClientCallbackAsync;
  /** The `open` event of `addEventListener`. */
  export type Event = WsEvent;
  /** The `message` event of `addEventListener`. */
  export type MessageEvent = WsMessageEvent;
  /** The `close` event of `addEventListener`. */
  export type CloseEvent = WsCloseEvent;
  /** The `error` event of `addEventListener`. */
  export type ErrorEvent = WsErrorEvent;
  /** The events of `addEventListener`, by type. */
  export type WebSocketEventMap = WsEventMap;
  /** The options of `addEventListener`. */
  export type EventListenerOptions = import("./options.ts").EventListenerOptions;
  /** What `WebSocketServer#address()` returns for a TCP listener. */
  export type AddressInfo = import("./options.ts").AddressInfo;
  /** A client or server socket. */
  export type WebSocket = import("./websocket.ts").WebSocket;
  /** A server. */
  export type WebSocketServer = import("./server.ts").WebSocketServer;
  /** A server, under ws's older name. */
  export type Server = import("./server.ts").WebSocketServer;
}

function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999);
}

function settle(sent: Promise<void>, cb: ((err?: Error) => void) | undefined): void {
  if (cb === undefined) {
    sent.catch(() => {});
    return;
  }
  sent.then(() => cb(), (err) => cb(err instanceof Error ? err : new Error(String(err))));
}
