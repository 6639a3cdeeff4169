/**
 * The client's opening handshake over HTTP/2 (RFC 8441 §4-5): an extended
 * CONNECT on a session whose server enabled it, answered 200 with the
 * negotiated subprotocol and extensions. `connect` calls it when `http2`
 * found such a server.
 *
 * @module
 */

import type { WebSocketConnection } from "../connection/connection.ts";
import { HandshakeError } from "../errors.ts";
import { connectRequestFields, isRedirect, ResponseBodyReader, validateConnectResponse } from "../handshake/client.ts";
import { Opening } from "../opening.ts";
import { PERMESSAGE_DEFLATE } from "../handshake/permessage_deflate.ts";
import { resolveCompression } from "../handshake/deflate_options.ts";
import { requestWebSocketStream } from "../transport/http2.ts";
import type { Transport } from "../transport/types.ts";
import { type AttemptRequest, checkDeflateAnswer, ERROR_BODY_WAIT, openConnection, type Redirect } from "./answer.ts";
import type { ConnectOptions } from "./options.ts";
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
