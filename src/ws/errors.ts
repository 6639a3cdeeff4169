/**
 * ws's errors from streamsock's: the messages, `code` strings and error
 * classes `ws` 8 gives its `'error'` listeners, so that code matching on
 * them keeps working. Each mapping reads the stable `code` of our error
 * (and the number our message names where ws's message names it too).
 *
 * @module
 */

import {
  ConnectError,
  HandshakeError,
  MessageTooBigError,
  ProtocolError,
  TimeoutError,
  WebSocketError,
} from "../errors.ts";

/** An error as ws hands it out: `code` is one of ws's `WS_ERR_*` strings or a system error code. */
export type WsError = Error & { code?: string };

function withCode<E extends Error>(error: E, code: string | undefined): E & { code?: string } {
  if (code !== undefined) {
    Object.defineProperty(error, "code", { value: code, writable: true, configurable: true, enumerable: true });
  }
  return error;
}

/** The first number in `text`, as ws's messages name the opcode or the status code. */
function numberIn(text: string): string {
  return /\d+/.exec(text)?.[0] ?? "";
}

/**
 * The error ws's receiver reports for what the peer sent: a `RangeError`
 * (an `Error` for invalid UTF-8) with ws's message and `WS_ERR_*` code.
 *
 * @param err The error that failed the connection.
 * @returns ws's error, or `err` itself when ws has no counterpart.
 */
export function receiveErrorOf(err: unknown): unknown {
  if (!(err instanceof WebSocketError)) return err;
  const frame = (message: string, code: string, type: ErrorConstructor | RangeErrorConstructor = RangeError) =>
    withCode(new type(`Invalid WebSocket frame: ${message}`), code);
  if (err instanceof MessageTooBigError) {
    return withCode(new RangeError("Max payload size exceeded"), "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH");
  }
  if (!(err instanceof ProtocolError)) return err;
  switch (err.code) {
    case "ERR_RESERVED_BITS": {
      // Our message names the bits as three binary digits, RSV1 first.
      const bits = /RSV bits ([01]{3})/.exec(err.message)?.[1] ?? "000";
      return bits[1] === "1" || bits[2] === "1"
        ? frame("RSV2 and RSV3 must be clear", "WS_ERR_UNEXPECTED_RSV_2_3")
        : frame("RSV1 must be clear", "WS_ERR_UNEXPECTED_RSV_1");
    }
    case "ERR_RSV1_CONTROL":
    case "ERR_RSV1_CONTINUATION":
      return frame("RSV1 must be clear", "WS_ERR_UNEXPECTED_RSV_1");
    case "ERR_RESERVED_OPCODE":
      return frame(`invalid opcode ${numberIn(err.message)}`, "WS_ERR_INVALID_OPCODE");
    case "ERR_UNEXPECTED_CONTINUATION":
      return frame("invalid opcode 0", "WS_ERR_INVALID_OPCODE");
    case "ERR_EXPECTED_CONTINUATION":
      return frame(`invalid opcode ${numberIn(err.message)}`, "WS_ERR_INVALID_OPCODE");
    case "ERR_FRAGMENTED_CONTROL":
      return frame("FIN must be set", "WS_ERR_EXPECTED_FIN");
    case "ERR_CONTROL_TOO_LONG":
      return frame("invalid payload length", "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH");
    case "ERR_INVALID_CLOSE_PAYLOAD":
      return frame("invalid payload length 1", "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH");
    case "ERR_UNMASKED_FRAME":
      return frame("MASK must be set", "WS_ERR_EXPECTED_MASK");
    case "ERR_MASKED_FRAME":
      return frame("MASK must be clear", "WS_ERR_UNEXPECTED_MASK");
    case "ERR_INVALID_LENGTH":
      return withCode(
        new RangeError("Unsupported WebSocket frame: payload length > 2^53 - 1"),
        "WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH",
      );
    case "ERR_INVALID_CLOSE_CODE":
      return frame(`invalid status code ${numberIn(err.message)}`, "WS_ERR_INVALID_CLOSE_CODE");
    case "ERR_INVALID_UTF8":
      return frame("invalid UTF-8 sequence", "WS_ERR_INVALID_UTF8", Error);
    default:
      return err;
  }
}

/** What the client knew when its handshake failed, to word ws's message. */
export interface HandshakeContext {
  /** The subprotocols offered. */
  protocols: readonly string[];
  /** Whether permessage-deflate was offered. */
  offeredExtensions: boolean;
}

/**
 * The error ws's client reports when its opening handshake fails, from
 * `connect`'s: a system error for a refused or reset TCP connection
 * (`connect ECONNREFUSED 127.0.0.1:80`), ws's sentence for a 101 that does
 * not prove the server speaks WebSocket to us, or for a timeout.
 *
 * @param err What `connect` rejected with.
 * @param context What was offered.
 * @returns The error to emit.
 */
export function handshakeErrorOf(err: unknown, context: HandshakeContext): unknown {
  if (err instanceof ConnectError && err.code.startsWith("ERR_TLS_")) {
    // ws emits the TLS layer's own error ("self-signed certificate",
    // DEPTH_ZERO_SELF_SIGNED_CERT on Node); where the runtime's has no such
    // code, ours, which names the cause and the way out.
    const cause = err.cause as { code?: unknown } | undefined;
    return cause instanceof Error && typeof cause.code === "string" ? cause : err;
  }
  if (err instanceof ConnectError) {
    const cause = err.cause as { code?: unknown; syscall?: unknown; errno?: unknown } | undefined;
    // Node's own error is what ws emits (its message names the address the
    // host resolved to); Bun's and Deno's words differ, so they get one
    // shaped like Node's.
    if (
      cause instanceof Error && cause.code === err.code && typeof cause.syscall === "string" &&
      cause.message.startsWith(`${cause.syscall} ${err.code} `)
    ) {
      return cause;
    }
    const lookup = err.code === "ENOTFOUND";
    const error = withCode(
      new Error(lookup ? `getaddrinfo ENOTFOUND ${err.hostname}` : `connect ${err.code} ${err.hostname}:${err.port}`),
      err.code,
    );
    const errno = typeof cause?.errno === "number" ? { errno: cause.errno } : {};
    return Object.assign(
      error,
      errno,
      lookup
        ? { syscall: "getaddrinfo", hostname: err.hostname }
        : { syscall: "connect", address: err.hostname, port: err.port },
    );
  }
  if (err instanceof TimeoutError) return new Error("Opening handshake has timed out");
  if (!(err instanceof HandshakeError)) return err;
  switch (err.code) {
    case "ERR_HANDSHAKE_UPGRADE":
    case "ERR_HANDSHAKE_CONNECTION":
      return new Error("Invalid Upgrade header");
    case "ERR_HANDSHAKE_ACCEPT":
      return new Error("Invalid Sec-WebSocket-Accept header");
    case "ERR_HANDSHAKE_PROTOCOL": {
      const chosen = err.headers.get("sec-websocket-protocol");
      if (chosen === null) return new Error("Server sent no subprotocol");
      if (context.protocols.length === 0) return new Error("Server sent a subprotocol but none was requested");
      return new Error("Server sent an invalid subprotocol");
    }
    case "ERR_HANDSHAKE_EXTENSION":
      if (!context.offeredExtensions) {
        return new Error("Server sent a Sec-WebSocket-Extensions header but no extension was requested");
      }
      return /not offered|not requested|unknown|Unexpected extension/i.test(err.message)
        ? new Error("Server indicated an extension that was not requested")
        : new Error("Invalid Sec-WebSocket-Extensions header");
    case "ERR_HANDSHAKE_EOF":
      return withCode(new Error("socket hang up"), "ECONNRESET");
    case "ERR_HANDSHAKE_MALFORMED":
      return withCode(new Error("Parse Error: Invalid response"), "HPE_INVALID_CONSTANT");
    case "ERR_HANDSHAKE_TLS":
      // A TLS record where node:http expects a status line.
      return withCode(new Error("Parse Error: Expected HTTP/, RTSP/ or ICE/"), "HPE_INVALID_CONSTANT");
    default:
      return err;
  }
}

/**
 * The error for `send`, `ping` or `pong` when the connection is not open,
 * as ws words it.
 *
 * @param readyState The connection's state.
 * @returns The error.
 */
export function notOpenError(readyState: number): Error {
  const names = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"];
  return new Error(`WebSocket is not open: readyState ${readyState} (${names[readyState]})`);
}
