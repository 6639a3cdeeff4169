/**
 * `streamsock/web`: the WHATWG WebSockets Standard's `WebSocket` and the
 * streams-based `WebSocketStream`, on streamsock's own connection, for Deno,
 * Bun and every Node from 20 (which has no global `WebSocket`). Code written
 * for a browser's, Deno's, Bun's or Node 22's `WebSocket` runs unchanged,
 * and gets streamsock's proxies, permessage-deflate, HTTP/2, custom headers,
 * TLS options, keepalive and limits through a second-argument options
 * object. `CloseEvent`, `MessageEvent` and `ErrorEvent` are the runtime's
 * own where it has them, streamsock's where it lacks them.
 *
 * @example A WebSocket, as a browser page would use it
 * ```ts ignore
 * import { WebSocket } from "@streamsock/streamsock/web"; // "streamsock/web" on Bun and Node
 *
 * const ws = new WebSocket("ws://127.0.0.1:8080/", { headers: { "X-Team": "web" } });
 * ws.onopen = () => ws.send("hello");
 * ws.onmessage = (event) => console.log(event.data);
 * ```
 *
 * @module
 */

export { type BinaryType, WebSocket, type WebSocketEventMap } from "./websocket.ts";
export { type BufferSource, type WebSocketOpenInfo, WebSocketStream } from "./websocket_stream.ts";
export { type WebSocketCloseInfo, WebSocketError } from "./websocket_error.ts";
export type { WebSocketOptions, WebSocketStreamOptions } from "./options.ts";
export {
  CloseEvent,
  type CloseEventInit,
  ErrorEvent,
  type ErrorEventInit,
  MessageEvent,
  type MessageEventInit,
} from "./events.ts";
// The types the options extend (streamsock's connect options), so the entry point documents them whole.
export type { ConnectOptions, ConnectTlsOptions, ProxyOptions } from "../client/options.ts";
export type { HeaderFields } from "../handshake/http.ts";
export type { Clock } from "../connection/clock.ts";
export type { WebSocketConnectionOptions } from "../connection/options.ts";
export type { CompressionOptions } from "../handshake/deflate_options.ts";
export type { TracedFrame } from "../transport/trace.ts";
export type { Http2Pool } from "../client/http2_pool.ts";
export type { IdleReleasable, ZlibSweeper } from "../extensions/zlib_sweeper.ts";
