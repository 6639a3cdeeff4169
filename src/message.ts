/**
 * The unit of I/O, after Gerbil's `message` struct.
 *
 * @module
 */

/**
 * The kinds of message, one per RFC 6455 opcode family.
 *
 * @example
 * ```ts
 * import type { Message, MessageType } from "@streamsock/streamsock";
 *
 * const isData = (msg: Message): boolean => (["text", "binary"] as MessageType[]).includes(msg.type);
 * ```
 */
export type MessageType = "text" | "binary" | "ping" | "pong" | "close";

const MESSAGE_TYPES: ReadonlySet<string> = new Set(["text", "binary", "ping", "pong", "close"]);

/** `"text"` and `"close"` carry a string, every other type a Uint8Array. */
function expectsString(type: MessageType): boolean {
  return type === "text" || type === "close";
}

/**
 * One variant of {@link Message}: the message of type `T`, whose `data` is
 * a string for `"text"` and `"close"` and a `Uint8Array` otherwise. Name a
 * variant with it (`MessageOf<"text">`); `Message` is the union of all five.
 *
 * @example A handler for text messages only
 * ```ts
 * import type { MessageOf } from "@streamsock/streamsock";
 *
 * const shout = (msg: MessageOf<"text">): string => msg.data.toUpperCase();
 * ```
 */
export interface MessageOf<T extends MessageType> {
  /** The payload: a string for text and close (the reason), bytes otherwise. */
  readonly data: T extends "text" | "close" ? string : Uint8Array;
  /** The message type. */
  readonly type: T;
  /** True when this is a frame of a message that continues. */
  readonly partial: boolean;
  /** For `"close"`: the status code (`data` is the reason). */
  readonly code?: number;
}

/**
 * A WebSocket message or, when `partial` is true, one frame of a message
 * that continues. Mirrors Gerbil's `(defstruct message (data type partial?))`
 * and is built the same way: `new Message(data, type, partial?, code?)`.
 *
 * The type is a union discriminated by `type`: checking `msg.type` narrows
 * `msg.data`, to a `string` for `"text"` and `"close"` (for a close it is the
 * reason, and `code` holds the status code) and to a `Uint8Array` otherwise.
 * `msg instanceof Message` holds for every message made by the constructor.
 *
 * @example
 * ```ts
 * import { Message } from "@streamsock/streamsock";
 *
 * const hello = new Message("hello", "text");
 * const firstHalf = new Message(new Uint8Array([1, 2]), "binary", true);
 * const bye = new Message("going away", "close", false, 1001);
 * console.log(hello.type, firstHalf.partial, bye.code); // text true 1001
 *
 * function describe(msg: Message): string {
 *   if (msg.type === "text") return msg.data.toUpperCase(); // data is a string here
 *   if (msg.type === "binary") return `${msg.data.byteLength} bytes`; // and a Uint8Array here
 *   return msg.type;
 * }
 * console.log(describe(hello), describe(firstHalf)); // HELLO 2 bytes
 * ```
 */
export type Message = MessageOf<"text"> | MessageOf<"binary"> | MessageOf<"ping"> | MessageOf<"pong"> | MessageOf<"close">;

/** Gerbil's message struct at run time; typed for users as the union {@link Message}. */
class MessageStruct {
  readonly data: string | Uint8Array;
  readonly type: MessageType;
  readonly partial: boolean;
  readonly code?: number;

  constructor(data: string | Uint8Array, type: MessageType, partial = false, code?: number) {
    if (!MESSAGE_TYPES.has(type)) {
      throw new TypeError(`Unknown message type ${JSON.stringify(type)}`);
    }
    if (expectsString(type)) {
      if (typeof data !== "string") {
        throw new TypeError(`A ${type} message needs data of type string`);
      }
    } else if (!(data instanceof Uint8Array)) {
      throw new TypeError(`A ${type} message needs data of type Uint8Array`);
    }
    if (code !== undefined && type !== "close") {
      throw new TypeError("Only a close message has a code");
    }
    this.data = data;
    this.type = type;
    this.partial = partial;
    if (code !== undefined) this.code = code;
  }
}

/**
 * Creates a message, checking that `data` fits `type` (Gerbil's `message`).
 * A literal type fixes the data's type at compile time too:
 * `new Message(bytes, "text")` does not type-check.
 *
 * @param data A string for `"text"` and `"close"`, a Uint8Array otherwise.
 * @param type The message type.
 * @param partial True for a non-final frame of a message. Defaults to false.
 * @param code For `"close"` only: the status code to send.
 * @throws {TypeError} When `type` is unknown or `data` has the wrong type.
 */
export const Message: {
  new <T extends MessageType>(
    data: T extends "text" | "close" ? string : Uint8Array,
    type: T,
    partial?: boolean,
    code?: number,
  ): T extends MessageType ? MessageOf<T> : never;
  readonly prototype: Message;
} = MessageStruct as never;

/**
 * Gerbil's `valid-message?`: true when `msg` has a known type, data of the
 * type that goes with it, and a boolean (or absent) `partial`.
 *
 * @param msg Any value.
 * @returns Whether `msg` can be sent as a message.
 *
 * @example
 * ```ts
 * import { isValidMessage, Message } from "@streamsock/streamsock";
 *
 * console.log(isValidMessage(new Message("hi", "text"))); // true
 * console.log(isValidMessage({ data: "hi", type: "binary" })); // false
 * ```
 */
export function isValidMessage(msg: unknown): msg is Message {
  if (typeof msg !== "object" || msg === null) return false;
  const { data, type, partial } = msg as Record<string, unknown>;
  if (typeof type !== "string" || !MESSAGE_TYPES.has(type)) return false;
  if (partial !== undefined && typeof partial !== "boolean") return false;
  return expectsString(type as MessageType) ? typeof data === "string" : data instanceof Uint8Array;
}

/**
 * Turns what `send` and `sendAll` accept into a {@link Message}, as `ws` and
 * browsers do: a string is text; an `ArrayBuffer` or any `ArrayBufferView`
 * (every typed array, `DataView`, Node's `Buffer`) is binary, viewed as
 * bytes without copying; a Message (or a message-shaped object that
 * {@link isValidMessage} accepts) is taken as it is. A `Blob` is not handled
 * here: its bytes can only be read asynchronously.
 *
 * `toMessage(new Uint16Array([1, 2]))` is a binary message of the four bytes
 * `01 00 02 00` (the platform's byte order), sharing the array's buffer.
 *
 * @param data What the application passed to `send`.
 * @returns The message to send.
 * @throws {TypeError} For anything else.
 */
export function toMessage(data: unknown): Message {
  // Ordered by how often each arrives: send runs this on its hot path.
  if (typeof data === "string") return new Message(data, "text");
  if (data instanceof Uint8Array) return new Message(data, "binary");
  if (isValidMessage(data)) return data;
  if (data instanceof ArrayBuffer) return new Message(new Uint8Array(data), "binary");
  if (ArrayBuffer.isView(data)) return new Message(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), "binary");
  throw new TypeError("send expects a Message, a string, an ArrayBuffer, an ArrayBufferView or a Blob");
}
