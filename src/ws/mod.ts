/**
 * `streamsock/ws`: the API of the `ws` package (version 8), over
 * streamsock's connection, on Node, Deno and Bun. Moving an application or
 * a library from ws is one changed import:
 *
 * ```ts ignore
 * // import { WebSocket, WebSocketServer } from "ws";
 * import { WebSocket, WebSocketServer } from "@streamsock/streamsock/ws";
 * ```
 *
 * `WebSocket` (client and server socket, an EventEmitter with
 * `addEventListener`), `WebSocketServer` (`port`, `server` or `noServer`
 * with `handleUpgrade`) and `createWebSocketStream`. The default export is
 * `WebSocket` carrying the others as properties, as `require("ws")` is.
 * The README's "Coming from `ws`" lists where it differs from ws.
 *
 * @example An echo server and a client
 * ```ts
 * import { WebSocket, WebSocketServer } from "@streamsock/streamsock/ws";
 *
 * const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" }, () => {
 *   const { port } = wss.address() as { port: number };
 *   const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
 *   ws.on("open", () => ws.send("hello"));
 *   ws.on("message", (data) => {
 *     console.log(data.toString()); // hello
 *     ws.close();
 *     wss.close();
 *   });
 * });
 * wss.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
 * ```
 *
 * @module
 */

import { createWebSocketStream } from "./stream.ts";
import { WebSocketServer } from "./server.ts";
import { WebSocket } from "./websocket.ts";

export { createWebSocketStream } from "./stream.ts";
export {
  type ResolvedServerOptions,
  type ServerOptions,
  WebSocketServer,
  type WebSocketServerEvents,
} from "./server.ts";
export { HandshakeRequest, type ResponseMessage } from "./client_opening.ts";
export { WebSocket, type WebSocketEvents } from "./websocket.ts";
export {
  type WebSocketLike,
  WsCloseEvent,
  WsErrorEvent,
  WsEvent,
  type WsEventHandler,
  type WsEventListener,
  type WsEventMap,
  WsMessageEvent,
} from "./events.ts";
export type { CloseEvent, ErrorEvent, Event, MessageEvent } from "./events.ts";
export type {
  AddressInfo,
  BinaryType,
  CertMeta,
  ClientOptions,
  Data,
  EventListenerOptions,
  PerMessageDeflateOptions,
  RawData,
  SendOptions,
  VerifyClientCallbackAsync,
  VerifyClientCallbackSync,
  VerifyClientInfo,
} from "./options.ts";

/**
 * `WebSocketServer` under ws's older name.
 *
 * @example
 * ```ts
 * import { Server, WebSocketServer } from "@streamsock/streamsock/ws";
 *
 * console.log(Server === WebSocketServer); // true
 * ```
 */
export const Server: typeof WebSocketServer = WebSocketServer;
/** A `WebSocketServer`, under ws's older name. */
export type Server = WebSocketServer;

WebSocket.WebSocket = WebSocket;
WebSocket.WebSocketServer = WebSocketServer;
WebSocket.Server = WebSocketServer;
WebSocket.createWebSocketStream = createWebSocketStream;

/**
 * What `require("ws")` is: the `WebSocket` class with `WebSocket`,
 * `WebSocketServer`, `Server` and `createWebSocketStream` as properties and
 * `@types/ws`'s types in its namespace, for code that does
 * `import WebSocket from "ws"` and `new WebSocket.Server(…)`.
 *
 * @example
 * ```ts
 * import WebSocket from "@streamsock/streamsock/ws";
 *
 * const wss = new WebSocket.Server({ noServer: true });
 * const onMessage = (data: WebSocket.RawData, isBinary: boolean) => console.log(isBinary, data);
 * wss.close();
 * ```
 */
export default WebSocket;

/**
 * What `require()` of this entry point returns on Node (20.19 and later),
 * Deno and Bun, as `require("ws")` does: the `WebSocket` class, carrying
 * `WebSocketServer`, `Server` and `createWebSocketStream`.
 */
export { WebSocket as "module.exports" };
