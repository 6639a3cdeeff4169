/**
 * A bounded, incremental HTTP/1.1 head parser (RFC 9112 §2-5) for the
 * opening handshake: request heads on the server, response heads on the
 * client. Hostile input is bounded: the head may not exceed `maxHeadSize`
 * bytes nor `maxHeaders` fields.
 *
 * @module
 */

/** A parsed HTTP head. */
export interface HttpHead {
  /** The start line's three parts: method, target, version for a request; version, status, reason for a response. */
  startLine: [string, string, string];
  /** Header fields; repeated fields are joined with ", " as `Headers` does. */
  headers: Headers;
  /** Bytes that followed the head in the same reads (the first WebSocket frames). */
  rest: Uint8Array;
}

/** Why a head was refused; `status` is what a server answers (400 or 431). */
export class HttpHeadError extends Error {
  /** The HTTP status a server should answer with. */
  readonly status: number;
  /** The bytes are a TLS record, not HTTP: the other end speaks TLS where we expect plain HTTP. */
  readonly tls: boolean;
  /**
   * @param message What is wrong with the head.
   * @param status 400 for malformed heads, 431 for oversized ones.
   * @param tls Whether the bytes were a TLS record.
   */
  constructor(message: string, status: number, tls = false) {
    super(message);
    this.name = "HttpHeadError";
    this.status = status;
    this.tls = tls;
  }
}

/**
 * Whether bytes start like a TLS record (RFC 8446 §5.1): a content type
 * (change_cipher_spec 20, alert 21, handshake 22, application_data 23) and
 * a 3.x version. An HTTP head starts with a token or "HTTP/", never these.
 */
function isTlsRecord(bytes: Uint8Array): boolean {
  return bytes[0] >= 0x14 && bytes[0] <= 0x17 && bytes[1] === 0x03 && bytes[2] <= 0x04;
}

/** Limits for {@link HttpHeadParser}. */
export interface HttpHeadLimits {
  /** Largest head in bytes, start line and blank line included. Defaults to 16 KiB. */
  maxHeadSize?: number;
  /** Most header fields. Defaults to 100. */
  maxHeaders?: number;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const latin1 = new TextDecoder("latin1");

/**
 * Accumulates bytes until a complete head (ending in CRLF CRLF) has arrived.
 * `push` returns null while more bytes are needed, and throws
 * {@link HttpHeadError} as soon as the input cannot become a valid head.
 */
export class HttpHeadParser {
  readonly #maxHeadSize: number;
  readonly #maxHeaders: number;
  #buffer = new Uint8Array(0);
  #scanned = 0;
  /** Line ends (CRLF) seen so far, and how far they were counted. */
  #lineEnds = 0;
  #countedTo = 1;

  /** @param limits Size and field-count bounds. */
  constructor(limits: HttpHeadLimits = {}) {
    this.#maxHeadSize = limits.maxHeadSize ?? 16 * 1024;
    this.#maxHeaders = limits.maxHeaders ?? 100;
  }

  /** Feeds bytes; returns the head once complete. */
  push(chunk: Uint8Array): HttpHead | null {
    const before = this.#buffer.length;
    const merged = new Uint8Array(before + chunk.length);
    merged.set(this.#buffer);
    merged.set(chunk, before);
    this.#buffer = merged;
    // A TLS ClientHello at a plain port (or a TLS alert answering a plain
    // request) never ends in CRLF CRLF: say so at once rather than at the deadline.
    if (before < 3 && merged.length >= 3 && isTlsRecord(merged)) {
      throw new HttpHeadError("The bytes are a TLS record, not HTTP", 400, true);
    }
    const end = this.#findEnd();
    if (end < 0) {
      if (this.#buffer.length > this.#maxHeadSize) {
        throw new HttpHeadError(`HTTP head exceeds ${this.#maxHeadSize} bytes`, 431);
      }
      // Too many fields is refused as soon as they are there, not when the head ends.
      if (this.#countLineEnds() - 1 > this.#maxHeaders) {
        throw new HttpHeadError(`HTTP head has more than ${this.#maxHeaders} header fields`, 431);
      }
      return null;
    }
    if (end > this.#maxHeadSize) throw new HttpHeadError(`HTTP head exceeds ${this.#maxHeadSize} bytes`, 431);
    const head = this.#parse(latin1.decode(this.#buffer.subarray(0, end - 4)));
    head.rest = this.#buffer.slice(end);
    this.#buffer = new Uint8Array(0);
    return head;
  }

  /** The CRLFs in the buffer: the start line's and one per complete field line. */
  #countLineEnds(): number {
    const b = this.#buffer;
    for (let i = this.#countedTo; i < b.length; i++) if (b[i] === 10 && b[i - 1] === 13) this.#lineEnds++;
    this.#countedTo = Math.max(1, b.length);
    return this.#lineEnds;
  }

  /** Offset just past CRLF CRLF, or -1. */
  #findEnd(): number {
    const b = this.#buffer;
    for (let i = Math.max(0, this.#scanned - 3); i + 3 < b.length; i++) {
      if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i + 4;
    }
    this.#scanned = b.length;
    return -1;
  }

  #parse(text: string): HttpHead {
    const lines = text.split("\r\n");
    const start = lines[0].split(" ");
    if (start.length < 3 || start[0] === "" || start[1] === "") {
      throw new HttpHeadError(`Malformed HTTP start line ${JSON.stringify(lines[0].slice(0, 100))}`, 400);
    }
    const startLine: [string, string, string] = [start[0], start[1], start.slice(2).join(" ")];
    if (lines.length - 1 > this.#maxHeaders) {
      throw new HttpHeadError(`HTTP head has more than ${this.#maxHeaders} header fields`, 431);
    }
    const headers = new Headers();
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(":");
      const name = colon > 0 ? line.slice(0, colon) : "";
      if (!TOKEN.test(name)) {
        throw new HttpHeadError(`Malformed HTTP header line ${JSON.stringify(line.slice(0, 100))}`, 400);
      }
      try {
        headers.append(name, line.slice(colon + 1).trim());
      } catch {
        throw new HttpHeadError(`Invalid value for HTTP header ${name}`, 400);
      }
    }
    return { startLine, headers, rest: new Uint8Array(0) };
  }
}

/**
 * Header fields as callers give them: a `Headers`, a record or name/value
 * pairs. Spelled out rather than DOM's `HeadersInit`, a name Node-only
 * TypeScript projects (no DOM lib) cannot resolve in our published types.
 *
 * @example
 * ```ts
 * import type { HeaderFields } from "@streamsock/streamsock";
 *
 * const asRecord: HeaderFields = { "X-Trace": "abc" };
 * const asPairs: HeaderFields = [["X-Trace", "abc"], ["X-Trace", "def"]];
 * console.log(asRecord, asPairs);
 * ```
 */
export type HeaderFields = Headers | Record<string, string> | [string, string][];

/** Splits a comma-separated header value into trimmed, non-empty tokens. */
export function headerTokens(value: string | null): string[] {
  if (value === null) return [];
  return value.split(",").map((t) => t.trim()).filter((t) => t !== "");
}
