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
import type { ClientRequestArgs, IncomingHttpHeaders } from "node:http";
import { nextTick } from "node:process";
import { Readable } from "node:stream";
import { connect } from "../client.ts";
import type { ConnectOptions, UpgradeResponse } from "../client/options.ts";
import type { WebSocketConnection } from "../connection.ts";
import type { CloseInfo } from "../protocol/protocol.ts";
import { ConnectionClosedError, HandshakeError } from "../errors.ts";
import { Message } from "../message.ts";
import type { CompressionOptions } from "../handshake/deflate_options.ts";
import {
  addEventListener,
  attributeOf,
  removeEventListener,
  setAttribute,
  type WsCloseEvent,
  type WsErrorEvent,
  type WsEvent,
  type WsEventHandler,
  type WsEventListener,
  type WsEventMap,
  type WsMessageEvent,
} from "./events.ts";
import { handshakeErrorOf, notOpenError, receiveErrorOf } from "./errors.ts";
import type { ClientOptions, PerMessageDeflateOptions, RawData } from "./options.ts";

const CONNECTING = 0 as const;
const OPEN = 1 as const;
const CLOSING = 2 as const;
const CLOSED = 3 as const;

/** ws's default limit on a message: 100 MiB. */
export const DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024;
/** ws's default limit on the frames of a message: 16384. */
export const DEFAULT_MAX_FRAGMENTS = 16 * 1024;
/** ws's default wait for the closing handshake: 30 s. */
export const DEFAULT_CLOSE_TIMEOUT = 30_000;
const EMPTY: Buffer = Buffer.alloc(0);
const SUBPROTOCOL = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;
const BINARY_TYPES = ["nodebuffer", "arraybuffer", "fragments", "blob"];
/** The handshake's own request fields: ws lets them win over the `headers` option. */
const HANDSHAKE_FIELDS = new Set([
  "connection",
  "upgrade",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
]);

/** ws's limits on what it reassembles: bytes and frames per message (0: no limit). */
export interface ReceiveLimits {
  maxPayload: number;
  maxFragments: number;
}

/** Set by WebSocket's static block: completes a server's end (internal to `streamsock/ws`). */
let attach: (ws: WebSocket, conn: WebSocketConnection, limits: ReceiveLimits) => void;

/**
 * Completes the server's end of a connection with what the handshake
 * produced (used by `WebSocketServer`; not part of the public API).
 */
export function attachConnection(ws: WebSocket, conn: WebSocketConnection, limits: ReceiveLimits): void {
  attach(ws, conn, limits);
}

/**
 * What a binary message is delivered as; see {@link WebSocket.binaryType}.
 * `"blob"` is accepted too at run time, as ws 8.18 and later accept it,
 * though `@types/ws` (whose types these follow) does not list it.
 */
export type BinaryType = "nodebuffer" | "arraybuffer" | "fragments";

/**
 * ws's `perMessageDeflate` option as streamsock's `compression`.
 *
 * @param option The option as given.
 * @param fallback Whether compression is on when the option is absent (ws: client yes, server no).
 * @returns The compression option.
 */
export function compressionOf(
  option: boolean | PerMessageDeflateOptions | undefined,
  fallback: boolean,
  role: "client" | "server",
): false | CompressionOptions {
  if (option === undefined) option = fallback;
  if (option === false || option === null) return false;
  if (option === true) option = {};
  const bits = (value: unknown) => (typeof value === "number" ? value : undefined);
  // ws compresses every message, and applies its threshold only to an end
  // that starts a fresh window per message (no context takeover). Its zlib
  // defaults (memLevel 8, 15-bit windows, nothing announced) stand in for
  // streamsock's leaner ones, so that this API negotiates what ws does.
  const fresh = role === "server" ? option.serverNoContextTakeover : option.clientNoContextTakeover;
  return {
    threshold: fresh ? (option.threshold ?? 1024) : 0,
    level: option.zlibDeflateOptions?.level,
    memLevel: option.zlibDeflateOptions?.memLevel ?? 8,
    serverNoContextTakeover: option.serverNoContextTakeover,
    clientNoContextTakeover: option.clientNoContextTakeover,
    serverMaxWindowBits: bits(option.serverMaxWindowBits) ?? 15,
    clientMaxWindowBits: bits(option.clientMaxWindowBits) ?? 15,
  };
}

/** The names of negotiated extensions, as ws's `extensions` lists them. */
function extensionNames(header: string): string {
  if (header === "") return "";
  return [...new Set(header.split(",").map((offer) => offer.split(";")[0].trim()).filter((name) => name !== ""))]
    .join();
}

/**
 * Whether node:http, which ws's client is built on, takes a 101 for an
 * upgrade: it needs an `Upgrade` field and `upgrade` among `Connection`'s
 * tokens; otherwise ws sees a plain response, an unexpected one.
 */
function isNodeUpgrade(headers: Headers): boolean {
  const connection = headers.get("connection");
  return headers.has("upgrade") && connection !== null &&
    connection.split(",").some((token) => token.trim().toLowerCase() === "upgrade");
}

/** Thrown from `onUpgrade` for a 101 that is not an upgrade to node:http. */
class PlainResponse extends Error {
  readonly response: UpgradeResponse;

  constructor(response: UpgradeResponse) {
    super(`Unexpected server response: ${response.status}`);
    this.response = response;
  }
}

/** Bytes of anything ws's `send` takes. */
function bytesOf(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return Buffer.from(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return Buffer.concat(data.map(bytesOf));
  if (data === undefined || data === null) return EMPTY;
  return Buffer.from(String(data));
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A header object as node:http's `IncomingMessage.headers` holds it. */
function headerObject(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  headers.forEach((value, name) => {
    if (name !== "set-cookie") out[name] = value;
  });
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) out["set-cookie"] = cookies;
  return out;
}

/**
 * The server's answer as ws's `'upgrade'` and `'unexpected-response'`
 * listeners get it: a readable of the body with the fields of node:http's
 * `IncomingMessage` that describe a response.
 *
 * @example
 * ```ts
 * import type { ResponseMessage } from "@streamsock/streamsock/ws";
 *
 * const cookies = (res: ResponseMessage) => res.headers["set-cookie"] ?? [];
 * ```
 */
export interface ResponseMessage extends Readable {
  /** The status code. */
  statusCode: number;
  /** The reason phrase. */
  statusMessage: string;
  /** The header fields, names lower-cased; `set-cookie` as an array. */
  headers: IncomingHttpHeaders;
  /** Names and values, alternating. */
  rawHeaders: string[];
  /** `"1.1"`. */
  httpVersion: string;
  /** 1. */
  httpVersionMajor: number;
  /** 1. */
  httpVersionMinor: number;
}

function incomingOf(status: number, statusText: string, headers: Headers, body: Uint8Array): ResponseMessage {
  const res = new Readable({ read() {} });
  const rawHeaders: string[] = [];
  headers.forEach((value, name) => {
    if (name !== "set-cookie") rawHeaders.push(name, value);
  });
  for (const cookie of headers.getSetCookie()) rawHeaders.push("set-cookie", cookie);
  Object.assign(res, {
    statusCode: status,
    statusMessage: statusText,
    headers: headerObject(headers),
    rawHeaders,
    httpVersion: "1.1",
    httpVersionMajor: 1,
    httpVersionMinor: 1,
  });
  if (body.length > 0) res.push(Buffer.from(body));
  res.push(null);
  return res as ResponseMessage;
}

/**
 * The request a ws client's `'redirect'` and `'unexpected-response'`
 * listeners get: node:http's `ClientRequest` as far as a handshake needs
 * it. Header fields set on it in a `'redirect'` listener go with the next
 * request; `abort()` and `destroy()` give up the handshake.
 */
export class HandshakeRequest extends EventEmitter {
  /** Always `"GET"`. */
  readonly method = "GET";
  /** The request target: path and query. */
  readonly path: string;
  /** The host, without the port. */
  readonly host: string;
  /** `"http:"` or `"https:"`. */
  readonly protocol: string;
  readonly #fields: Map<string, string | string[]>;
  readonly #abort: () => void;
  #aborted = false;

  /** @internal */
  constructor(url: URL, fields: Map<string, string | string[]>, abort: () => void) {
    super();
    this.path = url.pathname + url.search;
    this.host = url.hostname;
    this.protocol = url.protocol === "wss:" ? "https:" : "http:";
    this.#fields = fields;
    this.#abort = abort;
  }

  /** Whether `abort()` or `destroy()` was called. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /**
   * A request header field.
   *
   * @param name The field's name.
   * @returns Its value.
   */
  getHeader(name: string): string | string[] | undefined {
    return this.#fields.get(name.toLowerCase());
  }

  /**
   * Sets a request header field (for the request after a redirect).
   *
   * @param name The field's name.
   * @param value Its value.
   * @returns This request.
   */
  setHeader(name: string, value: string | number | readonly string[]): this {
    this.#fields.set(name.toLowerCase(), Array.isArray(value) ? [...value] : String(value));
    return this;
  }

  /**
   * Removes a request header field.
   *
   * @param name The field's name.
   */
  removeHeader(name: string): void {
    this.#fields.delete(name.toLowerCase());
  }

  /** Gives up the handshake. */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abort();
  }

  /**
   * Gives up the handshake.
   *
   * @returns This request.
   */
  destroy(): this {
    this.abort();
    return this;
  }
}

/** The request header fields of ws's `headers` option, lower-cased as node:http sends them. */
function fieldMap(headers: ClientOptions["headers"]): Map<string, string | string[]> {
  const fields = new Map<string, string | string[]>();
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    fields.set(name.toLowerCase(), Array.isArray(value) ? value.map(String) : String(value));
  }
  return fields;
}

function fieldPairs(fields: Map<string, string | string[]>): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [name, value] of fields) {
    // The handshake's own fields are the handshake's, as in ws; Host is always the URL's.
    if (HANDSHAKE_FIELDS.has(name) || name === "host" || name === "origin") continue;
    for (const one of Array.isArray(value) ? value : [value]) pairs.push([name, one]);
  }
  return pairs;
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
    this.#startClient(address, list, opts ?? {});
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

  #startClient(address: string | URL, protocols: string[], options: ClientOptions): void {
    const version = options.protocolVersion ?? 13;
    if (version !== 13) {
      throw new RangeError(`Unsupported protocol version: ${version} (supported versions: 13)`);
    }
    let url: URL;
    if (address instanceof URL) url = new URL(address.href);
    else {
      try {
        url = new URL(address);
      } catch {
        throw new SyntaxError(`Invalid URL: ${address}`);
      }
    }
    if (url.protocol === "http:" || url.protocol === "https:") url.protocol = url.protocol === "http:" ? "ws:" : "wss:";
    this.#url = url.href;
    if (url.protocol !== "ws:" && url.protocol !== "wss:") {
      throw new SyntaxError(
        url.protocol === "ws+unix:"
          ? "ws+unix: URLs are not supported by streamsock/ws"
          : 'The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"',
      );
    }
    if (url.hash) throw new SyntaxError("The URL contains a fragment identifier");
    const seen = new Set<string>();
    for (const protocol of protocols) {
      if (typeof protocol !== "string" || !SUBPROTOCOL.test(protocol) || seen.has(protocol)) {
        throw new SyntaxError("An invalid or duplicated subprotocol was specified");
      }
      seen.add(protocol);
    }
    const maxPayload = options.maxPayload === undefined
      ? DEFAULT_MAX_PAYLOAD
      : options.maxPayload || Number.MAX_SAFE_INTEGER;
    this.#maxPayload = maxPayload;
    this.#maxFragments = (options.maxFragments ?? DEFAULT_MAX_FRAGMENTS) || Number.MAX_SAFE_INTEGER;
    const fields = fieldMap(options.headers);
    const auth = options.auth;
    const connectOptions: ConnectOptions = {
      protocol: protocols,
      origin: options.origin,
      compression: compressionOf(options.perMessageDeflate, true, "client"),
      maxFrameSize: maxPayload,
      maxMessageSize: maxPayload,
      timeout: options.handshakeTimeout ?? Infinity,
      tls: {
        ca: options.ca as string | string[] | undefined,
        cert: options.cert as string | undefined,
        key: options.key as string | undefined,
        rejectUnauthorized: options.rejectUnauthorized,
        serverName: options.servername,
      },
      auth: typeof auth === "string" && auth.includes(":")
        ? { basic: [auth.slice(0, auth.indexOf(":")), auth.slice(auth.indexOf(":") + 1)] }
        : undefined,
      proxy: options.proxy ?? null,
      redirect: false,
      pingInterval: 0,
      closeTimeout: options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
      autoPong: options.autoPong ?? true,
      echoCloseReason: true,
      maxBackpressure: Infinity,
      onUpgrade: (response: UpgradeResponse) => {
        if (!isNodeUpgrade(response.headers)) throw new PlainResponse(response);
        emitSafely(this, "upgrade", incomingOf(response.status, response.statusText, response.headers, EMPTY));
      },
    };
    const attempt = (target: URL, redirects: number) => {
      const controller = new AbortController();
      this.#opening = controller;
      const headers = fieldPairs(fields);
      const origin = connectOptions.origin ?? fields.get("origin");
      connect(target, {
        ...connectOptions,
        origin: origin === undefined ? undefined : String(origin),
        headers,
        signal: controller.signal,
      }).then(
        (conn) => {
          if (this.#readyState !== CONNECTING) {
            void conn.terminate();
            return;
          }
          this.#opening = null;
          // As ws: a client that offered subprotocols wants one chosen.
          if (protocols.length > 0 && conn.protocol === null) {
            void conn.terminate();
            return this.#emitErrorAndClose(new Error("Server sent no subprotocol"));
          }
          this.#open(conn);
          void this.#read(conn);
        },
        (err) => {
          if (this.#readyState !== CONNECTING) return;
          this.#opening = null;
          this.#openingFailed(err, target, redirects, protocols, options, fields, attempt);
        },
      );
    };
    attempt(url, 0);
  }

  #openingFailed(
    err: unknown,
    target: URL,
    redirects: number,
    protocols: string[],
    options: ClientOptions,
    fields: Map<string, string | string[]>,
    attempt: (target: URL, redirects: number) => void,
  ): void {
    if (err instanceof PlainResponse) {
      const { status, statusText, headers } = err.response;
      return this.#unexpectedResponse(target, fields, status, statusText, headers, EMPTY);
    }
    if (!(err instanceof HandshakeError) || err.code !== "ERR_HANDSHAKE_STATUS") {
      return this.#emitErrorAndClose(
        handshakeErrorOf(err, {
          protocols,
          offeredExtensions: compressionOf(options.perMessageDeflate, true, "client") !== false,
        }),
      );
    }
    const { status, headers } = err;
    const location = headers.get("location");
    if (location !== null && options.followRedirects && status >= 300 && status < 400) {
      if (redirects + 1 > (options.maxRedirects ?? 10)) return this.#abortHandshake("Maximum redirects exceeded");
      let next: URL;
      try {
        next = new URL(location, target);
      } catch {
        return this.#emitErrorAndClose(new SyntaxError(`Invalid URL: ${location}`));
      }
      if (next.protocol === "http:" || next.protocol === "https:") {
        next.protocol = next.protocol === "http:" ? "ws:" : "wss:";
      }
      this.#url = next.href;
      if (next.protocol !== "ws:" && next.protocol !== "wss:") {
        return this.#emitErrorAndClose(
          new SyntaxError('The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"'),
        );
      }
      const first = new URL(this.#firstUrl ?? target.href);
      this.#firstUrl ??= target.href;
      const sameHost = next.host === first.host;
      if (
        this.listenerCount("redirect") === 0 && (!sameHost || (first.protocol === "wss:" && next.protocol !== "wss:"))
      ) {
        // As ws (and curl): credentials do not follow a redirect to another host or to plain text.
        fields.delete("authorization");
        fields.delete("cookie");
      }
      const request = new HandshakeRequest(
        next,
        fields,
        () => this.#abortHandshake("WebSocket was closed before the connection was established"),
      );
      this.emit("redirect", this.#url, request);
      if (this.#readyState !== CONNECTING || request.aborted) return;
      return attempt(next, redirects + 1);
    }
    // The reason phrase, as HandshakeError's message quotes the status line.
    const statusText = /^Server refused the WebSocket upgrade: \d{3} ?(.*?)(?: \(.*\))?$/s.exec(err.message)?.[1] ?? "";
    this.#unexpectedResponse(target, fields, status, statusText, headers, err.body);
  }

  /** ws's `'unexpected-response'`, or its error when nobody listens. */
  #unexpectedResponse(
    target: URL,
    fields: Map<string, string | string[]>,
    status: number,
    statusText: string,
    headers: Headers,
    body: Uint8Array,
  ): void {
    const request = new HandshakeRequest(
      target,
      fields,
      () => this.#abortHandshake("WebSocket was closed before the connection was established"),
    );
    if (!this.emit("unexpected-response", request, incomingOf(status, statusText, headers, body))) {
      this.#abortHandshake(`Unexpected server response: ${status}`);
    }
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
  export type ServerOptions = import("./options.ts").ServerOptions;
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

/** The frames' payloads as one Buffer. */
function concat(parts: Buffer[], size: number): Buffer {
  if (parts.length === 1) return parts[0];
  return parts.length === 0 ? EMPTY : Buffer.concat(parts, size);
}

/**
 * A WebSocket as its events name it (`event.target`): the public API of
 * {@link WebSocket}, typed by structure so that a socket typed with
 * `@types/ws` fits it too.
 *
 * @example
 * ```ts
 * import type { WebSocketLike, WsMessageEvent } from "@streamsock/streamsock/ws";
 *
 * const reply = (event: WsMessageEvent) => {
 *   const ws: WebSocketLike = event.target;
 *   ws.send("got it");
 * };
 * ```
 */
export interface WebSocketLike extends EventEmitter {
  /** How binary messages are delivered. */
  binaryType: BinaryType;
  /** Bytes queued for sending and not yet written. */
  readonly bufferedAmount: number;
  /** The negotiated extensions' names, or `""`. */
  readonly extensions: string;
  /** Whether `pause()` stopped the delivery of messages. */
  readonly isPaused: boolean;
  /** The negotiated subprotocol, or `""`. */
  readonly protocol: string;
  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  readonly readyState: 0 | 1 | 2 | 3;
  /** The URL a client connected to. */
  readonly url: string;
  /** 0. */
  readonly CONNECTING: 0;
  /** 1. */
  readonly OPEN: 1;
  /** 2. */
  readonly CLOSING: 2;
  /** 3. */
  readonly CLOSED: 3;
  /** The `open` handler. */
  onopen: WsEventHandler<WsEvent> | null;
  /** The `error` handler. */
  onerror: WsEventHandler<WsErrorEvent> | null;
  /** The `close` handler. */
  onclose: WsEventHandler<WsCloseEvent> | null;
  /** The `message` handler. */
  onmessage: WsEventHandler<WsMessageEvent> | null;
  /** Starts the closing handshake. */
  close(code?: number, data?: string | Buffer): void;
  /** Sends a ping. */
  ping(data?: unknown, mask?: boolean, cb?: (err: Error) => void): void;
  /** Sends a pong. */
  pong(data?: unknown, mask?: boolean, cb?: (err: Error) => void): void;
  /** Sends a message. */
  send(data: unknown, cb?: (err?: Error) => void): void;
  /** Sends a message with options. */
  send(data: unknown, options: SendOptions, cb?: (err?: Error) => void): void;
  /** Closes the connection at once. */
  terminate(): void;
  /** Stops delivering messages. */
  pause(): void;
  /** Delivers messages again. */
  resume(): void;
  /** Adds a browser-style listener. */
  addEventListener<K extends keyof WsEventMap>(
    type: K,
    listener: ((event: WsEventMap[K]) => void) | { handleEvent(event: WsEventMap[K]): void },
    options?: { once?: boolean },
  ): void;
  /** Removes a browser-style listener. */
  removeEventListener<K extends keyof WsEventMap>(
    type: K,
    listener: ((event: WsEventMap[K]) => void) | { handleEvent(event: WsEventMap[K]): void },
  ): void;
}

/** Options of {@link WebSocket.send}, as ws has them. */
export interface SendOptions {
  /** Send as binary (default: true unless the data is a string). */
  binary?: boolean;
  /** Whether this message may be compressed (default true; the threshold still applies). */
  compress?: boolean;
  /** Whether this is the last fragment of the message (default true). */
  fin?: boolean;
  /** Ignored: a client always masks, a server never does. */
  mask?: boolean;
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

/**
 * Emits an event; what a listener throws (or an `error` nobody listens to)
 * escapes as an uncaught exception, as with ws, rather than breaking the
 * delivery of the events after it.
 */
function emitSafely(target: EventEmitter, event: string, ...args: unknown[]): void {
  try {
    target.emit(event, ...args);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}
