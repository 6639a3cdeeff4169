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
import { connectRequestFields, isRedirect, validateConnectResponse } from "./handshake/client.ts";
import { PERMESSAGE_DEFLATE } from "./handshake/permessage_deflate.ts";
import { resolveCompression } from "./extensions/permessage_deflate.ts";
import { requestWebSocketStream } from "./transport/http2.ts";
import type { Transport } from "./transport/types.ts";
import {
  type AttemptRequest,
  checkDeflateAnswer,
  type ConnectOptions,
  ERROR_BODY_WAIT,
  openConnection,
  type Redirect,
} from "./client.ts";
import type { ClientHttp2Session } from "node:http2";

/** How much of a refusal's body the error keeps. */
const MAX_ERROR_BODY = 64 * 1024;

/** Reads a refusal's body until the stream ends, 64 KiB, or ERROR_BODY_WAIT. */
function readBody(transport: Transport): Promise<Uint8Array> {
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const done = () => {
      clearTimeout(timer);
      transport.destroy();
      const body = new Uint8Array(Math.min(size, MAX_ERROR_BODY));
      let at = 0;
      for (const chunk of chunks) {
        const part = chunk.subarray(0, body.length - at);
        body.set(part, at);
        at += part.length;
      }
      resolve(body);
    };
    const timer = setTimeout(done, ERROR_BODY_WAIT);
    transport.start({
      data(chunk) {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_ERROR_BODY) done();
      },
      end: done,
      error: done,
      drain() {},
    });
  });
}

/**
 * Opens the WebSocket as a stream of `session`, which it then owns: the
 * session is closed when the WebSocket closes or the handshake fails.
 *
 * @returns The open connection, or a redirect to follow.
 */
export async function attemptHttp2(
  session: ClientHttp2Session,
  request: AttemptRequest,
  options: ConnectOptions,
  signal: AbortSignal,
): Promise<WebSocketConnection | Redirect> {
  const { url, protocols } = request;
  let response;
  try {
    response = await requestWebSocketStream(session, connectRequestFields(url, protocols, request.fields), signal);
  } catch (err) {
    session.destroy();
    throw err;
  }
  const { status, headers, transport } = response;
  if (status >= 200 && status <= 299) {
    let ws: WebSocketConnection;
    try {
      const offer = resolveCompression(options.compression, true);
      const { protocol, extensions } = validateConnectResponse(status, headers, {
        protocols,
        extensions: offer === null ? [] : [PERMESSAGE_DEFLATE],
      });
      if (offer !== null) checkDeflateAnswer(headers, status, extensions, offer);
      ws = openConnection(transport, options, protocol, extensions);
    } catch (err) {
      transport.destroy();
      session.destroy();
      throw err;
    }
    void ws.closed.finally(() => session.close());
    return ws;
  }
  const location = headers.get("location");
  if (request.followRedirects && isRedirect(status) && location !== null) {
    transport.destroy();
    session.close();
    return { location, status, headers };
  }
  const body = await readBody(transport);
  session.close();
  throw new HandshakeError(`Server refused the WebSocket over HTTP/2: ${status}`, {
    code: "ERR_HANDSHAKE_STATUS",
    status,
    headers,
    body,
  });
}
