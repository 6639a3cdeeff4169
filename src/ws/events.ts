/**
 * The DOM-style events of ws's `addEventListener` and `on…` attributes,
 * built from the EventEmitter events: `open`, `message`, `close` and
 * `error`, the four a browser's WebSocket has.
 *
 * @module
 */

import type { EventEmitter } from "node:events";
import type { Buffer } from "node:buffer";
import type { BinaryType, SendOptions } from "./options.ts";

/**
 * The event `addEventListener` listeners receive (ws's `Event`).
 *
 * @example
 * ```ts
 * import { WsEvent } from "@streamsock/streamsock/ws";
 *
 * console.log(new WsEvent("open").type); // open
 * ```
 */
export class WsEvent {
  /** The event's type: `"open"`, `"message"`, `"close"` or `"error"`. */
  readonly type: string;
  /** The WebSocket that emitted it (null for an event made by hand). */
  target: WebSocketLike = null as unknown as WebSocketLike;

  /**
   * Creates an event.
   *
   * @param type The event's type.
   */
  constructor(type: string) {
    this.type = type;
  }
}

/**
 * A `message` event: `data` is a string for text, the binary data as the
 * socket's `binaryType` says otherwise.
 *
 * @example
 * ```ts
 * import { WsMessageEvent } from "@streamsock/streamsock/ws";
 *
 * console.log(new WsMessageEvent("message", { data: "hi" }).data); // hi
 * ```
 */
export class WsMessageEvent extends WsEvent {
  /** The message: a string for text, as `binaryType` says for binary. */
  readonly data: string | Buffer | ArrayBuffer | Buffer[];

  /**
   * Creates an event.
   *
   * @param type The event's type.
   * @param init The message.
   */
  constructor(type: string, init: { data?: string | Buffer | ArrayBuffer | Buffer[] } = {}) {
    super(type);
    this.data = init.data === undefined ? null as unknown as string : init.data;
  }
}

/**
 * A `close` event.
 *
 * @example
 * ```ts
 * import { WsCloseEvent } from "@streamsock/streamsock/ws";
 *
 * console.log(new WsCloseEvent("close", { code: 1000 }).code); // 1000
 * ```
 */
export class WsCloseEvent extends WsEvent {
  /** The close code. */
  readonly code: number;
  /** The close reason, decoded. */
  readonly reason: string;
  /** Whether both close frames were exchanged. */
  readonly wasClean: boolean;

  /**
   * Creates an event.
   *
   * @param type The event's type.
   * @param init Code, reason and cleanliness.
   */
  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? "";
    this.wasClean = init.wasClean ?? false;
  }
}

/**
 * An `error` event.
 *
 * @example
 * ```ts
 * import { WsErrorEvent } from "@streamsock/streamsock/ws";
 *
 * console.log(new WsErrorEvent("error", { error: new Error("x"), message: "x" }).message); // x
 * ```
 */
export class WsErrorEvent extends WsEvent {
  /** The error. */
  readonly error: unknown;
  /** Its message. */
  readonly message: string;

  /**
   * Creates an event.
   *
   * @param type The event's type.
   * @param init The error and its message.
   */
  constructor(type: string, init: { error?: unknown; message?: string } = {}) {
    super(type);
    this.error = init.error === undefined ? null : init.error;
    this.message = init.message ?? "";
  }
}

/**
 * `@types/ws`'s name for the `open` event: a {@link WsEvent}.
 *
 * @example
 * ```ts
 * import type { Event } from "@streamsock/streamsock/ws";
 *
 * const onOpen = (event: Event) => console.log(event.type);
 * ```
 */
export type Event = WsEvent;
/**
 * `@types/ws`'s name for the `message` event: a {@link WsMessageEvent}.
 *
 * @example
 * ```ts
 * import type { MessageEvent } from "@streamsock/streamsock/ws";
 *
 * const onMessage = (event: MessageEvent) => console.log(event.data);
 * ```
 */
export type MessageEvent = WsMessageEvent;
/**
 * `@types/ws`'s name for the `close` event: a {@link WsCloseEvent}.
 *
 * @example
 * ```ts
 * import type { CloseEvent } from "@streamsock/streamsock/ws";
 *
 * const onClose = (event: CloseEvent) => console.log(event.code, event.reason);
 * ```
 */
export type CloseEvent = WsCloseEvent;
/**
 * `@types/ws`'s name for the `error` event: a {@link WsErrorEvent}.
 *
 * @example
 * ```ts
 * import type { ErrorEvent } from "@streamsock/streamsock/ws";
 *
 * const onError = (event: ErrorEvent) => console.log(event.message);
 * ```
 */
export type ErrorEvent = WsErrorEvent;

/**
 * The events `addEventListener` takes, by type.
 *
 * @example
 * ```ts
 * import type { WsEventMap } from "@streamsock/streamsock/ws";
 *
 * const onMessage = (event: WsEventMap["message"]) => console.log(event.data);
 * ```
 */
export interface WsEventMap {
  /** The connection opened. */
  open: WsEvent;
  /** A message arrived. */
  message: WsMessageEvent;
  /** The connection closed. */
  close: WsCloseEvent;
  /** The connection failed. */
  error: WsErrorEvent;
}

/**
 * The handler an `on…` attribute holds. Its parameter is compared the way a
 * method's is (both ways), so that a handler typed with `@types/ws`'s event
 * types fits, as the same handler fits ws.
 *
 * @example
 * ```ts
 * import type { WsEventHandler, WsMessageEvent } from "@streamsock/streamsock/ws";
 *
 * const handler: WsEventHandler<WsMessageEvent> = (event) => console.log(event.data);
 * ```
 */
export type WsEventHandler<E> = { handle(event: E): void }["handle"];

/**
 * A listener given to `addEventListener`: a function, or an object with `handleEvent`.
 *
 * @example
 * ```ts
 * import { WebSocket, type WsEventListener } from "@streamsock/streamsock/ws";
 *
 * const ws = new WebSocket("ws://127.0.0.1:8080");
 * const listener: WsEventListener = { handleEvent: (event) => console.log(event.type) };
 * ws.addEventListener("open", listener);
 * ws.on("error", () => {});
 * ```
 */
// deno-lint-ignore no-explicit-any
export type WsEventListener = ((event: any) => void) | { handleEvent(event: any): void };

/** Marks the EventEmitter listener that wraps an `addEventListener` listener. */
const LISTENER: unique symbol = Symbol("streamsock.ws.listener");
/** Marks the wrapper that holds an `on…` attribute's handler. */
const ATTRIBUTE: unique symbol = Symbol("streamsock.ws.attribute");

type Wrapper = ((...args: unknown[]) => void) & { [LISTENER]?: WsEventListener; [ATTRIBUTE]?: boolean };

/** What a WebSocket tells the event wrappers. */
export interface EventSource extends EventEmitter {
  /** Whether both close frames were exchanged, for `CloseEvent.wasClean`. */
  readonly closedCleanly: boolean;
}

function call(listener: WsEventListener, target: unknown, event: WsEvent): void {
  event.target = target as WebSocketLike;
  if (typeof listener === "object") listener.handleEvent(event);
  else listener.call(target, event);
}

function wrap(type: string, listener: WsEventListener): Wrapper | null {
  switch (type) {
    case "message":
      return function (this: EventSource, data: unknown, isBinary: unknown) {
        call(listener, this, new WsMessageEvent("message", { data: isBinary ? data as Buffer : String(data) }));
      } as Wrapper;
    case "close":
      return function (this: EventSource, code: unknown, reason: unknown) {
        call(
          listener,
          this,
          new WsCloseEvent("close", { code: code as number, reason: String(reason), wasClean: this.closedCleanly }),
        );
      } as Wrapper;
    case "error":
      return function (this: EventSource, error: unknown) {
        call(listener, this, new WsErrorEvent("error", { error, message: (error as Error)?.message ?? String(error) }));
      } as Wrapper;
    case "open":
      return function (this: EventSource) {
        call(listener, this, new WsEvent("open"));
      } as Wrapper;
    default:
      return null;
  }
}

/**
 * ws's `addEventListener`: only `open`, `message`, `close` and `error`; a
 * listener already added for the type is not added twice.
 */
export function addEventListener(
  target: EventSource,
  type: string,
  listener: WsEventListener,
  options: { once?: boolean } = {},
  attribute = false,
): void {
  if (!attribute) {
    for (const existing of target.listeners(type) as Wrapper[]) {
      if (existing[LISTENER] === listener && !existing[ATTRIBUTE]) return;
    }
  }
  const wrapper = wrap(type, listener);
  if (wrapper === null) return;
  wrapper[LISTENER] = listener;
  wrapper[ATTRIBUTE] = attribute;
  if (options.once) target.once(type, wrapper);
  else target.on(type, wrapper);
}

/** ws's `removeEventListener`. */
export function removeEventListener(target: EventSource, type: string, listener: WsEventListener): void {
  for (const existing of target.listeners(type) as Wrapper[]) {
    if (existing[LISTENER] === listener && !existing[ATTRIBUTE]) {
      target.removeListener(type, existing);
      return;
    }
  }
}

/** The handler of an `on…` attribute, or null. */
export function attributeOf(target: EventSource, type: string): WsEventListener | null {
  for (const existing of target.listeners(type) as Wrapper[]) {
    if (existing[ATTRIBUTE]) return existing[LISTENER]!;
  }
  return null;
}

/** Sets an `on…` attribute: replaces the previous handler; anything but a function clears it. */
export function setAttribute(target: EventSource, type: string, handler: unknown): void {
  for (const existing of target.listeners(type) as Wrapper[]) {
    if (existing[ATTRIBUTE]) {
      target.removeListener(type, existing);
      break;
    }
  }
  if (typeof handler === "function") addEventListener(target, type, handler as WsEventListener, {}, true);
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

/**
 * Emits an event; what a listener throws (or an `error` nobody listens to)
 * escapes as an uncaught exception, as with ws, rather than breaking the
 * delivery of the events after it.
 */
export function emitSafely(target: EventEmitter, event: string, ...args: unknown[]): void {
  try {
    target.emit(event, ...args);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}
