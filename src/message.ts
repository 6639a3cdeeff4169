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
 * A WebSocket message or, when `partial` is true, one frame of a message
 * that continues. Mirrors Gerbil's `(defstruct message (data type partial?))`.
 *
 * `data` is a string for `"text"` and `"close"` (for a close it is the
 * reason, and `code` holds the status code) and a `Uint8Array` otherwise.
 *
 * @example
 * ```ts
 * import { Message } from "@streamsock/streamsock";
 *
 * const hello = new Message("hello", "text");
 * const firstHalf = new Message(new Uint8Array([1, 2]), "binary", true);
 * const bye = new Message("going away", "close", false, 1001);
 * console.log(hello.type, firstHalf.partial, bye.code); // text true 1001
 * ```
 */
export class Message {
  /** The payload: a string for text and close, bytes otherwise. */
  readonly data: string | Uint8Array;
  /** The message type. */
  readonly type: MessageType;
  /** True when this is a frame of a message that continues. */
  readonly partial: boolean;
  /** For `"close"`: the status code (`data` is the reason). */
  readonly code?: number;

  /**
   * Creates a message, checking that `data` fits `type`.
   *
   * @param data A string for `"text"` and `"close"`, a Uint8Array otherwise.
   * @param type The message type.
   * @param partial True for a non-final frame of a message. Defaults to false.
   * @param code For `"close"` only: the status code to send.
   * @throws {TypeError} When `type` is unknown or `data` has the wrong type.
   */
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
