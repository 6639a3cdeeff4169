/**
 * The client's side of the opening handshake (RFC 6455 §4.1), as pure code:
 * the request head to send, the checks a response must pass, the bounded
 * body of a refusal, and where a redirect leads. No I/O: `src/client/attempt.ts`
 * and `src/opening.ts` move the bytes.
 *
 * @module
 */

import { concatBytes } from "../codec/pool.ts";
import { HandshakeError } from "../errors.ts";
import type { HeaderFields, HttpHead } from "./http.ts";
import { headerTokens } from "./http.ts";

/** How much of a refusal's body a {@link HandshakeError} keeps. */
export const MAX_ERROR_BODY = 64 * 1024;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Header fields the handshake itself sets; a caller's `headers` may not set
 * them, since a wrong value would break or fake the negotiation.
 */
const RESERVED_HEADERS = new Set([
  "connection",
  "upgrade",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
]);

/**
 * Normalises the `protocol` option: a string (a comma-separated list is
 * split and trimmed) or an array. RFC 6455 §4.1 item 10: each is a token,
 * each offered once.
 *
 * @param protocol The option as given.
 * @returns The protocols to offer, in order.
 * @throws {TypeError} For an empty, non-token or repeated protocol.
 */
export function parseProtocols(protocol: string | readonly string[] | undefined): string[] {
  if (protocol === undefined) return [];
  const list = typeof protocol === "string" ? headerTokens(protocol) : protocol.map((p) => String(p).trim());
  const seen = new Set<string>();
  for (const p of list) {
    if (!TOKEN.test(p)) throw new TypeError(`Invalid subprotocol ${JSON.stringify(p)}: it must be an HTTP token`);
    if (seen.has(p)) throw new TypeError(`Subprotocol ${JSON.stringify(p)} is offered twice`);
    seen.add(p);
  }
  return list;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary);
}

/**
 * An `Authorization` value for HTTP Basic authentication (RFC 7617), with
 * the user name and password encoded as UTF-8.
 *
 * @param user The user name; it may not contain a colon.
 * @param password The password.
 * @returns `"Basic " + base64(user ":" password)`.
 */
export function basicAuthorization(user: string, password: string): string {
  if (user.includes(":")) throw new TypeError("A Basic auth user name may not contain a colon (RFC 7617 §2)");
  return "Basic " + toBase64(new TextEncoder().encode(`${user}:${password}`));
}

/** What {@link buildRequestHead} needs. */
export interface ClientRequest {
  /** The `ws:` or `wss:` URL: its host, path and query are sent, its fragment and credentials never. */
  url: URL;
  /** The `Sec-WebSocket-Key` (see `generateKey`). */
  key: string;
  /** Subprotocols to offer, already checked by {@link parseProtocols}. */
  protocols: readonly string[];
  /**
   * Further header fields, name and value, in order (Origin, Authorization,
   * Cookie, the caller's own). A `Host` here replaces the one from the URL.
   */
  headers?: readonly (readonly [string, string])[];
}

/**
 * Checks a caller's header fields and returns them as name/value pairs in
 * order, names as given.
 *
 * @param init Headers as a `Headers`, a record or name/value pairs.
 * @returns The fields.
 * @throws {TypeError} For an invalid name or value, or a field the handshake sets itself.
 */
export function headerFields(init: HeaderFields | undefined): [string, string][] {
  if (init === undefined) return [];
  const fields: [string, string][] = init instanceof Headers
    ? [...init]
    : Array.isArray(init)
    ? init.map((pair) => {
      if (pair.length !== 2) throw new TypeError("A header must be a [name, value] pair");
      return [String(pair[0]), String(pair[1])];
    })
    : Object.entries(init as Record<string, string>).map(([name, value]) => [name, String(value)]);
  for (const [name, value] of fields) {
    // Headers validates names and values (no CR, LF or NUL), which is what
    // keeps a caller's value from injecting header lines.
    new Headers([[name, value]]);
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new TypeError(`Header ${name} is set by the handshake and cannot be given`);
    }
  }
  return fields;
}

/**
 * The request head of RFC 6455 §4.1: `GET`, `Host` (with the port only when
 * it is not the scheme's default), `Upgrade`, `Connection`,
 * `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13` and the offered
 * subprotocols, then the extra fields.
 *
 * @param request URL, key, protocols and extra fields.
 * @returns The head's bytes, ending with the blank line.
 */
export function buildRequestHead(request: ClientRequest): Uint8Array {
  const { url, key, protocols, headers = [] } = request;
  // §4.1 item 2: the path and query, never the fragment; "/" when empty.
  const target = (url.pathname || "/") + url.search;
  let host = url.host;
  const extra: string[] = [];
  for (const [name, value] of headers) {
    if (name.toLowerCase() === "host") host = value;
    else extra.push(`${name}: ${value}\r\n`);
  }
  let head = `GET ${target} HTTP/1.1\r\n` +
    `Host: ${host}\r\n` +
    "Upgrade: websocket\r\n" +
    "Connection: Upgrade\r\n" +
    `Sec-WebSocket-Key: ${key}\r\n` +
    "Sec-WebSocket-Version: 13\r\n";
  if (protocols.length > 0) head += `Sec-WebSocket-Protocol: ${protocols.join(", ")}\r\n`;
  head += extra.join("") + "\r\n";
  // Field values are byte strings (Headers checked them): one byte per code unit.
  const bytes = new Uint8Array(head.length);
  for (let i = 0; i < head.length; i++) bytes[i] = head.charCodeAt(i);
  return bytes;
}

/** What a successful handshake negotiated. */
export interface HandshakeResult {
  /** The subprotocol the server chose, or null. */
  protocol: string | null;
  /** The `Sec-WebSocket-Extensions` value, or "". */
  extensions: string;
}

/** What {@link validateResponse} checks against. */
export interface ResponseExpectations {
  /** `computeAccept(key)` for the key that was sent. */
  accept: string;
  /** The subprotocols that were offered. */
  protocols: readonly string[];
  /** Names of the extensions that were offered (none by default). */
  extensions?: readonly string[];
}

/**
 * Checks a response head per RFC 6455 §4.1 (the client's checks of the
 * server's handshake): status 101, `Upgrade: websocket`, a `Connection`
 * field with the `upgrade` token, the right `Sec-WebSocket-Accept`, at most
 * one subprotocol and only an offered one, only offered extensions.
 *
 * A server may choose no subprotocol although some were offered (§4.2.2
 * item 5.4): then `protocol` is null.
 *
 * @param head The parsed response head.
 * @param expected What the request offered and the accept value it implies.
 * @returns The negotiated subprotocol and extensions.
 * @throws {HandshakeError} Naming the first check that failed.
 */
export function validateResponse(head: HttpHead, expected: ResponseExpectations): HandshakeResult {
  const { headers } = head;
  const status = statusOf(head);
  const fail = (message: string, code: string): never => {
    throw new HandshakeError(message, { code, status, headers });
  };
  if (status !== 101) fail(`Server answered ${status} ${head.startLine[2]}, not 101 Switching Protocols`, "ERR_HANDSHAKE_STATUS");
  const upgrade = headers.get("upgrade");
  if (upgrade === null || upgrade.trim().toLowerCase() !== "websocket") {
    fail(`Server's 101 has Upgrade ${JSON.stringify(upgrade)}, not websocket`, "ERR_HANDSHAKE_UPGRADE");
  }
  if (!headerTokens(headers.get("connection")).some((t) => t.toLowerCase() === "upgrade")) {
    fail(
      `Server's 101 has Connection ${JSON.stringify(headers.get("connection"))}, without the upgrade token`,
      "ERR_HANDSHAKE_CONNECTION",
    );
  }
  const accept = headers.get("sec-websocket-accept");
  if (accept === null || accept.trim() !== expected.accept) {
    fail(
      `Server's Sec-WebSocket-Accept ${JSON.stringify(accept)} does not match the key (expected ${expected.accept})`,
      "ERR_HANDSHAKE_ACCEPT",
    );
  }
  return negotiated(headers, expected, fail);
}

/** The subprotocol and extensions a server's accepting answer chose, checked against what was offered. */
function negotiated(
  headers: Headers,
  expected: Pick<ResponseExpectations, "protocols" | "extensions">,
  fail: (message: string, code: string) => never,
): HandshakeResult {
  let protocol: string | null = null;
  const chosen = headers.get("sec-websocket-protocol");
  if (chosen !== null) {
    const tokens = headerTokens(chosen);
    if (tokens.length !== 1 || !expected.protocols.includes(tokens[0])) {
      fail(
        expected.protocols.length === 0
          ? `Server chose subprotocol ${JSON.stringify(chosen)} but none was offered`
          : `Server chose subprotocol ${JSON.stringify(chosen)}, not one of ${expected.protocols.join(", ")}`,
        "ERR_HANDSHAKE_PROTOCOL",
      );
    }
    protocol = tokens[0];
  }
  const extensions = headers.get("sec-websocket-extensions") ?? "";
  const offered = expected.extensions ?? [];
  for (const ext of headerTokens(extensions)) {
    const name = ext.split(";")[0].trim();
    if (!offered.includes(name)) {
      fail(`Server chose extension ${JSON.stringify(name)}, which was not offered`, "ERR_HANDSHAKE_EXTENSION");
    }
  }
  return { protocol, extensions: offered.length === 0 ? "" : extensions };
}

/**
 * The header fields of an extended CONNECT that opens a WebSocket on an
 * HTTP/2 stream (RFC 8441 §4-5): the pseudo-headers, the version, offered
 * subprotocols and the caller's fields, lowercased (RFC 9113 §8.2.2), with a
 * `Host` field turned into `:authority`. No `Sec-WebSocket-Key`.
 *
 * @param url The WebSocket URL; its path and query become `:path`.
 * @param protocols The subprotocols to offer.
 * @param fields Extra header fields (Origin, Authorization, Cookie, extensions...).
 * @returns The request's header fields, for `node:http2`'s `session.request`.
 */
export function connectRequestFields(
  url: URL,
  protocols: readonly string[],
  fields: readonly (readonly [string, string])[],
): Record<string, string> {
  const out: Record<string, string> = {
    ":method": "CONNECT",
    ":protocol": "websocket",
    ":scheme": url.protocol === "wss:" ? "https" : "http",
    ":path": (url.pathname || "/") + url.search,
    ":authority": url.host,
    "sec-websocket-version": "13",
  };
  if (protocols.length > 0) out["sec-websocket-protocol"] = protocols.join(", ");
  for (const [name, value] of fields) {
    const lower = name.toLowerCase();
    if (lower === "host") out[":authority"] = value;
    else if (lower in out && !lower.startsWith(":")) out[lower] += `, ${value}`;
    else out[lower] = value;
  }
  return out;
}

/**
 * Checks the answer to an extended CONNECT (RFC 8441 §5): a 2xx status, an
 * offered subprotocol (or none) and no extension that was not offered.
 *
 * @param status The `:status` of the response.
 * @param headers The response's regular header fields.
 * @param expected What was offered.
 * @returns The negotiated subprotocol and extensions.
 * @throws {HandshakeError} Naming the first check that failed.
 */
export function validateConnectResponse(
  status: number,
  headers: Headers,
  expected: Pick<ResponseExpectations, "protocols" | "extensions">,
): HandshakeResult {
  const fail = (message: string, code: string): never => {
    throw new HandshakeError(message, { code, status, headers });
  };
  if (status < 200 || status > 299) {
    fail(`Server answered the extended CONNECT with ${status}, not 200`, "ERR_HANDSHAKE_STATUS");
  }
  return negotiated(headers, expected, fail);
}

/**
 * The response's status code.
 *
 * @param head A parsed response head.
 * @returns The status.
 * @throws {HandshakeError} When the start line is not an HTTP/1.x status line.
 */
export function statusOf(head: HttpHead): number {
  const [version, code] = head.startLine;
  if (!/^HTTP\/1\.\d$/.test(version) || !/^[1-5]\d\d$/.test(code)) {
    throw new HandshakeError(`Server did not answer with an HTTP/1.x status line (${version} ${code})`, {
      code: "ERR_HANDSHAKE_MALFORMED",
      headers: head.headers,
    });
  }
  return Number(code);
}

/** Whether a status is a redirect `connect` can follow (RFC 9110 §15.4). */
export function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/**
 * Where a redirect leads: `Location` resolved against the current URL,
 * `http:` mapped to `ws:` and `https:` to `wss:`, the fragment dropped.
 *
 * @param location The `Location` field value.
 * @param current The URL that was redirected.
 * @returns The next `ws:` or `wss:` URL.
 * @throws {TypeError} When the location is not a URL or has another scheme.
 */
export function redirectTarget(location: string, current: URL): URL {
  const next = new URL(location.trim(), current);
  if (next.protocol === "http:") next.protocol = "ws:";
  else if (next.protocol === "https:") next.protocol = "wss:";
  if (next.protocol !== "ws:" && next.protocol !== "wss:") {
    throw new TypeError(`Redirect to ${next.protocol} is not a WebSocket URL`);
  }
  next.hash = "";
  return next;
}

/** How much of a refusal's body goes into the HandshakeError's message. */
export const MAX_REFUSAL_REASON = 200;

/**
 * The server's short reason for a refusal, for the error message: the
 * body's first non-empty line, with control characters (a terminal's escape
 * sequences included) replaced by spaces and cut to
 * {@link MAX_REFUSAL_REASON} characters. An HTML page has no short reason.
 *
 * @param body The start of the response body.
 * @param headers The response's header fields.
 * @returns The reason, or "" when there is none to show.
 */
export function refusalReason(body: Uint8Array, headers: Headers): string {
  if (body.length === 0 || /html/i.test(headers.get("content-type") ?? "")) return "";
  const text = new TextDecoder().decode(body.subarray(0, 4 * MAX_REFUSAL_REASON));
  const line = text.split(/\r?\n/).find((l) => l.trim() !== "") ?? "";
  // deno-lint-ignore no-control-regex
  const clean = line.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ").trim();
  if (clean.startsWith("<")) return "";
  return clean.length <= MAX_REFUSAL_REASON ? clean : `${clean.slice(0, MAX_REFUSAL_REASON - 1)}…`;
}

/**
 * Collects the start of a response body, for a {@link HandshakeError}:
 * `Content-Length` bytes, a chunked body decoded (RFC 9112 §7.1), or
 * everything until the connection closes, each at most `limit` bytes.
 */
export class ResponseBodyReader {
  readonly #limit: number;
  readonly #parts: Uint8Array[] = [];
  #size = 0;
  /** Body bytes still expected, for a `Content-Length` body. */
  #remaining: number;
  readonly #chunked: boolean;
  /** Chunked framing: bytes of the current chunk still to come, or -1 while reading a size line. */
  #chunkLeft = -1;
  /** Bytes of framing (size line, CRLF after data) to skip or parse. */
  #line = "";
  #skipCrlf = 0;
  #done = false;

  /**
   * @param headers The response's header fields.
   * @param limit The most bytes to keep.
   */
  constructor(headers: Headers, limit: number = MAX_ERROR_BODY) {
    this.#limit = limit;
    this.#chunked = headerTokens(headers.get("transfer-encoding")).some((t) => t.toLowerCase() === "chunked");
    const length = headers.get("content-length");
    this.#remaining = !this.#chunked && length !== null && /^\d+$/.test(length.trim())
      ? Number(length.trim())
      : Infinity;
    if (this.#remaining === 0) this.#done = true;
  }

  /** True once the body is complete or `limit` bytes were collected. */
  get done(): boolean {
    return this.#done;
  }

  /** The bytes collected so far. */
  get body(): Uint8Array {
    return concatBytes(this.#parts, this.#size);
  }

  /**
   * Feeds bytes that followed the head.
   *
   * @param chunk The next bytes.
   * @returns Whether the body is complete (see {@link ResponseBodyReader.done}).
   */
  push(chunk: Uint8Array): boolean {
    if (this.#done) return true;
    if (!this.#chunked) {
      this.#keep(chunk.subarray(0, Math.min(chunk.length, this.#remaining)));
      this.#remaining -= chunk.length;
      if (this.#remaining <= 0) this.#done = true;
      return this.#done;
    }
    let i = 0;
    while (i < chunk.length && !this.#done) {
      if (this.#skipCrlf > 0) {
        this.#skipCrlf--;
        i++;
      } else if (this.#chunkLeft > 0) {
        const n = Math.min(this.#chunkLeft, chunk.length - i);
        this.#keep(chunk.subarray(i, i + n));
        this.#chunkLeft -= n;
        i += n;
        if (this.#chunkLeft === 0) {
          this.#chunkLeft = -1;
          this.#skipCrlf = 2;
        }
      } else {
        const byte = chunk[i++];
        if (byte !== 10) {
          // Bounded: a size line longer than this is not a chunked body.
          if (this.#line.length > 1024) this.#done = true;
          this.#line += String.fromCharCode(byte);
          continue;
        }
        const size = parseInt(this.#line.split(";")[0].trim(), 16);
        this.#line = "";
        if (!(size > 0)) this.#done = true;
        else this.#chunkLeft = size;
      }
    }
    return this.#done;
  }

  #keep(bytes: Uint8Array): void {
    const room = this.#limit - this.#size;
    if (bytes.length >= room) {
      this.#parts.push(bytes.slice(0, room));
      this.#size += room;
      this.#done = true;
      return;
    }
    this.#parts.push(bytes.slice());
    this.#size += bytes.length;
  }
}
