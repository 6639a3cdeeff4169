/**
 * The client's opening handshake over HTTP/2 (RFC 8441 §4-5): an extended
 * CONNECT on a session whose server enabled it, answered 200 with the
 * negotiated subprotocol and extensions. `connect` calls it when `http2`
 * found such a server.
 *
 * @module
 */

import type { WebSocketConnection } from "./connection.ts";
import { HandshakeError } from "./errors.ts";
import { connectRequestFields, isRedirect, ResponseBodyReader, validateConnectResponse } from "./handshake/client.ts";
import { Opening } from "./handshake/opening.ts";
import { PERMESSAGE_DEFLATE } from "./handshake/permessage_deflate.ts";
import { resolveCompression } from "./handshake/deflate_options.ts";
import { requestWebSocketStream } from "./transport/http2.ts";
import type { Transport } from "./transport/types.ts";
import { type AttemptRequest, checkDeflateAnswer, ERROR_BODY_WAIT, openConnection, type Redirect } from "./client/attempt.ts";
import type { ConnectOptions } from "./client/options.ts";
import type { ClientHttp2Session } from "node:http2";

/**
 * Reads a refusal's body through the opening driver, as over HTTP/1.1:
 * until the stream ends, 64 KiB, or ERROR_BODY_WAIT.
 */
function readBody(transport: Transport): Promise<Uint8Array> {
  return new Promise((resolve) => {
    // DATA frames carry the body as is: no Content-Length or chunked framing to follow.
    const reader = new ResponseBodyReader(new Headers());
    const finish = () => {
      opening.close();
      resolve(reader.body);
    };
    const opening: Opening = new Opening(transport, { head: null, timeout: ERROR_BODY_WAIT }, {
      head() {},
      ended: finish,
    });
    opening.follow((chunk) => {
      if (reader.push(chunk)) finish();
    });
    opening.start();
  });
}

/**
 * Shares HTTP/2 sessions between `connect` calls (opt-in, with
 * `connect(url, { http2: "auto", http2Pool })`): a WebSocket to an origin
 * that already has an open session from this pool becomes one more stream
 * of it, with no new TCP or TLS handshake. Sessions are keyed by origin and
 * TLS options, stay open when their WebSockets close, and are closed by
 * {@link Http2Pool.close} (gracefully: open WebSockets carry on). Connects
 * that start together before any session exists each open their own; the
 * first to be ready joins the pool.
 *
 * @example Two WebSockets, one TLS connection
 * ```ts ignore
 * import { connect, Http2Pool } from "@streamsock/streamsock";
 *
 * const http2Pool = new Http2Pool();
 * const a = await connect("wss://example.com/feed", { http2: "auto", http2Pool });
 * const b = await connect("wss://example.com/chat", { http2: "auto", http2Pool });
 * await Promise.all([a.close(), b.close()]);
 * http2Pool.close();
 * ```
 */
export class Http2Pool {
  readonly #sessions = new Map<string, ClientHttp2Session>();

  /** How many sessions are open in the pool. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * The pool's open session for `key`, if any.
   *
   * @param key Origin and TLS options.
   * @returns The session, or undefined.
   */
  get(key: string): ClientHttp2Session | undefined {
    const session = this.#sessions.get(key);
    if (session === undefined || !(session.closed || session.destroyed)) return session;
    this.#sessions.delete(key);
    return undefined;
  }

  /**
   * Keeps `session` for `key` unless the pool has one already.
   *
   * @param key Origin and TLS options.
   * @param session A session with extended CONNECT enabled.
   * @returns Whether the pool took it (and now owns it).
   */
  add(key: string, session: ClientHttp2Session): boolean {
    if (this.get(key) !== undefined) return false;
    this.#sessions.set(key, session);
    session.once("close", () => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    });
    return true;
  }

  /** Closes every session gracefully (GOAWAY): their open WebSockets carry on until they close. */
  close(): void {
    for (const session of this.#sessions.values()) session.close();
    this.#sessions.clear();
  }
}

/**
 * Opens the WebSocket as a stream of `session`. An `owned` session is
 * closed when the WebSocket closes or the handshake fails; a pooled one is
 * left to its pool.
 *
 * @returns The open connection, or a redirect to follow.
 */
export async function attemptHttp2(
  session: ClientHttp2Session,
  request: AttemptRequest,
  options: ConnectOptions,
  signal: AbortSignal,
  owned = true,
): Promise<WebSocketConnection | Redirect> {
  const { url, protocols } = request;
  const release = () => {
    if (owned) session.close();
  };
  let response;
  try {
    response = await requestWebSocketStream(session, connectRequestFields(url, protocols, request.fields), signal);
  } catch (err) {
    if (owned) session.destroy();
    throw err;
  }
  const { status, headers, transport } = response;
  if (status >= 200 && status <= 299) {
    let ws: WebSocketConnection;
    try {
      options.onUpgrade?.({ status, statusText: "", headers });
      const offer = resolveCompression(options.compression, true, "client");
      const { protocol, extensions } = validateConnectResponse(status, headers, {
        protocols,
        extensions: offer === null ? [] : [PERMESSAGE_DEFLATE],
      });
      const deflate = offer === null ? null : checkDeflateAnswer(headers, status, extensions, offer);
      ws = openConnection(transport, options, request.url, protocol, extensions, deflate);
    } catch (err) {
      transport.destroy();
      release();
      throw err;
    }
    if (owned) void ws.closed.finally(release);
    return ws;
  }
  const location = headers.get("location");
  if (request.followRedirects && isRedirect(status) && location !== null) {
    transport.destroy();
    release();
    return { location, status, headers };
  }
  const body = await readBody(transport);
  release();
  throw new HandshakeError(`Server refused the WebSocket over HTTP/2: ${status}`, {
    code: "ERR_HANDSHAKE_STATUS",
    status,
    headers,
    body,
  });
}
