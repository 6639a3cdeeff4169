/**
 * The event classes the WHATWG `WebSocket` dispatches: `CloseEvent`,
 * `MessageEvent` and `ErrorEvent`. Each is the runtime's own global class
 * where it has one, so `event instanceof CloseEvent` holds whichever of the
 * two a program names, and a small implementation of the standard's
 * interface where it has none (Node 20 and 22 lack `CloseEvent`, Node
 * lacks `ErrorEvent`). The option types spell out `EventInit`'s fields,
 * which Node's type declarations do not make global.
 *
 * @module
 */

import { toUSVString } from "./idl.ts";

/**
 * The options of a {@link CloseEvent}: WebSockets Standard `CloseEventInit`.
 *
 * @example
 * ```ts
 * import { CloseEvent, type CloseEventInit } from "@streamsock/streamsock/web";
 *
 * const init: CloseEventInit = { code: 1000, reason: "done", wasClean: true };
 * console.log(new CloseEvent("close", init).reason); // done
 * ```
 */
export interface CloseEventInit {
  /** Whether the event bubbles. Defaults to false. */
  bubbles?: boolean;
  /** Whether the event can be cancelled. Defaults to false. */
  cancelable?: boolean;
  /** Whether the event crosses shadow roots. Defaults to false. */
  composed?: boolean;
  /** Whether the connection closed cleanly. Defaults to false. */
  wasClean?: boolean;
  /** The close code. Defaults to 0. */
  code?: number;
  /** The close reason. Defaults to "". */
  reason?: string;
}

/**
 * The event a `WebSocket` dispatches once it is closed (WebSockets Standard
 * `CloseEvent`): the code and reason of the server's close frame (1006 and
 * "" when there was none, or when the connection failed), and whether the
 * connection closed cleanly.
 *
 * @example
 * ```ts
 * import { CloseEvent } from "@streamsock/streamsock/web";
 *
 * const event = new CloseEvent("close", { code: 4000, reason: "bye", wasClean: true });
 * console.log(event.code, event.reason, event.wasClean); // 4000 bye true
 * ```
 */
export interface CloseEvent extends Event {
  /** Whether the connection closed cleanly: both close frames exchanged, then the TCP connection closed. */
  readonly wasClean: boolean;
  /** The close code the server sent; 1005 for a close frame without one, 1006 for no close frame. */
  readonly code: number;
  /** The close reason the server sent. */
  readonly reason: string;
}

/**
 * The options of a {@link MessageEvent}, as far as a `WebSocket` uses them.
 *
 * @example
 * ```ts
 * import { MessageEvent, type MessageEventInit } from "@streamsock/streamsock/web";
 *
 * const init: MessageEventInit<string> = { data: "hi", origin: "ws://127.0.0.1:8080" };
 * console.log(new MessageEvent("message", init).data); // hi
 * ```
 */
export interface MessageEventInit<T = unknown> {
  /** Whether the event bubbles. Defaults to false. */
  bubbles?: boolean;
  /** Whether the event can be cancelled. Defaults to false. */
  cancelable?: boolean;
  /** Whether the event crosses shadow roots. Defaults to false. */
  composed?: boolean;
  /** The message. */
  data?: T;
  /** The origin of the URL the message came from. */
  origin?: string;
  /** Always "" for WebSocket messages. */
  lastEventId?: string;
}

/**
 * The event a `WebSocket` dispatches for each message (HTML `MessageEvent`):
 * `data` is a string for a text message, and a `Blob` or an `ArrayBuffer`
 * (as `binaryType` says) for a binary one; `origin` is the origin of the
 * socket's URL.
 *
 * @example
 * ```ts
 * import { MessageEvent } from "@streamsock/streamsock/web";
 *
 * const event = new MessageEvent("message", { data: "hello", origin: "ws://127.0.0.1:8080" });
 * console.log(event.data, event.origin); // hello ws://127.0.0.1:8080
 * ```
 */
export interface MessageEvent<T = unknown> extends Event {
  /** The message. */
  readonly data: T;
  /** The origin of the URL the message came from. */
  readonly origin: string;
  /** "" for WebSocket messages. */
  readonly lastEventId: string;
}

/**
 * The options of an {@link ErrorEvent}.
 *
 * @example
 * ```ts
 * import { ErrorEvent, type ErrorEventInit } from "@streamsock/streamsock/web";
 *
 * const init: ErrorEventInit = { message: "refused", error: new Error("refused") };
 * console.log(new ErrorEvent("error", init).message); // refused
 * ```
 */
export interface ErrorEventInit {
  /** Whether the event bubbles. Defaults to false. */
  bubbles?: boolean;
  /** Whether the event can be cancelled. Defaults to false. */
  cancelable?: boolean;
  /** Whether the event crosses shadow roots. Defaults to false. */
  composed?: boolean;
  /** What failed, in words. */
  message?: string;
  /** The error itself. */
  error?: unknown;
}

/**
 * The event a `WebSocket` dispatches when its connection failed, right
 * before its `close` event. The standard's is a plain `Event`; ours is an
 * `ErrorEvent` (as Deno's and undici's are) whose `error` is what failed: a
 * `HandshakeError`, `ConnectError`, `ProxyError`, `ProtocolError`,
 * `TimeoutError` ... of streamsock, with its status, headers or close code.
 *
 * @example
 * ```ts
 * import { ErrorEvent } from "@streamsock/streamsock/web";
 *
 * const event = new ErrorEvent("error", { message: "Connection refused", error: new Error("ECONNREFUSED") });
 * console.log(event.message, (event.error as Error).message); // Connection refused ECONNREFUSED
 * ```
 */
export interface ErrorEvent extends Event {
  /** What failed, in words. */
  readonly message: string;
  /** The error itself, when there is one. */
  readonly error: unknown;
}

class StandardCloseEvent extends Event implements CloseEvent {
  readonly #wasClean: boolean;
  readonly #code: number;
  readonly #reason: string;

  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    this.#wasClean = Boolean(init.wasClean);
    // unsigned short: the value modulo 2^16 (CloseEventInit has no [Clamp]).
    this.#code = init.code === undefined ? 0 : ((Math.trunc(Number(init.code)) % 0x10000) + 0x10000) % 0x10000 || 0;
    this.#reason = init.reason === undefined ? "" : toUSVString(init.reason);
  }

  get wasClean(): boolean {
    return this.#wasClean;
  }

  get code(): number {
    return this.#code;
  }

  get reason(): string {
    return this.#reason;
  }

  get [Symbol.toStringTag](): string {
    return "CloseEvent";
  }
}

class StandardMessageEvent<T> extends Event implements MessageEvent<T> {
  readonly #data: T;
  readonly #origin: string;
  readonly #lastEventId: string;

  constructor(type: string, init: MessageEventInit<T> = {}) {
    super(type, init);
    this.#data = init.data as T;
    this.#origin = init.origin === undefined ? "" : String(init.origin);
    this.#lastEventId = init.lastEventId === undefined ? "" : String(init.lastEventId);
  }

  get data(): T {
    return this.#data;
  }

  get origin(): string {
    return this.#origin;
  }

  get lastEventId(): string {
    return this.#lastEventId;
  }

  get source(): null {
    return null;
  }

  get ports(): readonly unknown[] {
    return [];
  }

  get [Symbol.toStringTag](): string {
    return "MessageEvent";
  }
}

class StandardErrorEvent extends Event implements ErrorEvent {
  readonly #message: string;
  readonly #error: unknown;

  constructor(type: string, init: ErrorEventInit = {}) {
    super(type, init);
    this.#message = init.message === undefined ? "" : String(init.message);
    this.#error = init.error;
  }

  get message(): string {
    return this.#message;
  }

  get error(): unknown {
    return this.#error;
  }

  get filename(): string {
    return "";
  }

  get lineno(): number {
    return 0;
  }

  get colno(): number {
    return 0;
  }

  get [Symbol.toStringTag](): string {
    return "ErrorEvent";
  }
}

// Named as the standard's classes, which they stand in for (`event.constructor.name`, stack traces).
for (const [implementation, name] of [[StandardCloseEvent, "CloseEvent"], [StandardMessageEvent, "MessageEvent"], [StandardErrorEvent, "ErrorEvent"]] as const) {
  Object.defineProperty(implementation, "name", { value: name, configurable: true });
}

const globals = globalThis as unknown as {
  CloseEvent?: typeof StandardCloseEvent;
  MessageEvent?: typeof StandardMessageEvent;
  ErrorEvent?: typeof StandardErrorEvent;
};

/**
 * `CloseEvent`: the runtime's global class where it has one (Deno, Bun,
 * Node 23+), otherwise streamsock's implementation of the WebSockets
 * Standard's interface (Node 20 and 22).
 *
 * @example
 * ```ts
 * import { CloseEvent } from "@streamsock/streamsock/web";
 *
 * const event = new CloseEvent("close", { code: 1000 });
 * console.log(event instanceof Event, event.code); // true 1000
 * ```
 */
export const CloseEvent: {
  readonly prototype: CloseEvent;
  new (type: string, eventInitDict?: CloseEventInit): CloseEvent;
} = globals.CloseEvent ?? StandardCloseEvent;

/**
 * `MessageEvent`: the runtime's global class (all three have one), or
 * streamsock's implementation where a runtime lacks it.
 *
 * @example
 * ```ts
 * import { MessageEvent } from "@streamsock/streamsock/web";
 *
 * const event = new MessageEvent("message", { data: new ArrayBuffer(2) });
 * console.log((event.data as ArrayBuffer).byteLength); // 2
 * ```
 */
export const MessageEvent: {
  readonly prototype: MessageEvent;
  new <T = unknown>(type: string, eventInitDict?: MessageEventInit<T>): MessageEvent<T>;
} = globals.MessageEvent ?? StandardMessageEvent;

/**
 * `ErrorEvent`: the runtime's global class where it has one (Deno, Bun),
 * otherwise streamsock's implementation (Node).
 *
 * @example
 * ```ts
 * import { ErrorEvent } from "@streamsock/streamsock/web";
 *
 * const event = new ErrorEvent("error", { message: "failed" });
 * console.log(event.type, event.message); // error failed
 * ```
 */
export const ErrorEvent: {
  readonly prototype: ErrorEvent;
  new (type: string, eventInitDict?: ErrorEventInit): ErrorEvent;
} = globals.ErrorEvent ?? StandardErrorEvent;
