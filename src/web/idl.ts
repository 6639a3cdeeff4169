/**
 * The WebIDL conversions and checks the WebSockets Standard's algorithms
 * start with, shared by `WebSocket` and `WebSocketStream`: the URL record
 * ("get a URL record"), the subprotocol list, close code and reason
 * ("validate close code and reason"), and the `[Clamp]` / `[EnforceRange]`
 * / `USVString` / `BufferSource` conversions of their arguments.
 * Internal to the `./web` entry point.
 *
 * @module
 */

/** A DOMException with the given name (`SyntaxError`, `InvalidAccessError`, ...). */
export function domException(message: string, name: string): DOMException {
  return new DOMException(message, name);
}

/** The API base URL where there is one (Deno run with `--location`), else none. */
function apiBaseUrl(): string | undefined {
  try {
    const href = (globalThis as { location?: { href?: unknown } }).location?.href;
    return typeof href === "string" ? href : undefined;
  } catch {
    // Deno throws on `location` when it was started without --location.
    return undefined;
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** WebIDL `USVString`: `String(value)` with unpaired surrogates replaced by U+FFFD. */
export function toUSVString(value: unknown): string {
  // String() would take a Symbol; WebIDL's ToString does not.
  if (typeof value === "symbol") throw new TypeError("Cannot convert a Symbol to a string.");
  const text = String(value);
  const wellFormed = (text as { toWellFormed?: () => string }).toWellFormed;
  return typeof wellFormed === "function" ? wellFormed.call(text) : text.replace(LONE_SURROGATE, "\uFFFD");
}

/**
 * "Get a URL record": parse against the API base URL, map `http:` and
 * `https:` to `ws:` and `wss:`, and refuse any other scheme or a fragment
 * (even an empty one), each with a `SyntaxError` DOMException.
 *
 * @param url What the constructor was given.
 * @returns The URL record.
 * @throws {DOMException} `SyntaxError`.
 */
export function webSocketUrlRecord(url: unknown): URL {
  const text = toUSVString(url);
  let record: URL;
  try {
    record = new URL(text, apiBaseUrl());
  } catch {
    throw domException(`The URL '${text}' is invalid.`, "SyntaxError");
  }
  if (record.protocol === "http:") record.protocol = "ws:";
  else if (record.protocol === "https:") record.protocol = "wss:";
  if (record.protocol !== "ws:" && record.protocol !== "wss:") {
    throw domException(
      `The URL's scheme must be either 'http', 'https', 'ws', or 'wss'. '${record.protocol.slice(0, -1)}' is not allowed.`,
      "SyntaxError",
    );
  }
  // An empty fragment ("ws://host/#") is non-null too; only href shows it.
  if (record.href.includes("#")) {
    throw domException(`The URL contains a fragment identifier ('${record.hash}'). Fragment identifiers are not allowed in WebSocket URLs.`, "SyntaxError");
  }
  return record;
}

/** RFC 2616 token characters: visible ASCII except the separators (RFC 6455 §4.1 for subprotocols). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The subprotocols a constructor was given, checked as the standard says:
 * each must be an RFC 2616 token, and none may occur twice (compared without
 * regard to case, as the web-platform-tests require).
 *
 * @param protocols The strings, already converted.
 * @returns The same list.
 * @throws {DOMException} `SyntaxError`.
 */
export function checkProtocols(protocols: string[]): string[] {
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (!TOKEN.test(protocol)) {
      throw domException(`The subprotocol '${protocol}' is invalid.`, "SyntaxError");
    }
    const folded = protocol.toLowerCase();
    if (seen.has(folded)) throw domException(`The subprotocol '${protocol}' is duplicated.`, "SyntaxError");
    seen.add(folded);
  }
  return protocols;
}

/** WebIDL `sequence<DOMString>` (or `USVString`): an iterable object, each value converted. */
export function toStringSequence(value: unknown, what: string, usv: boolean): string[] {
  if (typeof value !== "object" || value === null || typeof (value as Iterable<unknown>)[Symbol.iterator] !== "function") {
    throw new TypeError(`${what} must be a sequence of strings.`);
  }
  const strings: string[] = [];
  for (const item of value as Iterable<unknown>) {
    if (typeof item === "symbol") throw new TypeError(`${what} must be a sequence of strings.`);
    strings.push(usv ? toUSVString(item) : String(item));
  }
  return strings;
}

/** WebIDL `[Clamp] unsigned short`. */
export function clampUnsignedShort(value: unknown): number {
  const number = toNumber(value);
  if (Number.isNaN(number)) return 0;
  const clamped = Math.min(Math.max(number, 0), 0xffff);
  // Round to the nearest integer, ties to even.
  const floor = Math.floor(clamped);
  const fraction = clamped - floor;
  if (fraction > 0.5 || (fraction === 0.5 && floor % 2 === 1)) return floor + 1;
  return floor;
}

/** WebIDL `[EnforceRange] unsigned short`. */
export function enforceUnsignedShort(value: unknown, what: string): number {
  const number = toNumber(value);
  if (!Number.isFinite(number)) throw new TypeError(`${what} must be a finite number.`);
  const integer = Math.trunc(number);
  if (integer < 0 || integer > 0xffff) throw new TypeError(`${what} is outside the range of an unsigned short.`);
  return integer;
}

function toNumber(value: unknown): number {
  if (typeof value === "symbol" || typeof value === "bigint") throw new TypeError("Cannot convert the value to a number.");
  return Number(value);
}

/**
 * "Validate close code and reason": a code other than 1000 or 3000-4999 is an
 * `InvalidAccessError`, a reason over 123 bytes of UTF-8 a `SyntaxError`.
 *
 * @param code The code, or null when none was given.
 * @param reason The reason, or null when none was given.
 * @throws {DOMException} `InvalidAccessError` or `SyntaxError`.
 */
export function validateCloseCodeAndReason(code: number | null, reason: string | null): void {
  if (code !== null && code !== 1000 && !(code >= 3000 && code <= 4999)) {
    throw domException(
      `The close code must be either 1000, or between 3000 and 4999. ${code} is neither.`,
      "InvalidAccessError",
    );
  }
  if (reason !== null && utf8Length(reason) > 123) {
    throw domException("The close reason must not be greater than 123 UTF-8 bytes.", "SyntaxError");
  }
}

/** How many bytes the string takes as UTF-8 (an unpaired surrogate as U+FFFD: 3). */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // A pair: 4 bytes for its 2 code units.
        bytes += 2;
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * A copy of the bytes of a WebIDL `BufferSource` (`ArrayBuffer` or
 * `ArrayBufferView`), or null for anything else. Shared and resizable
 * buffers are refused with a `TypeError`, as WebIDL does for a
 * `BufferSource` without `[AllowShared]` / `[AllowResizable]`.
 *
 * A copy: the message goes out after `send` returns, and the standard sends
 * the bytes as they were when it was called.
 */
export function copyBufferSource(value: unknown): Uint8Array | null {
  let buffer: ArrayBufferLike;
  let offset = 0;
  let length: number;
  if (value instanceof ArrayBuffer) {
    buffer = value;
    length = value.byteLength;
  } else if (ArrayBuffer.isView(value)) {
    buffer = value.buffer;
    offset = value.byteOffset;
    length = value.byteLength;
  } else if (typeof SharedArrayBuffer === "function" && value instanceof SharedArrayBuffer) {
    throw new TypeError("A SharedArrayBuffer cannot be sent.");
  } else {
    return null;
  }
  if (!(buffer instanceof ArrayBuffer)) throw new TypeError("A view on a SharedArrayBuffer cannot be sent.");
  if ((buffer as { resizable?: boolean }).resizable === true) throw new TypeError("A resizable ArrayBuffer cannot be sent.");
  return new Uint8Array(buffer, offset, length).slice();
}

/** The bytes as a fresh ArrayBuffer of exactly their length (the bytes' own buffer when it is exactly theirs). */
export function exactArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const buffer = bytes.buffer;
  if (buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength) return buffer;
  return bytes.slice().buffer;
}

/** The bytes as a plain `Uint8Array` viewing exactly them (a copy unless they already are one). */
export function exactUint8Array(bytes: Uint8Array): Uint8Array {
  if (bytes.constructor === Uint8Array && bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength) return bytes;
  return new Uint8Array(exactArrayBuffer(bytes));
}
