/**
 * `requestHandler`: the server side of WebSocket for the `"upgrade"` event
 * of a node:http or node:https server (Gerbil's `websocket-request-handler`).
 *
 * @module
 */

import type { HandshakeRejection } from "../handshake/server.ts";
import { isRejection } from "../handshake/server.ts";
import { nodeSocketTransport } from "../transport/node.ts";
import type { Socket } from "node:net";
import { carryCore, makeCore, UNTRACKED } from "./core.ts";
import type { OnSocket, RequestHandlerOptions, SelectProtocol, UpgradeHandler } from "./options.ts";
import { PendingHandshake } from "./pending_handshake.ts";

function headersOf(rawHeaders: string[]): Headers | HandshakeRejection {
  const headers = new Headers();
  try {
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) headers.append(rawHeaders[i], rawHeaders[i + 1]);
  } catch {
    return { status: 400, body: "Malformed header field" };
  }
  return headers;
}

/**
 * Creates the server side of WebSocket (Gerbil's `websocket-request-handler`):
 * a listener for the `"upgrade"` event of a node:http or node:https server
 * that checks the request, answers it (101, or 400 / 405 / 426 / 403 ... with
 * a short body, then closes), and runs `onSocket` with the connection. Bytes
 * node:http read past the request head are decoded first. The same handler
 * works on Node, Deno and Bun, and can be given to {@link serve}.
 *
 * @param onSocket Runs per connection; when it settles the connection is
 * closed with 1000 if still open, and a throw closes it with 1011 and goes to
 * `options.onError`.
 * @param selectProtocol Picks a subprotocol from those the client offered
 * (called only when it offered some); null or undefined refuses with 400. A
 * value that was not offered is a bug reported through `onError` and
 * answered with 500. Without it, no subprotocol is chosen.
 * @param options Handshake policy (`verify`, `handshakeTimeout`, `onError`)
 * and connection options (`maxFrameSize` 1 MiB by default, `autoPong`,
 * `closeTimeout`...).
 * @returns The `"upgrade"` listener.
 * @throws {TypeError} When `onSocket` is not a function, or connection
 * limits are given without a `hub` to count in.
 * @throws {RangeError} For an invalid limit or rate.
 *
 * @example An echo server on node:http (Node, Deno and Bun)
 * ```ts
 * import { createServer } from "node:http";
 * import { requestHandler } from "@streamsock/streamsock";
 *
 * const server = createServer((_req, res) => res.end("WebSocket only\n"));
 * server.on("upgrade", requestHandler(async (ws) => {
 *   for await (const msg of ws) await ws.sendAll(msg);
 * }));
 * server.listen(0, "127.0.0.1", () => server.close());
 * ```
 */
export function requestHandler(
  onSocket: OnSocket,
  selectProtocol?: SelectProtocol,
  options: RequestHandlerOptions = {},
): UpgradeHandler {
  const core = makeCore(onSocket, selectProtocol, options);
  if (options.hub === undefined && (options.maxConnections !== undefined || options.maxConnectionsPerIp !== undefined)) {
    throw new TypeError(
      "maxConnections and maxConnectionsPerIp count the connections of a hub: pass a hub option (or, with serve, give the limits to serve)",
    );
  }
  const handler: UpgradeHandler = (request, socket, head) => {
    // node:http hands the socket over with its listeners removed; the
    // transport takes it from here, "error" listener included.
    const transport = nodeSocketTransport(socket as unknown as Socket);
    const handshake = new PendingHandshake(transport, core, UNTRACKED, request.socket?.remoteAddress, null, null, request);
    if (head.length > 0) handshake.early(new Uint8Array(head.buffer, head.byteOffset, head.byteLength));
    const headers = headersOf(request.rawHeaders);
    if (isRejection(headers)) handshake.refuse(headers);
    else handshake.upgrade(request.method ?? "GET", request.url ?? "/", `HTTP/${request.httpVersion}`, headers);
  };
  return carryCore(handler, core);
}
