/**
 * `WebSocketStream`, the streams-based WebSocket API that Chromium ships
 * (the WebSockets Standard's pending `WebSocketStream` interface): messages
 * as a ReadableStream and a WritableStream with backpressure both ways, as
 * a thin layer over `connect` and `WebSocketConnection`.
 *
 * @module
 */

import { connect } from "../client/connect.ts";
import type { ConnectOptions } from "../client/options.ts";
import type { CloseInfo } from "../protocol/types.ts";
import type { WebSocketConnection } from "../connection/connection.ts";
import { Message } from "../message.ts";
import {
  checkProtocols,
  copyBufferSource,
  domException,
  enforceUnsignedShort,
  exactUint8Array,
  toStringSequence,
  toUSVString,
  validateCloseCodeAndReason,
  webSocketUrlRecord,
} from "./idl.ts";
import { connectOptionsOf, eitherSignal, noProtocolChosen, type WebSocketStreamOptions } from "./options.ts";
import { closedWebSocketError, type WebSocketCloseInfo, WebSocketError } from "./websocket_error.ts";

/**
 * What `WebSocketStream.opened` resolves with: the streams of messages and
 * what the server agreed to.
 *
 * @example
 * ```ts ignore
 * import { type WebSocketOpenInfo, WebSocketStream } from "@streamsock/streamsock/web";
 *
 * const info: WebSocketOpenInfo = await new WebSocketStream("ws://127.0.0.1:8080/").opened;
 * console.log(info.protocol, info.extensions);
 * ```
 */
export interface WebSocketOpenInfo {
  /** Each message as one chunk: a string for text, a Uint8Array for binary. */
  readable: ReadableStream<string | Uint8Array>;
  /** Each chunk written is sent as one message: a string as text, a BufferSource as binary. */
  writable: WritableStream<string | BufferSource>;
  /** The extensions the server accepted, or "". */
  extensions: string;
  /** The subprotocol the server chose, or "". */
  protocol: string;
}

/**
 * A `BufferSource` of WebIDL: an ArrayBuffer or a view of one.
 *
 * @example
 * ```ts
 * import type { BufferSource } from "@streamsock/streamsock/web";
 *
 * const chunk: BufferSource = new Uint8Array([1, 2, 3]);
 * ```
 */
export type BufferSource = ArrayBuffer | ArrayBufferView;

type ReadyState = 0 | 1 | 2 | 3;

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** A promise and its settling functions; marked handled, so nobody has to listen (an unheard rejection must not end the process). */
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** The streams' chunk for a message: a string, or a Uint8Array of exactly its bytes. */
function chunkOf(message: Message): string | Uint8Array {
  return typeof message.data === "string" ? message.data : exactUint8Array(message.data);
}

/**
 * The streams-based WebSocket (Chromium's `WebSocketStream`, the
 * WebSockets Standard's pending interface), on streamsock's connection:
 * `opened` resolves with a `readable` of messages (strings and
 * `Uint8Array`s) and a `writable` that sends each chunk as a message;
 * `closed` resolves with `{ closeCode, reason }` after a clean close and
 * rejects with a {@link WebSocketError} otherwise. Backpressure works both
 * ways: a reader that does not read stops streamsock reading the socket (TCP
 * then slows the server), and `writer.ready` waits while the socket cannot
 * take more.
 *
 * The second argument takes the standard's `protocols` and `signal`, and
 * streamsock's `connect` options as extensions, as for `WebSocket`.
 *
 * @example Read and write messages
 * ```ts ignore
 * import { WebSocketStream } from "@streamsock/streamsock/web";
 *
 * const wss = new WebSocketStream("ws://127.0.0.1:8080/echo", { protocols: ["chat"] });
 * const { readable, writable } = await wss.opened;
 * const writer = writable.getWriter();
 * await writer.write("hello");
 * for await (const message of readable) {
 *   console.log(message); // hello
 *   break; // cancelling the readable closes the connection
 * }
 * console.log(await wss.closed); // { closeCode: 1005, reason: "" }
 * ```
 */
export class WebSocketStream {
  readonly #url: string;
  readonly #protocols: string[];
  readonly #opened = deferred<WebSocketOpenInfo>();
  readonly #closed = deferred<WebSocketCloseInfo>();
  readonly #opening = new AbortController();
  #readyState: ReadyState = 0;
  #wasEverConnected = false;
  #handshakeAborted = false;
  #connection: WebSocketConnection | null = null;
  #readableController: ReadableStreamDefaultController<string | Uint8Array> | null = null;
  #writableController: WritableStreamDefaultController | null = null;
  /** Settles once the closed handling ran: the sink's `close` waits for it. */
  readonly #closeHandled = deferred<void>();

  /**
   * Creates a WebSocketStream and starts connecting.
   *
   * @param url A `ws:` or `wss:` URL (`http:` and `https:` are mapped to them).
   * @param options `protocols` (a list), `signal` (aborts the opening
   * handshake), and streamsock's `connect` options (see {@link WebSocketStreamOptions}).
   * @throws {DOMException} `SyntaxError` for a URL or subprotocol the standard refuses.
   * @throws {TypeError} Without a URL, for options that are not an object, `protocols` that is not a list or a
   * `signal` that is not an AbortSignal.
   */
  constructor(url: string | URL, options?: WebSocketStreamOptions) {
    if (arguments.length === 0) throw new TypeError("WebSocketStream needs a URL.");
    if (options === null || options === undefined) options = {};
    if (typeof options !== "object") throw new TypeError("The WebSocketStream's options must be an object.");
    const record = webSocketUrlRecord(url);
    const { protocols, signal, ...connectOptions } = options;
    this.#protocols = checkProtocols(protocols === undefined ? [] : toStringSequence(protocols, "protocols", true));
    this.#url = record.href;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal.");
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#handshakeAborted = true;
        this.#readyState = 3;
        this.#opened.reject(signal.reason);
        this.#closed.reject(signal.reason);
        return;
      }
      signal.addEventListener("abort", () => {
        if (this.#connection !== null || this.#readyState !== 0) return;
        this.#readyState = 2;
        this.#handshakeAborted = true;
        this.#opened.reject(signal.reason);
        this.#closed.reject(signal.reason);
        this.#opening.abort(signal.reason);
      }, { once: true, signal: this.#opening.signal });
    }
    void this.#connect(connectOptions, signal);
  }

  /** The URL, as the constructor parsed it (`http:` shown as `ws:`). */
  get url(): string {
    return this.#url;
  }

  /** Resolves once the connection is open, with its streams; rejects when it could not be opened. */
  get opened(): Promise<WebSocketOpenInfo> {
    return this.#opened.promise;
  }

  /**
   * Resolves with the server's close code and reason after a clean close;
   * rejects with a {@link WebSocketError} (`closeCode` 1006 when no close
   * frame arrived) otherwise.
   */
  get closed(): Promise<WebSocketCloseInfo> {
    return this.#closed.promise;
  }

  /**
   * Starts the closing handshake with an optional code and reason (while
   * connecting, abandons the connection instead). Without both, the close
   * frame has no body; a reason without a code means 1000.
   *
   * @param closeInfo `closeCode` (1000 or 3000-4999) and `reason` (at most 123 bytes of UTF-8).
   * @throws {DOMException} `InvalidAccessError` for another code, `SyntaxError` for a longer reason.
   * @throws {TypeError} For an argument that is not an object, or a code that is not an unsigned short.
   *
   * @example
   * ```ts ignore
   * import { WebSocketStream } from "@streamsock/streamsock/web";
   *
   * const wss = new WebSocketStream("ws://127.0.0.1:8080/");
   * await wss.opened;
   * wss.close({ closeCode: 4000, reason: "done" });
   * console.log(await wss.closed); // the server's answer: { closeCode: 4000, reason: ... }
   * ```
   */
  close(closeInfo?: WebSocketCloseInfo): void {
    if (closeInfo === null || closeInfo === undefined) closeInfo = {};
    if (typeof closeInfo !== "object") throw new TypeError("close() takes an object with closeCode and reason.");
    const code = closeInfo.closeCode === undefined ? null : enforceUnsignedShort(closeInfo.closeCode, "closeCode");
    const reason = closeInfo.reason === undefined ? "" : toUSVString(closeInfo.reason);
    this.#close(code, reason);
  }

  /** "Close the WebSocket" of the standard, after its checks. */
  #close(code: number | null, reason: string): void {
    validateCloseCodeAndReason(code, reason);
    if (this.#readyState === 2 || this.#readyState === 3) return;
    this.#readyState = 2;
    const connection = this.#connection;
    if (connection === null) {
      this.#opening.abort(domException("The WebSocketStream was closed before the connection was established.", "AbortError"));
      return;
    }
    const sending = code === null && reason === ""
      ? connection.send(new Message("", "close"))
      : connection.close(code ?? 1000, reason);
    sending.catch(() => {});
  }

  /** "Close using reason": a WebSocketError's code and reason, anything else none. */
  #closeUsingReason(reason: unknown): void {
    if (reason instanceof WebSocketError) {
      try {
        this.#close(reason.closeCode, reason.reason);
        return;
      } catch {
        // A code or reason that may not be sent (a received 1001, say): close without.
      }
    }
    this.#close(null, "");
  }

  // ------------------------------------------------------------ connecting

  async #connect(options: Omit<ConnectOptions, "protocol">, signal: AbortSignal | undefined): Promise<void> {
    let connection: WebSocketConnection;
    try {
      connection = await connect(this.#url, connectOptionsOf(options, this.#protocols, eitherSignal(this.#opening.signal, signal)));
    } catch (err) {
      this.#failOpening(err);
      return;
    }
    if (this.#readyState !== 0) {
      void connection.terminate();
      this.#failOpening(this.#opening.signal.reason);
      return;
    }
    const unacknowledged = noProtocolChosen(this.#protocols, connection.protocol);
    if (unacknowledged !== null) {
      void connection.terminate();
      this.#failOpening(unacknowledged);
      return;
    }
    this.#connection = connection;
    this.#readyState = 1;
    this.#wasEverConnected = true;
    // The abort signal does nothing once the handshake is done.
    this.#opening.abort();
    this.#opened.resolve({
      readable: this.#readable(connection),
      writable: this.#writable(connection),
      extensions: connection.extensions,
      protocol: connection.protocol ?? "",
    });
    void connection.closed.then((info) => this.#onClosed(info));
  }

  #failOpening(cause: unknown): void {
    this.#readyState = 3;
    this.#closeHandled.resolve();
    if (this.#handshakeAborted) return;
    const message = `WebSocket connection to '${this.#url}' failed: ${
      cause instanceof Error || cause instanceof DOMException ? cause.message : String(cause)
    }`;
    // The standard's closed handling: `opened` gets "a new WebSocketError" (no close code, as Chromium's),
    // `closed` one with the connection's close code, 1006.
    const neverOpened = new WebSocketError(message);
    Object.defineProperty(neverOpened, "cause", { value: cause, configurable: true, writable: true });
    this.#opened.reject(neverOpened);
    this.#closed.reject(closedWebSocketError(message, 1006, "", cause));
  }

  #onClosed(info: CloseInfo): void {
    this.#readyState = 3;
    const code = info.error === undefined ? info.code : 1006;
    const reason = info.error === undefined ? info.reason : "";
    if (info.wasClean) {
      try {
        this.#readableController?.close();
      } catch {
        // Already closed (cancelled) or errored.
      }
      this.#writableController?.error(
        domException("The WebSocket is closed: a closed WebSocketStream cannot be written to.", "InvalidStateError"),
      );
      this.#closed.resolve({ closeCode: code, reason });
    } else {
      const message = info.error?.message ?? "The WebSocket connection was not closed cleanly";
      const error = closedWebSocketError(message, code, reason, info.error);
      try {
        this.#readableController?.error(error);
      } catch {
        // Already closed.
      }
      this.#writableController?.error(error);
      this.#closed.reject(error);
    }
    this.#closeHandled.resolve();
  }

  // --------------------------------------------------------------- streams

  /**
   * Messages as a ReadableStream: pulled one at a time, so a reader that
   * stops reading leaves them in the connection's bounded inbox, which then
   * stops reading the socket (TCP flow control slows the server).
   */
  #readable(connection: WebSocketConnection): ReadableStream<string | Uint8Array> {
    const messages = connection[Symbol.asyncIterator]();
    return new ReadableStream<string | Uint8Array>({
      start: (controller) => {
        this.#readableController = controller;
      },
      pull: async (controller) => {
        for (;;) {
          let next: IteratorResult<Message>;
          try {
            next = await messages.next();
          } catch {
            return; // the connection failed: the closed handling errors the stream
          }
          if (next.done === true) return; // the server's close frame: the closed handling closes the stream
          // Messages that arrive after close() was called are not delivered.
          if (this.#readyState !== 1) continue;
          controller.enqueue(chunkOf(next.value));
          return;
        }
      },
      cancel: (reason) => this.#closeUsingReason(reason),
    });
  }

  /** Chunks written are sent as messages; a write resolves once the socket took it (backpressure). */
  #writable(connection: WebSocketConnection): WritableStream<string | BufferSource> {
    return new WritableStream<string | BufferSource>({
      start: (controller) => {
        this.#writableController = controller;
      },
      write: async (chunk) => {
        const message: string | Uint8Array = copyBufferSource(chunk) ?? toUSVString(chunk);
        // After the closing handshake started, the message is dropped (and the write resolves).
        if (this.#readyState !== 1 || connection.readyState !== 1) return;
        const size = typeof message === "string" ? message.length * 3 : message.byteLength;
        try {
          await (size > connection.maxFrameSize ? connection.sendAll(message) : connection.send(message));
        } catch {
          throw domException("The WebSocket closed before the message was sent.", "InvalidStateError");
        }
      },
      close: async () => {
        this.#close(null, "");
        await this.#closeHandled.promise;
        await this.#closed.promise;
      },
      abort: (reason) => this.#closeUsingReason(reason),
    });
  }
}
