/**
 * Typed errors. Every failure streamsock reports is a {@link WebSocketError}
 * with a stable `code` string and, where the RFC defines one, the close code
 * the connection was (or will be) closed with.
 *
 * @module
 */

/**
 * Options accepted by the {@link WebSocketError} constructor.
 *
 * @example
 * ```ts
 * import { WebSocketError, type WebSocketErrorOptions } from "@streamsock/streamsock";
 *
 * const options: WebSocketErrorOptions = { code: "ERR_APP", closeCode: 4000 };
 * throw new WebSocketError("The application gave up", options);
 * ```
 */
export interface WebSocketErrorOptions {
  /** Stable, machine-readable identifier such as `"ERR_INVALID_UTF8"`. */
  code?: string;
  /** The RFC 6455 close code that goes with this failure, if any. */
  closeCode?: number;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The base class of every error streamsock throws or rejects with.
 *
 * @example Telling a protocol failure from other errors
 * ```ts
 * import { WebSocketError } from "@streamsock/streamsock";
 *
 * const err = new WebSocketError("Something failed", { code: "ERR_EXAMPLE", closeCode: 1011 });
 * console.log(err instanceof WebSocketError, err.code, err.closeCode); // true ERR_EXAMPLE 1011
 * ```
 */
export class WebSocketError extends Error {
  /** Stable, machine-readable identifier. */
  readonly code: string;
  /** The close code that goes with this failure, if any. */
  readonly closeCode: number | undefined;

  /**
   * Creates an error with a stable code and an optional close code.
   *
   * @param message What failed and why, in sentence case.
   * @param options Code, close code and cause.
   */
  constructor(message: string, options: WebSocketErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? "ERR_WEBSOCKET";
    this.closeCode = options.closeCode;
  }
}

/**
 * The peer broke RFC 6455 (or RFC 7692): a malformed frame, a bad close
 * payload, invalid UTF-8 in a text message. `closeCode` is 1002 or 1007.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "@streamsock/streamsock";
 *
 * const err = new ProtocolError("Reserved opcode 3", { code: "ERR_RESERVED_OPCODE", closeCode: 1002 });
 * console.log(err.closeCode); // 1002
 * ```
 */
export class ProtocolError extends WebSocketError {}

/**
 * A frame or message is larger than the configured limit; `closeCode` is 1009.
 *
 * @example
 * ```ts
 * import { MessageTooBigError } from "@streamsock/streamsock";
 *
 * const err = new MessageTooBigError("Frame of 2000000 bytes exceeds maxFrameSize 1048576");
 * console.log(err.closeCode, err.code); // 1009 ERR_MESSAGE_TOO_BIG
 * ```
 */
export class MessageTooBigError extends WebSocketError {
  /**
   * Creates a 1009 error.
   *
   * @param message What was too big, and the limit.
   * @param options Optional cause.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: "ERR_MESSAGE_TOO_BIG", closeCode: 1009, cause: options.cause });
  }
}

/**
 * The 1009 for a received frame over `maxFrameSize`. Its message is also the
 * close reason the peer reads (at most 123 bytes), so it names the option and
 * how to get past it: the default (1 MiB, Gerbil's) refuses a single 2 MB
 * frame, which browsers and `ws` send for a 2 MB message.
 *
 * @param frame What was too big, e.g. "Frame of 2000000 bytes".
 * @param limit The receiver's `maxFrameSize`.
 * @returns The error to fail the connection with.
 */
export function frameTooBigError(frame: string, limit: number): MessageTooBigError {
  return new MessageTooBigError(
    `${frame} exceeds the receiver's maxFrameSize ${limit}; raise that option to accept larger frames`,
  );
}

/**
 * The connection is closed (or closing) and cannot do what was asked.
 * `closeCode` and `reason` say how it closed: 1006 when the transport went
 * away without a closing handshake.
 *
 * @example
 * ```ts
 * import { ConnectionClosedError } from "@streamsock/streamsock";
 *
 * const err = new ConnectionClosedError(1000, "bye");
 * console.log(err.message); // Connection is closed (1000 bye)
 * ```
 */
export class ConnectionClosedError extends WebSocketError {
  /** The close reason, if any. */
  readonly reason: string;

  /**
   * Creates the error for a closed connection.
   *
   * @param closeCode The code the connection closed with.
   * @param reason The reason the connection closed with.
   * @param options Optional cause.
   */
  constructor(closeCode: number, reason = "", options: { cause?: unknown } = {}) {
    super(`Connection is closed (${closeCode}${reason ? " " + reason : ""})`, {
      code: "ERR_CLOSED",
      closeCode,
      cause: options.cause,
    });
    this.reason = reason;
  }
}

/**
 * An operation did not finish in time (opening handshake, closing handshake,
 * keepalive pong).
 *
 * @example
 * ```ts
 * import { TimeoutError } from "@streamsock/streamsock";
 *
 * const err = new TimeoutError("Opening handshake did not finish within 5000 ms");
 * console.log(err.code); // ERR_TIMEOUT
 * ```
 */
export class TimeoutError extends WebSocketError {
  /**
   * Creates a timeout error.
   *
   * @param message What timed out.
   * @param options Optional close code and cause.
   */
  constructor(message: string, options: { closeCode?: number; cause?: unknown } = {}) {
    super(message, { code: "ERR_TIMEOUT", ...options });
  }
}

/**
 * What the server answered, carried by a {@link HandshakeError}.
 *
 * @example
 * ```ts
 * import { HandshakeError, type HandshakeErrorOptions } from "@streamsock/streamsock";
 *
 * const answer: HandshakeErrorOptions = { code: "ERR_HANDSHAKE_STATUS", status: 403, headers: new Headers() };
 * console.log(new HandshakeError("Server answered 403 Forbidden", answer).status); // 403
 * ```
 */
export interface HandshakeErrorOptions {
  /** Stable identifier such as `"ERR_HANDSHAKE_STATUS"`. Defaults to `"ERR_HANDSHAKE"`. */
  code?: string;
  /** The HTTP status of the response; 0 when no valid response head arrived. */
  status?: number;
  /** The response's header fields. */
  headers?: Headers;
  /** The first bytes (at most 64 KiB) of the response body. */
  body?: Uint8Array;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The opening handshake failed (RFC 6455 §4.1): the server did not answer
 * 101, or its 101 did not prove it speaks WebSocket to us (wrong
 * `Sec-WebSocket-Accept`, a subprotocol or extension we did not offer), or a
 * redirect could not be followed. It says what the server answered.
 *
 * @example Reading a refusal
 * ```ts
 * import { connect, HandshakeError } from "@streamsock/streamsock";
 *
 * try {
 *   await connect("ws://127.0.0.1:8080/private");
 * } catch (err) {
 *   if (err instanceof HandshakeError) {
 *     console.log(err.status, err.headers.get("content-type"), new TextDecoder().decode(err.body));
 *   }
 * }
 * ```
 */
export class HandshakeError extends WebSocketError {
  /** The HTTP status of the response; 0 when no valid response head arrived. */
  readonly status: number;
  /** The response's header fields (empty when no valid head arrived). */
  readonly headers: Headers;
  /** The first bytes (at most 64 KiB) of the response body; empty for a 101 or a redirect. */
  readonly body: Uint8Array;

  /**
   * Creates a handshake error.
   *
   * @param message What failed, in sentence case.
   * @param options The code and what the server answered.
   */
  constructor(message: string, options: HandshakeErrorOptions = {}) {
    super(message, { code: options.code ?? "ERR_HANDSHAKE", cause: options.cause });
    this.status = options.status ?? 0;
    this.headers = options.headers ?? new Headers();
    this.body = options.body ?? new Uint8Array(0);
  }
}

/**
 * The TCP connection for {@link connect} could not be opened or was lost
 * before the handshake finished: refused, reset, unreachable, timed out in
 * the operating system, or a host name that does not resolve; or its TLS
 * could not be set up: a certificate that is not trusted, has expired or
 * names another host, or a server that does not speak TLS at all. `code`
 * and the message are the same on every runtime (`ECONNREFUSED`,
 * `ECONNRESET`, `EHOSTUNREACH`, `ENETUNREACH`, `ETIMEDOUT`, `ENOTFOUND`,
 * `ERR_TLS_CERT_UNTRUSTED`, `ERR_TLS_CERT_EXPIRED`, `ERR_TLS_CERT_NAME`,
 * `ERR_TLS_NOT_TLS`); the runtime's own error is the `cause`.
 *
 * @example Retrying while a server starts
 * ```ts
 * import { connect, ConnectError } from "@streamsock/streamsock";
 *
 * try {
 *   await connect("ws://127.0.0.1:9/");
 * } catch (err) {
 *   if (err instanceof ConnectError && err.code === "ECONNREFUSED") console.log(err.message); // Connection refused by 127.0.0.1:9
 * }
 * ```
 */
export class ConnectError extends WebSocketError {
  /** The host that was dialled, as in the URL (IPv6 in brackets). */
  readonly hostname: string;
  /** The port that was dialled. */
  readonly port: number;

  /**
   * Creates the error for a connection that could not be opened.
   *
   * @param message What happened, naming the host and port.
   * @param options The stable code, the address, and the runtime's error.
   */
  constructor(message: string, options: { code: string; hostname: string; port: number; cause?: unknown }) {
    super(message, { code: options.code, cause: options.cause });
    this.hostname = options.hostname;
    this.port = options.port;
  }
}

// The runtimes' own names for the same failure: Node's and Bun's `code`,
// Deno's error class names (Deno.errors.*) and, for a name that does not
// resolve, Deno's message (its error has neither code nor class).
const CONNECT_FAILURES: [code: string, names: string[], describe: (address: string) => string][] = [
  ["ECONNREFUSED", ["ECONNREFUSED", "ConnectionRefused"], (a) => `Connection refused by ${a}`],
  ["ECONNRESET", ["ECONNRESET", "EPIPE", "ConnectionReset", "BrokenPipe", "ConnectionAborted"], (a) =>
    `Connection reset by ${a} during the opening handshake`],
  ["EHOSTUNREACH", ["EHOSTUNREACH", "HostUnreachable"], (a) => `Host ${a} is unreachable`],
  ["ENETUNREACH", ["ENETUNREACH", "NetworkUnreachable"], (a) => `Network unreachable for ${a}`],
  ["ETIMEDOUT", ["ETIMEDOUT", "TimedOut"], (a) => `Connection to ${a} timed out`],
  ["ENOTFOUND", ["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME"], (a) => `Cannot resolve the host of ${a}`],
];
const DENO_LOOKUP_FAILURE = "failed to lookup address";

/** What to do about a certificate that is not accepted, for every certificate failure's message. */
const TRUST_HINT = "trust its CA with tls: { ca } (CLI: --ca <file>), or, for testing only, skip verification " +
  "with tls: { rejectUnauthorized: false } (CLI: --insecure)";

// TLS failures while opening a connection, by the codes Node's, Deno's and
// Bun's node:tls give them (Deno's rustls names some only in its message):
// one stable code and one wording on every runtime, with a way out.
const TLS_FAILURES: [code: string, names: string[], pattern: RegExp | null, describe: (address: string) => string][] = [
  [
    "ERR_TLS_CERT_UNTRUSTED",
    [
      "DEPTH_ZERO_SELF_SIGNED_CERT",
      "SELF_SIGNED_CERT_IN_CHAIN",
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "UNABLE_TO_GET_ISSUER_CERT",
      "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
      "CERT_UNTRUSTED",
      "CERT_REJECTED",
    ],
    /UnknownIssuer|self[- ]signed/i,
    (a) => `The TLS certificate of ${a} is not trusted (self-signed, or issued by an unknown CA): ${TRUST_HINT}`,
  ],
  [
    "ERR_TLS_CERT_EXPIRED",
    ["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"],
    /\b(Expired|NotValidYet)\b/,
    (a) => `The TLS certificate of ${a} has expired or is not valid yet: renew it, or ${TRUST_HINT}`,
  ],
  [
    "ERR_TLS_CERT_NAME",
    ["ERR_TLS_CERT_ALTNAME_INVALID"],
    /NotValidForName/,
    (a) =>
      `The TLS certificate of ${a} is not issued for that name: connect with a name it lists, or set ` +
      "tls: { serverName } to one (for testing only, tls: { rejectUnauthorized: false }, CLI: --insecure, skips the check)",
  ],
  [
    "ERR_TLS_NOT_TLS",
    ["ERR_SSL_WRONG_VERSION_NUMBER", "ERR_SSL_PACKET_LENGTH_TOO_LONG", "ERR_SSL_HTTP_REQUEST", "ERR_SSL_UNKNOWN_PROTOCOL"],
    /wrong version number|packet length too long|InvalidContentType|corrupt message/i,
    (a) => `${a} does not speak TLS: it answered a TLS handshake in plain text (a ws:// port? then use ws://)`,
  ],
];

function tlsFailureOf(code: unknown, message: string): (typeof TLS_FAILURES)[number] | undefined {
  return TLS_FAILURES.find(([, names]) => names.includes(String(code))) ??
    TLS_FAILURES.find(([, , pattern]) => pattern !== null && pattern.test(message));
}

/**
 * Maps a runtime's socket error met while connecting to a
 * {@link ConnectError} with the same code and message on every runtime:
 * connection failures (`ECONNREFUSED` ...) and TLS failures
 * (`ERR_TLS_CERT_UNTRUSTED`, `ERR_TLS_CERT_EXPIRED`, `ERR_TLS_CERT_NAME`,
 * `ERR_TLS_NOT_TLS`); anything else (an abort) is returned as it is.
 *
 * @param err What the runtime threw or reported.
 * @param hostname The host dialled, as in the URL.
 * @param port The port dialled.
 * @returns The ConnectError, or `err`.
 */
export function connectErrorOf(err: unknown, hostname: string, port: number): unknown {
  if (!(err instanceof Error) || err instanceof WebSocketError) return err;
  const { code, name, message } = err as Error & { code?: unknown };
  const tls = tlsFailureOf(code, message);
  if (tls !== undefined) {
    return new ConnectError(tls[3](`${hostname}:${port}`), { code: tls[0], hostname, port, cause: err });
  }
  const lookup = message.startsWith(DENO_LOOKUP_FAILURE);
  for (const [stable, names, describe] of CONNECT_FAILURES) {
    if (names.includes(String(code)) || names.includes(name) || (lookup && stable === "ENOTFOUND")) {
      return new ConnectError(describe(`${hostname}:${port}`), { code: stable, hostname, port, cause: err });
    }
  }
  return err;
}

/**
 * What a proxy answered, carried by a {@link ProxyError}.
 *
 * @example
 * ```ts
 * import { ProxyError, type ProxyErrorOptions } from "@streamsock/streamsock";
 *
 * const answer: ProxyErrorOptions = { code: "ERR_PROXY_AUTH", proxy: "http://proxy.test:3128", status: 407 };
 * console.log(new ProxyError("Proxy answered 407 Proxy Authentication Required", answer).status); // 407
 * ```
 */
export interface ProxyErrorOptions {
  /** Stable identifier such as `"ERR_PROXY_STATUS"`. Defaults to `"ERR_PROXY"`. */
  code?: string;
  /** The proxy's URL, without credentials. */
  proxy?: string;
  /** The HTTP status an HTTP proxy answered CONNECT with; 0 otherwise. */
  status?: number;
  /** The header fields of that answer. */
  headers?: Headers;
  /** The reply code a SOCKS5 proxy answered with (RFC 1928 §6), or -1. */
  socksReply?: number;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The proxy between the client and the WebSocket server could not be
 * reached or refused the tunnel: an HTTP proxy answered CONNECT with
 * something other than 2xx (407, 403, 502...), or a SOCKS5 proxy refused
 * the authentication or the connection. Not a {@link HandshakeError}: the
 * WebSocket server was never asked.
 *
 * @example Telling the proxy's refusal from the server's
 * ```ts
 * import { connect, HandshakeError, ProxyError } from "@streamsock/streamsock";
 *
 * try {
 *   await connect("wss://example.test/", { proxy: "http://proxy.test:3128" });
 * } catch (err) {
 *   if (err instanceof ProxyError) console.log("proxy said", err.status, err.message);
 *   else if (err instanceof HandshakeError) console.log("server said", err.status);
 * }
 * ```
 */
export class ProxyError extends WebSocketError {
  /** The proxy's URL, without credentials. */
  readonly proxy: string;
  /** The HTTP status an HTTP proxy answered CONNECT with; 0 for SOCKS or when none arrived. */
  readonly status: number;
  /** The header fields of that answer (empty when none arrived). */
  readonly headers: Headers;
  /** The SOCKS5 reply code (RFC 1928 §6), or -1 when there was none. */
  readonly socksReply: number;

  /**
   * Creates a proxy error.
   *
   * @param message What the proxy answered, in sentence case.
   * @param options The code and the proxy's answer.
   */
  constructor(message: string, options: ProxyErrorOptions = {}) {
    super(message, { code: options.code ?? "ERR_PROXY", cause: options.cause });
    this.proxy = options.proxy ?? "";
    this.status = options.status ?? 0;
    this.headers = options.headers ?? new Headers();
    this.socksReply = options.socksReply ?? -1;
  }
}
