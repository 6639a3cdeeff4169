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
export { type ResolvedServerOptions, WebSocketServer } from "./server.ts";
export { type BinaryType, HandshakeRequest, type SendOptions, WebSocket } from "./websocket.ts";
export { WsCloseEvent, WsErrorEvent, WsEvent, type WsEventListener, WsMessageEvent } from "./events.ts";
export type {
  ClientOptions,
  PerMessageDeflateOptions,
  RawData,
  ServerOptions,
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

/**
 * What `require("ws")` is: the `WebSocket` class with the rest of the API
 * as its properties.
 *
 * @example
 * ```ts
 * import ws, { type WsModule } from "@streamsock/streamsock/ws";
 *
 * const api: WsModule = ws;
 * console.log(typeof api.WebSocketServer); // function
 * ```
 */
export type WsModule = typeof WebSocket & {
  WebSocket: typeof WebSocket;
  WebSocketServer: typeof WebSocketServer;
  Server: typeof WebSocketServer;
  createWebSocketStream: typeof createWebSocketStream;
};

/**
 * The `WebSocket` class with `WebSocket`, `WebSocketServer`, `Server` and
 * `createWebSocketStream` as properties: the shape of `require("ws")`, for
 * code that does `import WebSocket from "ws"` and `new WebSocket.Server(…)`.
 */
const ws = WebSocket as WsModule;
ws.WebSocket = WebSocket;
ws.WebSocketServer = WebSocketServer;
ws.Server = WebSocketServer;
ws.createWebSocketStream = createWebSocketStream;

/**
 * The `WebSocket` class with `WebSocket`, `WebSocketServer`, `Server` and
 * `createWebSocketStream` as properties: the shape of `require("ws")`, for
 * code that does `import WebSocket from "ws"` and `new WebSocket.Server(…)`.
 *
 * @example
 * ```ts
 * import ws from "@streamsock/streamsock/ws";
 *
 * const wss = new ws.Server({ noServer: true });
 * wss.close();
 * ```
 */
export default ws;
