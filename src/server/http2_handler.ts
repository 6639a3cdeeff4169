/**
 * WebSockets over HTTP/2 (RFC 8441) on the server: `http2Handler` for a
 * `node:http2` server of your own, and the extended CONNECT streams `serve`
 * accepts with `http2: true`.
 *
 * @module
 */

import type { Http2ServerRequest, IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { http2StreamTransport } from "../transport/http2.ts";
import { type ConnectionTracker, coreOf, type HandshakeCore, UNTRACKED } from "./core.ts";
import type { OnSocket, UpgradeHandler } from "./options.ts";
import { PendingHandshake } from "./pending_handshake.ts";

/** Starts the handshake of an RFC 8441 stream that arrived with these header fields. */
export function acceptStream(
  core: HandshakeCore,
  tracker: ConnectionTracker,
  stream: ServerHttp2Stream,
  fields: IncomingHttpHeaders,
  remoteAddress: string | undefined,
): void {
  const transport = http2StreamTransport(stream);
  const handshake = new PendingHandshake(transport, core, tracker, remoteAddress, null, transport);
  const headers = new Headers();
  try {
    for (const [name, value] of Object.entries(fields)) {
      if (name.startsWith(":") || value === undefined) continue;
      if (Array.isArray(value)) { for (const item of value) headers.append(name, item); }
      else headers.append(name, value);
    }
    // RFC 9113 §8.3.1: :authority stands for Host, which verify() may read.
    const authority = fields[":authority"];
    if (!headers.has("host") && typeof authority === "string") headers.set("host", authority);
  } catch {
    handshake.refuse({ status: 400, body: "Malformed header field" });
    return;
  }
  const method = fields[":method"] ?? "";
  handshake.upgrade(method, fields[":path"] ?? "/", "HTTP/2", headers, fields[":protocol"] as string | undefined);
}

/**
 * What {@link http2Handler} returns: a listener for the `"stream"` event of
 * a `node:http2` server, or for its `"connect"` event (which receives the
 * compatibility API's request).
 *
 * @example
 * ```ts
 * import { createServer } from "node:http2";
 * import { http2Handler, type Http2Handler, type WebSocketConnection } from "@streamsock/streamsock";
 *
 * const handler: Http2Handler = http2Handler((ws: WebSocketConnection) => ws.send("hello"));
 * const server = createServer({ settings: { enableConnectProtocol: true } }).on("stream", handler);
 * server.close();
 * ```
 */
export type Http2Handler = (stream: ServerHttp2Stream | Http2ServerRequest, headers?: unknown) => void;

/**
 * Serves WebSockets over HTTP/2 (RFC 8441) from your own `node:http2`
 * server: the returned listener takes extended CONNECT streams
 * (`:protocol websocket`) through the same handshake as
 * {@link requestHandler} (`verify`, `selectProtocol`, permessage-deflate,
 * limits), answering `:status 200` or the refusal's status on the stream.
 * `onSocket` sees `request.httpVersion === "2"` and `request.method ===
 * "CONNECT"`.
 *
 * The server must be created with `settings: { enableConnectProtocol: true }`,
 * or browsers never open a WebSocket on it. Register the handler on
 * `"stream"` (it leaves streams that are not CONNECT to your other
 * listeners) or, when the server has a `"request"` listener, on `"connect"`:
 * Node's compatibility layer then answers every CONNECT stream nobody takes
 * on `"connect"` with 405 (nodejs/node#36977).
 *
 * @param handler What {@link requestHandler} returned, or an {@link OnSocket}.
 * @returns The `"stream"` / `"connect"` listener.
 *
 * @example A page and its WebSocket on one HTTP/2 server (Node, Deno and Bun)
 * ```ts
 * import { createSecureServer } from "node:http2";
 * import { http2Handler, requestHandler } from "@streamsock/streamsock";
 *
 * declare const cert: string, key: string;
 * const server = createSecureServer({ cert, key, allowHTTP1: true, settings: { enableConnectProtocol: true } });
 * const websocket = requestHandler(async (ws) => {
 *   for await (const msg of ws) await ws.sendAll(msg); // sendAll: a message may be larger than one frame
 * });
 * server.on("request", (_req, res) => res.end("<script>new WebSocket(`wss://${location.host}/`)</script>"));
 * server.on("connect", http2Handler(websocket)); // HTTP/2 extended CONNECT
 * server.on("upgrade", websocket); // HTTP/1.1 clients
 * server.close();
 * ```
 */
export function http2Handler(handler: UpgradeHandler | OnSocket): Http2Handler {
  const core = coreOf(handler);
  return (first, second) => {
    if ("respond" in first) {
      const fields = second as IncomingHttpHeaders;
      if (fields[":method"] !== "CONNECT") return;
      acceptStream(core, UNTRACKED, first, fields, first.session?.socket?.remoteAddress);
    } else {
      acceptStream(core, UNTRACKED, first.stream, first.headers, first.socket?.remoteAddress);
    }
  };
}
