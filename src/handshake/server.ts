/**
 * The server side of the opening handshake (RFC 6455 §4.2): checking an
 * upgrade request, choosing a subprotocol, and the bytes of the answer, 101
 * or an error. Pure: Web Platform APIs only, no I/O, so every listener
 * (node:http's "upgrade" event, Deno, Bun, node:net) shares it.
 *
 * @module
 */

import { type HeaderFields, headerTokens } from "./http.ts";
import { computeAccept, isValidKey } from "./key.ts";

/**
 * An opening-handshake request that passed the RFC 6455 §4.2.1 checks, as
 * `verify` and `onSocket` see it.
 *
 * @example
 * ```ts
 * import type { UpgradeRequest } from "@streamsock/streamsock";
 *
 * function describe(request: UpgradeRequest): string {
 *   return `${request.remoteAddress} asked for ${request.url} offering [${request.protocols}]`;
 * }
 * ```
 */
export interface UpgradeRequest {
  /** Always `"GET"`: anything else was refused with 405. */
  readonly method: string;
  /** The request target as sent, path and query: `"/chat?room=1"`. */
  readonly url: string;
  /** The request's header fields (repeated fields joined with ", "). */
  readonly headers: Headers;
  /** The subprotocols the client offered, trimmed, in its order of preference. */
  readonly protocols: readonly string[];
  /** The client's IP address, when the listener knows it. */
  readonly remoteAddress?: string;
  /**
   * `"1.1"` for an HTTP/1.1 upgrade (RFC 6455), `"2"` for an extended
   * CONNECT stream on an HTTP/2 connection (RFC 8441). The method is then
   * `"CONNECT"`, and `headers` has `host` set from `:authority`.
   */
  readonly httpVersion?: "1.1" | "2";
  /**
   * The node:http request the upgrade arrived with, for handlers given to a
   * node:http server's `"upgrade"` event (`requestHandler`): what middleware
   * attached to it (a session, a user) and Node's own view of it. Absent on
   * `serve`'s own listener and for HTTP/2 streams.
   *
   * @example The user a session middleware put on the request
   * ```ts
   * import { createServer, type IncomingMessage } from "node:http";
   * import { requestHandler } from "@streamsock/streamsock";
   *
   * const server = createServer();
   * server.on("upgrade", (req: IncomingMessage & { user?: string }) => (req.user = "alice"));
   * server.on("upgrade", requestHandler((ws, request) => {
   *   const user = (request.nodeRequest as { user?: string } | undefined)?.user;
   *   void ws.send(`hello ${user}`);
   * }));
   * ```
   */
  readonly nodeRequest?: NodeUpgradeRequest;
}

/**
 * The parts of node:http's `IncomingMessage` the handler reads; typed
 * structurally so that no runtime's type package is needed.
 *
 * @example
 * ```ts
 * import type { NodeUpgradeRequest } from "@streamsock/streamsock";
 * import type { IncomingMessage } from "node:http";
 *
 * const asRequest = (req: IncomingMessage): NodeUpgradeRequest => req;
 * ```
 */
export interface NodeUpgradeRequest {
  /** The request method. */
  method?: string;
  /** The request target. */
  url?: string;
  /** `"1.1"` for HTTP/1.1. */
  httpVersion?: string;
  /** Header names and values, alternating, as received. */
  rawHeaders: string[];
  /** The connection, for the client's address. */
  socket?: { remoteAddress?: string };
}

/** A refusal: the status, a short plain-text body and any extra header fields. */
export interface HandshakeRejection {
  /** The HTTP status code. */
  status: number;
  /** The plain-text body, one short sentence. */
  body: string;
  /** Extra header fields (`Sec-WebSocket-Version` for 426, `Allow` for 405...). */
  headers?: [string, string][];
  /** The body's media type. Defaults to `text/plain; charset=utf-8`. */
  contentType?: string;
  /**
   * Set when the refusal is the server's own fault (a 500): the error to
   * report, which is never sent to the client.
   */
  error?: unknown;
}

/** The parts of a checked request the handshake needs to answer it. */
export interface CheckedUpgrade {
  /** The client's `Sec-WebSocket-Key`. */
  key: string;
  /** The offered subprotocols, trimmed. */
  protocols: string[];
}

/**
 * What `verify` answers: `true` accepts; `false` refuses with 403; a number
 * refuses with that status (300-599); an object with a status refuses with
 * it, its header fields (`WWW-Authenticate`, `Location`...) and body. An
 * object with header fields and no status (or status 101) accepts, with
 * those fields on the 101 (or the 200 of an HTTP/2 extended CONNECT): a
 * session cookie set as the client is authenticated.
 *
 * @example Accept with a cookie on the 101
 * ```ts
 * import type { UpgradeRequest, VerifyResult } from "@streamsock/streamsock";
 *
 * function verify(request: UpgradeRequest): VerifyResult {
 *   if (request.headers.get("authorization") !== "Bearer s3cret") return 401;
 *   return { headers: [["Set-Cookie", "session=abc; HttpOnly; Secure"]] };
 * }
 * ```
 *
 * @example
 * ```ts
 * import type { UpgradeRequest, VerifyResult } from "@streamsock/streamsock";
 *
 * function verify(request: UpgradeRequest): VerifyResult {
 *   if (request.headers.get("authorization") === "Bearer s3cret") return true;
 *   return { status: 401, headers: { "WWW-Authenticate": "Bearer" }, body: "Token needed" };
 * }
 * ```
 */
export type VerifyResult = boolean | number | {
  status: number;
  headers?: HeaderFields;
  body?: string;
} | {
  status?: 101;
  headers: HeaderFields;
};

/** The status lines this module writes, and what verify() commonly picks. */
const REASONS: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Header fields a refusal sets itself; verify() may not override them.
const FRAMING_FIELDS = new Set(["connection", "content-length", "transfer-encoding", "content-type", "upgrade"]);

function reject(status: number, body: string, headers?: [string, string][]): HandshakeRejection {
  return headers === undefined ? { status, body } : { status, body, headers };
}

function serverFault(error: unknown): HandshakeRejection {
  return { status: 500, body: "The server failed to handle the WebSocket handshake", error };
}

/**
 * Checks an upgrade request against RFC 6455 §4.2.1, in an order that gives
 * each client the most useful answer: the method (405), the HTTP version
 * (400), a request that asks for no upgrade at all (426, so a plain HTTP
 * client learns that this is a WebSocket endpoint), the `Upgrade` and
 * `Connection` fields (400), the WebSocket version (426 with
 * `Sec-WebSocket-Version: 13`, checked before the key because older drafts
 * used other key fields) and the key and subprotocol syntax (400).
 *
 * @param method The request method.
 * @param version The HTTP version from the request line, e.g. `"HTTP/1.1"`.
 * @param headers The request's header fields.
 * @returns The key and offered subprotocols, or the refusal to send.
 */
export function checkUpgradeRequest(
  method: string,
  version: string,
  headers: Headers,
): CheckedUpgrade | HandshakeRejection {
  if (method !== "GET") {
    // RFC 9110 §15.5.6: a 405 lists the methods that are allowed.
    return reject(405, "A WebSocket handshake must use GET", [["Allow", "GET"]]);
  }
  if (version !== "HTTP/1.1") return reject(400, "A WebSocket handshake must use HTTP/1.1");
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered with 400.
  if (headers.get("host") === null) return reject(400, "The Host header field is missing");
  const upgrade = headers.get("upgrade");
  if (upgrade === null) {
    // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
    return reject(426, "This endpoint only speaks WebSocket", [
      ["Upgrade", "websocket"],
      ["Sec-WebSocket-Version", "13"],
    ]);
  }
  if (!headerTokens(upgrade).some((t) => t.toLowerCase() === "websocket")) {
    return reject(400, "The Upgrade header field must name websocket");
  }
  if (!headerTokens(headers.get("connection")).some((t) => t.toLowerCase() === "upgrade")) {
    return reject(400, "The Connection header field must contain upgrade");
  }
  const unsupported = checkVersion(headers);
  if (unsupported !== null) return unsupported;
  const key = headers.get("sec-websocket-key");
  if (key === null || !isValidKey(key)) {
    return reject(400, "Sec-WebSocket-Key must be the base64 encoding of 16 bytes");
  }
  const protocols = offeredProtocols(headers);
  return isRejection(protocols) ? protocols : { key, protocols };
}

/** RFC 6455 §4.2.2: an unsupported version is answered with the versions we speak. */
function checkVersion(headers: Headers): HandshakeRejection | null {
  if (headers.get("sec-websocket-version") === "13") return null;
  return reject(426, "Only WebSocket version 13 is supported", [["Sec-WebSocket-Version", "13"]]);
}

/** RFC 6455 §4.1: each offered subprotocol is an HTTP token. */
function offeredProtocols(headers: Headers): string[] | HandshakeRejection {
  const protocols = headerTokens(headers.get("sec-websocket-protocol"));
  if (!protocols.every((p) => TOKEN.test(p))) return reject(400, "Sec-WebSocket-Protocol must list tokens");
  return protocols;
}

/**
 * Checks an extended CONNECT request that opens a WebSocket on an HTTP/2
 * stream (RFC 8441 §4-5): `:method CONNECT` (else 405), `:protocol
 * websocket` (else 400), then the same version (426) and subprotocol (400)
 * checks as over HTTP/1.1. There is no `Sec-WebSocket-Key`: the stream
 * itself proves that both ends speak WebSocket.
 *
 * @param method The `:method` pseudo-header.
 * @param protocol The `:protocol` pseudo-header, or undefined when absent.
 * @param headers The request's regular header fields.
 * @returns The offered subprotocols, or the refusal to send.
 */
export function checkConnectRequest(
  method: string,
  protocol: string | undefined,
  headers: Headers,
): { protocols: string[] } | HandshakeRejection {
  if (method !== "CONNECT") {
    return reject(405, "A WebSocket over HTTP/2 must use extended CONNECT", [["Allow", "CONNECT"]]);
  }
  if (protocol !== "websocket") return reject(400, "The :protocol pseudo-header must be websocket");
  const unsupported = checkVersion(headers);
  if (unsupported !== null) return unsupported;
  const protocols = offeredProtocols(headers);
  return isRejection(protocols) ? protocols : { protocols };
}

/**
 * Chooses the subprotocol (Gerbil's `select-protocol`). `select` is called
 * only when the client offered protocols; with no `select` the handshake goes
 * on without one, which the RFC allows, and so does `""` from `select`.
 * `null` or `undefined` from `select` means none is acceptable: 400, as in
 * Gerbil, unless `required` is false (the handshake then goes on without a
 * subprotocol, as RFC 6455 §4.2.2 allows, and the client decides). A value
 * the client did not offer, or a throw, is the server's fault: 500, and the
 * value is never sent.
 *
 * @param offered The trimmed subprotocols the client offered.
 * @param select The application's choice.
 * @param required Whether a client whose offer gets no choice is refused. Defaults to true.
 * @returns The chosen subprotocol (or null for none), or the refusal.
 */
export function negotiateProtocol(
  offered: readonly string[],
  select: ((offered: string[]) => string | null | undefined) | undefined,
  required = true,
): { protocol: string | null } | HandshakeRejection {
  if (offered.length === 0 || select === undefined) return { protocol: null };
  let chosen: string | null | undefined;
  try {
    chosen = select([...offered]);
  } catch (err) {
    return serverFault(err);
  }
  if (chosen === null || chosen === undefined) {
    return required ? reject(400, "None of the offered subprotocols is supported") : { protocol: null };
  }
  if (chosen === "") return { protocol: null };
  if (!offered.includes(chosen)) {
    return serverFault(
      new TypeError(`selectProtocol returned ${JSON.stringify(chosen)}, which the client did not offer`),
    );
  }
  return { protocol: chosen };
}

/**
 * Turns what `verify` returned into a refusal, or null to accept. A value of
 * the wrong type or an out-of-range status is the server's fault (500).
 *
 * @param result What `verify` returned (or resolved to).
 * @returns The refusal to send, or null.
 */
export function verifyRejection(result: unknown): HandshakeRejection | null {
  if (result === true || verifyAcceptance(result) !== null) return null;
  if (result === false) return reject(403, "The server refused the WebSocket connection");
  const status = typeof result === "number" ? result : (result as { status?: unknown } | null)?.status;
  if (typeof status !== "number" || !Number.isInteger(status) || status < 300 || status > 599) {
    return serverFault(
      new TypeError("verify must return true, false, a status from 300 to 599, or { status, headers?, body? }"),
    );
  }
  if (typeof result === "number") return reject(status, REASONS[status] ?? "Refused");
  const { headers, body } = result as {
    headers?: Headers | Record<string, string> | [string, string][];
    body?: string;
  };
  const extra: [string, string][] = [];
  try {
    new Headers(headers).forEach((value, name) => {
      if (!FRAMING_FIELDS.has(name)) extra.push([name, value]);
    });
  } catch (err) {
    return serverFault(err);
  }
  return reject(status, body ?? REASONS[status] ?? "Refused", extra);
}

/**
 * The header fields `verify` accepted with (`{ headers }` without a status,
 * or with 101), in order, repeated names kept; null for any other result.
 */
export function verifyAcceptance(result: unknown): [string, string][] | null {
  if (result === null || typeof result !== "object") return null;
  const { status, headers } = result as { status?: unknown; headers?: unknown };
  if ((status !== undefined && status !== 101) || headers === undefined || headers === null) return null;
  if (Array.isArray(headers)) return headers.map(([name, value]) => [String(name), String(value)]);
  const fields: [string, string][] = [];
  if (headers instanceof Headers) {
    for (const cookie of headers.getSetCookie()) fields.push(["set-cookie", cookie]);
    headers.forEach((value, name) => {
      if (name !== "set-cookie") fields.push([name, value]);
    });
  } else for (const [name, value] of Object.entries(headers as Record<string, string>)) fields.push([name, String(value)]);
  return fields;
}

/** Tells a refusal from the other results of this module. */
export function isRejection(value: object): value is HandshakeRejection {
  return "status" in value;
}

const encoder = new TextEncoder();

/**
 * The bytes of a refusal: the status line, `Connection: close`, a short
 * plain-text body, and the connection is closed after it.
 *
 * @param rejection What to answer.
 * @returns The whole response.
 */
export function rejectionResponse(rejection: HandshakeRejection): Uint8Array {
  const body = encoder.encode(rejection.body + "\n");
  let head = `HTTP/1.1 ${rejection.status} ${REASONS[rejection.status] ?? ""}\r\n` +
    "Connection: close\r\n" +
    `Content-Type: ${rejection.contentType ?? "text/plain; charset=utf-8"}\r\n` +
    `Content-Length: ${body.length}\r\n`;
  for (const [name, value] of rejection.headers ?? []) head += `${name}: ${value}\r\n`;
  const headBytes = encoder.encode(head + "\r\n");
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes);
  out.set(body, headBytes.length);
  return out;
}

/**
 * The header fields of the 101 answer that completes the handshake (RFC
 * 6455 §4.2.2), in the order they are sent.
 *
 * @param key The client's `Sec-WebSocket-Key`.
 * @param protocol The chosen subprotocol, or null to send none.
 * @param extensions The accepted `Sec-WebSocket-Extensions` value, if any.
 * @returns The fields, names as sent.
 */
export async function acceptHeaders(
  key: string,
  protocol: string | null,
  extensions?: string,
): Promise<[string, string][]> {
  const fields: [string, string][] = [
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Accept", await computeAccept(key)],
  ];
  if (protocol !== null) fields.push(["Sec-WebSocket-Protocol", protocol]);
  if (extensions !== undefined && extensions !== "") fields.push(["Sec-WebSocket-Extensions", extensions]);
  return fields;
}

/** RFC 9113 §8.2.2: fields an HTTP/2 message must not carry (and `te` only as "trailers"). */
const HTTP1_ONLY_FIELDS = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

/**
 * Checks header fields an application adds to an answer (the `onHeaders`
 * hook): RFC 9110 §5.1 names, §5.5 values without CR, LF or NUL, so that
 * nothing can split the response; over HTTP/2, none of the connection-specific
 * fields RFC 9113 §8.2.2 forbids.
 *
 * @param fields The fields to send.
 * @param http2 Whether they go in an HTTP/2 response.
 * @throws {TypeError} Naming the first invalid field.
 */
export function checkResponseFields(fields: readonly (readonly [string, string])[], http2 = false): void {
  for (const field of fields) {
    if (!Array.isArray(field) || field.length !== 2) throw new TypeError("A header field must be a [name, value] pair");
    const [name, value] = field;
    if (typeof name !== "string" || !TOKEN.test(name)) throw new TypeError(`Invalid header name ${JSON.stringify(name)}`);
    if (typeof value !== "string" || /[\r\n\0]/.test(value)) {
      throw new TypeError(`Invalid value for header ${name}: ${JSON.stringify(value)}`);
    }
    const lower = name.toLowerCase();
    if (http2 && (HTTP1_ONLY_FIELDS.has(lower) || (lower === "te" && value.trim().toLowerCase() !== "trailers"))) {
      throw new TypeError(`${name} is connection-specific: an HTTP/2 response must not carry it (RFC 9113 §8.2.2)`);
    }
  }
}

/**
 * The bytes of the 101 answer that completes the handshake.
 *
 * @param fields Its header fields, from {@link acceptHeaders} and the application.
 * @returns The whole response head.
 */
export function switchingProtocolsHead(fields: readonly (readonly [string, string])[]): Uint8Array {
  let head = "HTTP/1.1 101 Switching Protocols\r\n";
  for (const [name, value] of fields) head += `${name}: ${value}\r\n`;
  return encoder.encode(head + "\r\n");
}
