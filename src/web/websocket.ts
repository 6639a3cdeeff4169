/**
 * The WHATWG WebSockets Standard's `WebSocket`, as a thin layer over
 * streamsock's `connect` and `WebSocketConnection`: the standard's
 * constructor checks, exceptions, `readyState`, `bufferedAmount` and
 * `binaryType`, and its events dispatched as tasks in the standard's order.
 *
 * @module
 */

import { connect } from "../client/connect.ts";
import type { ConnectOptions } from "../client/options.ts";
import type { CloseInfo } from "../protocol/types.ts";
import type { WebSocketConnection } from "../connection/connection.ts";
import { ConnectionClosedError } from "../errors.ts";
import { Message } from "../message.ts";
import { queueTask } from "../transport/runtime.ts";
import { CloseEvent, ErrorEvent, MessageEvent } from "./events.ts";
import {
  checkProtocols,
  clampUnsignedShort,
  copyBufferSource,
  domException,
  exactArrayBuffer,
  toStringSequence,
  toUSVString,
  utf8Length,
  validateCloseCodeAndReason,
  webSocketUrlRecord,
} from "./idl.ts";
import { connectOptionsOf, eitherSignal, noProtocolChosen, type WebSocketOptions } from "./options.ts";

/**
 * How a `WebSocket` hands binary messages to `message` listeners: as a
 * `Blob` (the default) or an `ArrayBuffer`.
 *
 * @example
 * ```ts
 * import type { BinaryType } from "@streamsock/streamsock/web";
 *
 * const type: BinaryType = "arraybuffer";
 * ```
 */
export type BinaryType = "blob" | "arraybuffer";

/**
 * The events a `WebSocket` dispatches, by name, for typed
 * `addEventListener` calls.
 *
 * @example
 * ```ts
 * import type { WebSocketEventMap } from "@streamsock/streamsock/web";
 *
 * const onClose = (event: WebSocketEventMap["close"]) => console.log(event.code, event.wasClean);
 * ```
 */
export interface WebSocketEventMap {
  /** The connection is open. */
  open: Event;
  /** A message arrived. */
  message: MessageEvent;
  /** The connection failed; `close` follows. */
  error: ErrorEvent;
  /** The connection is closed. */
  close: CloseEvent;
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** An event handler attribute: the callback, and the listener registered for it. */
interface HandlerSlot {
  callback: (event: Event) => unknown;
  listener: (event: Event) => void;
}

/** What the second constructor argument holds, converted. */
function protocolsAndOptions(value: unknown): { protocols: string[]; options: Omit<ConnectOptions, "protocol"> } {
  if (value === undefined) return { protocols: [], options: {} };
  if (typeof value === "object" && value !== null && typeof (value as Iterable<unknown>)[Symbol.iterator] !== "function") {
    // streamsock's extension: an options object, as Deno, Bun and undici take.
    const { protocols, ...options } = value as WebSocketOptions;
    return { protocols: protocols === undefined ? [] : protocolList(protocols), options };
  }
  return { protocols: protocolList(value), options: {} };
}

/** WebIDL `(DOMString or sequence<DOMString>)`. */
function protocolList(value: unknown): string[] {
  if (typeof value === "object" && value !== null) return toStringSequence(value, "protocols", false);
  if (typeof value === "symbol") throw new TypeError("protocols must be a string or a sequence of strings.");
  return [String(value)];
}

/**
 * The WHATWG WebSockets Standard's `WebSocket`, on streamsock's own
 * connection: the code written for browsers, Deno, Bun or Node 22's global
 * `WebSocket` runs unchanged on Deno, Bun and every Node from 20, and gets
 * what no built-in client has on all three: proxies (and the proxy
 * environment variables), permessage-deflate, HTTP/2 (RFC 8441), custom
 * headers, TLS options, keepalive and streamsock's limits, through an
 * options object as the second argument.
 *
 * It follows the standard: a `SyntaxError` for a bad URL (only `ws:`,
 * `wss:`, and `http:`/`https:` mapped to them; no fragment) or bad or
 * repeated subprotocols, `InvalidStateError` for `send` while CONNECTING,
 * `InvalidAccessError` / `SyntaxError` for a bad close code or reason;
 * `open`, `message`, `error` and `close` dispatched each as a task of its
 * own, never inside the constructor, `send` or `close`; a connection that
 * fails (it could not be opened, or broke the protocol) reports `error`,
 * then `close` with 1006; one that is lost reports `close` with 1006. An
 * open socket keeps the process alive; a closed one does not.
 *
 * @example Echo, as a browser page would write it
 * ```ts ignore
 * import { WebSocket } from "@streamsock/streamsock/web";
 *
 * const ws = new WebSocket("ws://127.0.0.1:8080/echo");
 * ws.binaryType = "arraybuffer";
 * ws.onopen = () => ws.send("hello");
 * ws.onmessage = (event) => {
 *   console.log(event.data); // hello
 *   ws.close(1000, "done");
 * };
 * ws.onclose = (event) => console.log(event.code, event.reason, event.wasClean);
 * ```
 *
 * @example streamsock's options as the second argument
 * ```ts ignore
 * import { WebSocket } from "@streamsock/streamsock/web";
 *
 * const ws = new WebSocket("wss://api.example/feed", {
 *   protocols: ["feed.v2"],
 *   headers: { Authorization: "Bearer abc" },
 *   proxy: "http://proxy.corp:3128",
 *   http2: "auto",
 * });
 * ws.addEventListener("error", (event) => console.error(event.error)); // the HandshakeError, ProxyError ...
 * ```
 */
export class WebSocket extends EventTarget {
  /** {@link WebSocket.readyState}: the opening handshake is in progress. */
  static readonly CONNECTING: 0 = CONNECTING;
  /** {@link WebSocket.readyState}: open, messages flow both ways. */
  static readonly OPEN: 1 = OPEN;
  /** {@link WebSocket.readyState}: the closing handshake has started. */
  static readonly CLOSING: 2 = CLOSING;
  /** {@link WebSocket.readyState}: closed, or could not be opened. */
  static readonly CLOSED: 3 = CLOSED;

  /** {@link WebSocket.readyState}: the opening handshake is in progress. */
  declare readonly CONNECTING: 0;
  /** {@link WebSocket.readyState}: open, messages flow both ways. */
  declare readonly OPEN: 1;
  /** {@link WebSocket.readyState}: the closing handshake has started. */
  declare readonly CLOSING: 2;
  /** {@link WebSocket.readyState}: closed, or could not be opened. */
  declare readonly CLOSED: 3;

  readonly #url: string;
  readonly #origin: string;
  readonly #protocols: string[];
  #readyState: 0 | 1 | 2 | 3 = CONNECTING;
  #protocol = "";
  #extensions = "";
  #binaryType: BinaryType = "blob";
  #connection: WebSocketConnection | null = null;
  readonly #opening = new AbortController();
  #handlers: Map<string, HandlerSlot> | null = null;
  // bufferedAmount: bytes of sends the connection has not taken yet, bytes it
  // took that may still wait in its queue, and bytes that will never be sent.
  #unsent = 0;
  #taken = 0;
  #neverSent = 0;
  // The least bufferedAmount may report until the current task ends: the
  // standard's value is "as of the last time the event loop reached step 1",
  // plus what was sent since, so it never falls within a task.
  #floor = 0;
  #floorHeld = false;

  /**
   * Creates a WebSocket and starts connecting, as the standard's constructor
   * does; the outcome arrives as `open`, or as `error` and `close`.
   *
   * @param url A `ws:` or `wss:` URL (`http:` and `https:` are mapped to them).
   * @param protocols Subprotocols to offer: a string or a list; or an
   * options object with `protocols` and streamsock's `connect` options
   * (see {@link WebSocketOptions}).
   * @throws {DOMException} `SyntaxError` for a URL or subprotocol the standard refuses.
   * @throws {TypeError} Without a URL.
   */
  constructor(url: string | URL, protocols?: string | readonly string[] | WebSocketOptions) {
    super();
    if (arguments.length === 0) throw new TypeError("Failed to construct 'WebSocket': 1 argument required.");
    const record = webSocketUrlRecord(url);
    const given = protocolsAndOptions(protocols);
    this.#protocols = checkProtocols(given.protocols);
    this.#url = record.href;
    this.#origin = record.origin;
    void this.#connect(given.options);
  }

  static {
    for (const [name, value] of [["CONNECTING", 0], ["OPEN", 1], ["CLOSING", 2], ["CLOSED", 3]] as const) {
      // WebIDL constants: read-only on the interface and on its prototype.
      const constant = { value, enumerable: true, writable: false, configurable: false };
      Object.defineProperty(WebSocket, name, constant);
      Object.defineProperty(WebSocket.prototype, name, constant);
    }
  }

  /** The URL, as the constructor parsed it (`http:` shown as `ws:`). */
  get url(): string {
    return this.#url;
  }

  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): 0 | 1 | 2 | 3 {
    return this.#readyState;
  }

  /**
   * Bytes of application data (text as UTF-8) passed to `send` and not yet
   * handed to the network, as the standard counts them: the value as of the
   * start of the current task plus what was sent since, so it never falls
   * within a task (promise callbacks included). After the connection closed
   * it only grows with each `send`.
   */
  get bufferedAmount(): number {
    return this.#holdFloor(this.#liveBufferedAmount());
  }

  #liveBufferedAmount(): number {
    const connection = this.#connection;
    let waiting = 0;
    if (connection !== null && this.#taken > 0) {
      // What the connection took leaves its queue in order: once the queue is
      // empty, everything taken so far was handed to the network.
      const queued = connection.bufferedAmount;
      if (queued === 0) this.#taken = 0;
      else waiting = Math.min(this.#taken, queued);
    }
    return this.#unsent + waiting + this.#neverSent;
  }

  /**
   * What bufferedAmount reports: `live`, but never less than it reported or
   * was raised to by a send earlier in the same task (microtasks included);
   * a task queued behind the current one lets it fall.
   */
  #holdFloor(live: number): number {
    if (live <= this.#floor) return this.#floor;
    this.#floor = live;
    if (!this.#floorHeld) {
      this.#floorHeld = true;
      queueTask(() => {
        this.#floorHeld = false;
        this.#floor = 0;
      });
    }
    return live;
  }

  /** The extensions the server accepted ("" until open, or when none). */
  get extensions(): string {
    return this.#extensions;
  }

  /** The subprotocol the server chose ("" until open, or when none). */
  get protocol(): string {
    return this.#protocol;
  }

  /** How binary messages reach `message` listeners: "blob" (the default) or "arraybuffer"; other values are ignored. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(value: BinaryType) {
    // WebIDL enumeration: converted to a string (a Symbol cannot be), then any other value is ignored.
    if (typeof value === "symbol") throw new TypeError("binaryType cannot be a Symbol.");
    const type = String(value);
    if (type === "blob" || type === "arraybuffer") this.#binaryType = type;
  }

  /** The `open` event handler. */
  get onopen(): ((this: WebSocket, event: Event) => unknown) | null {
    return this.#handler("open");
  }

  set onopen(handler: ((this: WebSocket, event: Event) => unknown) | null) {
    this.#setHandler("open", handler);
  }

  /** The `message` event handler. */
  get onmessage(): ((this: WebSocket, event: MessageEvent) => unknown) | null {
    return this.#handler("message");
  }

  set onmessage(handler: ((this: WebSocket, event: MessageEvent) => unknown) | null) {
    this.#setHandler("message", handler);
  }

  /** The `error` event handler. */
  get onerror(): ((this: WebSocket, event: ErrorEvent) => unknown) | null {
    return this.#handler("error");
  }

  set onerror(handler: ((this: WebSocket, event: ErrorEvent) => unknown) | null) {
    this.#setHandler("error", handler);
  }

  /** The `close` event handler. */
  get onclose(): ((this: WebSocket, event: CloseEvent) => unknown) | null {
    return this.#handler("close");
  }

  set onclose(handler: ((this: WebSocket, event: CloseEvent) => unknown) | null) {
    this.#setHandler("close", handler);
  }

  /**
   * Adds a listener for `open`, `message`, `error` or `close` (EventTarget's method, typed per event).
   *
   * @param type The event's name.
   * @param listener The function or `{ handleEvent }` object to call.
   * @param options `once`, `signal`, `capture` or `passive`.
   */
  override addEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: ((this: WebSocket, event: WebSocketEventMap[K]) => unknown) | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Adds a listener for any event type.
   *
   * @param type The event's name.
   * @param listener The function or `{ handleEvent }` object to call.
   * @param options `once`, `signal`, `capture` or `passive`.
   */
  override addEventListener(
    type: string,
    listener: EventListener | EventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(type: string, listener: unknown, options?: boolean | AddEventListenerOptions): void {
    super.addEventListener(type, listener as EventListener, options);
  }

  /**
   * Removes a listener added with {@link WebSocket.addEventListener}.
   *
   * @param type The event's name.
   * @param listener The listener to remove.
   * @param options `capture`, as it was added.
   */
  override removeEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: ((this: WebSocket, event: WebSocketEventMap[K]) => unknown) | null,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Removes a listener of any event type.
   *
   * @param type The event's name.
   * @param listener The listener to remove.
   * @param options `capture`, as it was added.
   */
  override removeEventListener(
    type: string,
    listener: EventListener | EventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(type: string, listener: unknown, options?: boolean | EventListenerOptions): void {
    super.removeEventListener(type, listener as EventListener, options);
  }

  /**
   * Sends a message: a string as text, an `ArrayBuffer`, any
   * `ArrayBufferView` or a `Blob` as binary (anything else is sent as its
   * string). It never waits: `bufferedAmount` tells how much is still
   * queued. After the closing handshake started it sends nothing and only
   * adds to `bufferedAmount`, as the standard says.
   *
   * @param data What to send.
   * @throws {DOMException} `InvalidStateError` while CONNECTING.
   * @throws {TypeError} Without an argument, for a Symbol, or for a shared or resizable buffer.
   *
   * @example
   * ```ts ignore
   * import { WebSocket } from "@streamsock/streamsock/web";
   *
   * const ws = new WebSocket("ws://127.0.0.1:8080/");
   * ws.onopen = () => {
   *   ws.send("text");
   *   ws.send(new Uint8Array([1, 2, 3]));
   *   ws.send(new Blob(["binary"]));
   * };
   * ```
   */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (arguments.length === 0) throw new TypeError("Failed to execute 'send' on 'WebSocket': 1 argument required.");
    // WebIDL converts the argument before the method's steps: its TypeErrors come before InvalidStateError.
    let message: string | Uint8Array | Blob;
    let size: number;
    if (typeof data === "string") {
      message = data;
      size = utf8Length(data);
    } else if (data instanceof Blob) {
      message = data;
      size = data.size;
    } else {
      const bytes = copyBufferSource(data);
      if (bytes === null) {
        message = toUSVString(data);
        size = utf8Length(message);
      } else {
        message = bytes;
        size = bytes.byteLength;
      }
    }
    if (this.#readyState === CONNECTING) {
      throw domException("Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.", "InvalidStateError");
    }
    const connection = this.#connection;
    // Sent only while the connection is established and no close frame went
    // either way (the standard's "closing handshake has not yet started").
    if (this.#readyState !== OPEN || connection === null || connection.readyState !== OPEN) {
      this.#neverSent += size;
      this.#holdFloor(this.#liveBufferedAmount());
      return;
    }
    this.#unsent += size;
    this.#holdFloor(this.#liveBufferedAmount());
    const sending = size > connection.maxFrameSize ? connection.sendAll(message) : connection.send(message);
    sending.then(() => {
      this.#unsent -= size;
      this.#taken += size;
    }, () => {
      // The connection closed first: these bytes were never transmitted.
      this.#unsent -= size;
      this.#neverSent += size;
    });
  }

  /**
   * Starts the closing handshake (or, while CONNECTING, abandons the
   * connection: `error`, then `close` with 1006). Without a code and
   * reason the close frame has no body; a reason without a code means 1000.
   *
   * @param code 1000, or 3000-4999.
   * @param reason At most 123 bytes of UTF-8.
   * @throws {DOMException} `InvalidAccessError` for another code, `SyntaxError` for a longer reason.
   *
   * @example
   * ```ts ignore
   * import { WebSocket } from "@streamsock/streamsock/web";
   *
   * const ws = new WebSocket("ws://127.0.0.1:8080/");
   * ws.onopen = () => ws.close(4000, "done");
   * ws.onclose = (event) => console.log(event.code); // the server's answer: 4000
   * ```
   */
  close(code?: number, reason?: string): void {
    const closeCode = code === undefined ? null : clampUnsignedShort(code);
    const closeReason = reason === undefined ? null : toUSVString(reason);
    validateCloseCodeAndReason(closeCode, closeReason);
    if (this.#readyState === CLOSING || this.#readyState === CLOSED) return;
    this.#readyState = CLOSING;
    const connection = this.#connection;
    if (connection === null) {
      // Not established: fail the connection (error, then close with 1006).
      this.#opening.abort(domException("WebSocket was closed before the connection was established.", "AbortError"));
      return;
    }
    const sending = closeCode === null && (closeReason === null || closeReason === "")
      ? connection.send(new Message("", "close"))
      : connection.close(closeCode ?? 1000, closeReason ?? "");
    sending.catch(() => {});
  }

  /** "WebSocket", for `Object.prototype.toString`. */
  get [Symbol.toStringTag](): string {
    return "WebSocket";
  }

  // ------------------------------------------------------------ connecting

  async #connect(options: Omit<ConnectOptions, "protocol">): Promise<void> {
    let connection: WebSocketConnection;
    try {
      connection = await connect(
        this.#url,
        connectOptionsOf(options, this.#protocols, eitherSignal(this.#opening.signal, options.signal)),
      );
    } catch (err) {
      this.#failOpening(err);
      return;
    }
    if (this.#readyState !== CONNECTING) {
      // close() came while the handshake finished: the connection is failed.
      void connection.terminate();
      this.#failOpening(this.#opening.signal.reason);
      return;
    }
    const unacknowledged = noProtocolChosen(this.#protocols, connection.protocol);
    if (unacknowledged !== null) {
      // The standard fails a connection whose server chose none of the offered subprotocols.
      void connection.terminate();
      this.#failOpening(unacknowledged);
      return;
    }
    this.#connection = connection;
    queueTask(() => this.#opened(connection));
  }

  #failOpening(cause: unknown): void {
    queueTask(() => {
      this.#readyState = CLOSED;
      const message = cause instanceof Error || cause instanceof DOMException ? cause.message : String(cause);
      this.dispatchEvent(
        new ErrorEvent("error", { message: `WebSocket connection to '${this.#url}' failed: ${message}`, error: cause }),
      );
      this.dispatchEvent(new CloseEvent("close", { code: 1006, reason: "", wasClean: false }));
    });
  }

  #opened(connection: WebSocketConnection): void {
    if (this.#readyState === CONNECTING) {
      this.#readyState = OPEN;
      this.#protocol = connection.protocol ?? "";
      this.#extensions = connection.extensions;
      this.dispatchEvent(new Event("open"));
    }
    void this.#receive(connection);
  }

  // ------------------------------------------------------------- receiving

  /**
   * Each message becomes a `message` task; the next message is taken from
   * the connection once that task ran, so a flood waits in the connection's
   * bounded inbox (and TCP), not in a queue of tasks.
   */
  async #receive(connection: WebSocketConnection): Promise<void> {
    const messages = connection[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await messages.next();
        if (next.done === true) {
          // The server's close frame arrived (or its answer to ours).
          queueTask(() => {
            if (this.#readyState === OPEN) this.#readyState = CLOSING;
          });
          break;
        }
        await new Promise<void>((resolve) =>
          queueTask(() => {
            try {
              this.#deliver(next.value);
            } finally {
              resolve();
            }
          })
        );
      }
    } catch {
      // The connection failed; `closed` says how.
    }
    const info = await connection.closed;
    queueTask(() => this.#closed(info));
  }

  #deliver(message: Message): void {
    // Messages that arrive after close() was called are not delivered.
    if (this.#readyState !== OPEN) return;
    let data: string | Blob | ArrayBuffer;
    if (typeof message.data === "string") data = message.data;
    else if (this.#binaryType === "blob") data = new Blob([message.data as Uint8Array<ArrayBuffer>]);
    else data = exactArrayBuffer(message.data);
    this.dispatchEvent(new MessageEvent("message", { data, origin: this.#origin }));
  }

  #closed(info: CloseInfo): void {
    this.#readyState = CLOSED;
    // A connection we failed (1002, 1007, 1009, a keepalive timeout ...) or
    // that was lost: the close code is 1006, as no close frame was processed
    // (RFC 6455 §7.1.5, §7.1.7).
    const code = info.error === undefined ? info.code : 1006;
    const reason = info.error === undefined ? info.reason : "";
    // `error` when the connection was failed ("fail the WebSocket connection":
    // a protocol error, a keepalive timeout, flagged as full), not when the
    // transport was merely lost or a close frame went unanswered: Chromium
    // draws the line there too.
    const cause = info.error;
    if (cause !== undefined && !(cause instanceof ConnectionClosedError && cause.closeCode === 1006)) {
      this.dispatchEvent(new ErrorEvent("error", { message: cause.message, error: cause }));
    }
    this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean: info.wasClean }));
  }

  // ----------------------------------------------------- event handler IDL

  #handler<T>(type: string): T | null {
    return (this.#handlers?.get(type)?.callback ?? null) as T | null;
  }

  /**
   * An event handler attribute, as HTML defines them: one listener,
   * registered when first set, keeps its place when the handler changes,
   * and goes when it is set to null or to anything that is not an object.
   */
  #setHandler(type: string, value: unknown): void {
    const handlers = this.#handlers ??= new Map();
    const slot = handlers.get(type);
    // [LegacyTreatNonObjectAsNull]: any object is kept (and, not callable, never called), anything else means null.
    if (typeof value !== "function" && (typeof value !== "object" || value === null)) {
      if (slot !== undefined) {
        this.removeEventListener(type, slot.listener);
        handlers.delete(type);
      }
      return;
    }
    if (slot !== undefined) {
      slot.callback = value as HandlerSlot["callback"];
      return;
    }
    const created: HandlerSlot = {
      callback: value as HandlerSlot["callback"],
      listener: (event) => {
        const callback = created.callback;
        // WebIDL: a non-callable object in a [LegacyTreatNonObjectAsNull] attribute is not called, and nothing is thrown.
        if (typeof callback !== "function") return;
        if (callback.call(this, event) === false) event.preventDefault();
      },
    };
    handlers.set(type, created);
    this.addEventListener(type, created.listener as EventListener);
  }
}
