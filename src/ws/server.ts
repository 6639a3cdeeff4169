/**
 * `WebSocketServer` of `streamsock/ws`: ws 8's server over streamsock's
 * `requestHandler`. The checks ws makes before it upgrades (and its
 * refusals, `wsClientError`, `verifyClient`, `shouldHandle`) run here, on
 * the node:http request; the handshake, the 101 and the connection are
 * `requestHandler`'s, with its `onHeaders` hook for ws's `headers` event
 * and `selectProtocol` for `handleProtocols`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { EventEmitter } from "node:events";
import { nextTick } from "node:process";
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server as HttpServer,
  STATUS_CODES,
} from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { WebSocketConnection } from "../connection/connection.ts";
import { requestHandler } from "../server/request_handler.ts";
import type { UpgradeHandler } from "../server/options.ts";
import type { UpgradeRequest } from "../handshake/server.ts";
import { parseExtensions } from "../handshake/permessage_deflate.ts";
import type { PerMessageDeflateOptions, VerifyClientCallbackAsync, VerifyClientCallbackSync } from "./options.ts";
import { compressionOf, DEFAULT_CLOSE_TIMEOUT, DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_PAYLOAD } from "./settings.ts";
import { attachConnection, WebSocket } from "./websocket.ts";

/**
 * Options of `WebSocketServer`, as ws 8 has them: exactly one of `port`,
 * `server` and `noServer`. Used besides: `host`, `backlog`, `path`,
 * `clientTracking`, `verifyClient`, `handleProtocols`, `perMessageDeflate`,
 * `maxPayload`, `maxFragments`, `autoPong`, `closeTimeout`, `WebSocket`.
 * The others are accepted and ignored.
 *
 * @example
 * ```ts
 * import type { ServerOptions } from "@streamsock/streamsock/ws";
 *
 * const options: ServerOptions = { port: 8080, path: "/chat", maxPayload: 1 << 20 };
 * ```
 */
export interface ServerOptions {
  /** The address to listen on (with `port`). */
  host?: string;
  /** The port to listen on: the server makes its own node:http server. */
  port?: number;
  /** The listen queue's length (with `port`). */
  backlog?: number;
  /** A node:http or node:https server to take the upgrades of. */
  server?: HttpServer | HttpsServer;
  /** Listen nowhere: the application calls `handleUpgrade`. */
  noServer?: boolean;
  /** Accept only this path (the query aside). */
  path?: string;
  /** Keep the open connections in `clients`. Defaults to true. */
  clientTracking?: boolean;
  /** Accepts or refuses a client after the WebSocket checks. */
  verifyClient?: VerifyClientCallbackAsync | VerifyClientCallbackSync;
  /** Chooses a subprotocol from those offered: a name, or false for none. */
  handleProtocols?: (protocols: Set<string>, request: IncomingMessage) => string | false;
  /** permessage-deflate: off by default for servers. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** The largest message accepted, in bytes. Defaults to 100 MiB. */
  maxPayload?: number;
  /** Answer pings automatically. Defaults to true. */
  autoPong?: boolean;
  /** Milliseconds to wait for the closing handshake. Defaults to 30000. */
  closeTimeout?: number;
  /** The class of the server's sockets: `WebSocket` or one extending it. */
  WebSocket?: typeof WebSocket;
  /** Accepted, ignored: frames are always validated as UTF-8. */
  skipUTF8Validation?: boolean;
  /** Accepted, ignored. */
  allowSynchronousEvents?: boolean;
  /** Accepted, ignored. */
  maxPendingAutoPongs?: number;
  /** Accepted, ignored. */
  maxBufferedChunks?: number;
  /** The most frames a message may have; more fail the connection with 1008. Defaults to 16384 (0: no limit). */
  maxFragments?: number;
}

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;
const KEY = /^[+/0-9A-Za-z]{22}==$/;
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;
/** Marks a socket a WebSocketServer upgraded (ws refuses to upgrade one twice). */
const UPGRADED: unique symbol = Symbol("streamsock.ws.upgraded");

/** What the connection callback of one upgrade needs once `requestHandler` hands over the connection. */
interface PendingUpgrade {
  callback: (ws: WebSocket, request: IncomingMessage) => void;
}

/**
 * A server's options with ws's defaults filled in; `handleProtocols` and
 * `verifyClient` may be set after construction (graphql-ws does).
 *
 * @example
 * ```ts
 * import { WebSocketServer } from "@streamsock/streamsock/ws";
 *
 * const wss = new WebSocketServer({ noServer: true });
 * wss.options.handleProtocols = (protocols) => protocols.has("v2") ? "v2" : false;
 * wss.close();
 * ```
 */
export interface ResolvedServerOptions extends ServerOptions {
  /** The largest message accepted (0: no limit). */
  maxPayload: number;
  /** The most frames a message may have (0: no limit). */
  maxFragments: number;
  /** Whether `clients` is kept. */
  clientTracking: boolean;
}

/**
 * The subprotocols of a `Sec-WebSocket-Protocol` value, as ws parses them:
 * tokens separated by commas, each once.
 */
function parseProtocolSet(header: string): Set<string> {
  const protocols = new Set<string>();
  for (const raw of header.split(",")) {
    const protocol = raw.trim();
    if (!TOKEN.test(protocol) || protocols.has(protocol)) {
      throw new SyntaxError(`Invalid subprotocol ${JSON.stringify(protocol)}`);
    }
    protocols.add(protocol);
  }
  return protocols;
}

/** ws's refusal: a status line, `Connection: close`, a short HTML body, then the socket is ended. */
function abortHandshake(socket: Duplex, code: number, message?: string, headers?: OutgoingHttpHeaders): void {
  const body = message || STATUS_CODES[code] || "";
  const fields: OutgoingHttpHeaders = {
    Connection: "close",
    "Content-Type": "text/html",
    "Content-Length": Buffer.byteLength(body),
    ...headers,
  };
  socket.once("finish", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\n` +
      Object.keys(fields).map((name) => `${name}: ${fields[name]}`).join("\r\n") +
      "\r\n\r\n" + body,
  );
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}

/**
 * The events of a {@link WebSocketServer}, with the arguments their
 * listeners get.
 *
 * @example
 * ```ts
 * import type { WebSocketServerEvents } from "@streamsock/streamsock/ws";
 *
 * const onHeaders = (...[headers]: WebSocketServerEvents["headers"]) => headers.push("Set-Cookie: a=b");
 * ```
 */
export interface WebSocketServerEvents {
  /** A client connected (with the upgrade request). */
  connection: [socket: WebSocket, request: IncomingMessage];
  /** The 101's lines, which a listener may add to, and the request. */
  headers: [headers: string[], request: IncomingMessage];
  /** The server's own node:http server failed (with `port` or `server`). */
  error: [error: Error];
  /** The server's node:http server listens. */
  listening: [];
  /** The server closed. */
  close: [];
  /** An upgrade request was refused before any WebSocket existed (only emitted when listened to). */
  wsClientError: [error: Error, socket: Duplex, request: IncomingMessage];
}

/** The typed forms of the EventEmitter methods (ws's server events, as `@types/ws` declares them). */
export interface WebSocketServer {
  /**
   * Adds a listener for one of the server's events (see {@link WebSocketServerEvents}).
   *
   * @param event The event.
   * @param listener Gets the event's arguments.
   * @returns This server.
   */
  on<K extends keyof WebSocketServerEvents>(
    event: K,
    listener: (this: WebSocketServer, ...args: WebSocketServerEvents[K]) => void,
  ): this;
  /**
   * Adds a listener for any event.
   *
   * @param event The event.
   * @param listener Gets the event's arguments.
   * @returns This server.
   */
  on(
    event: string | symbol, // deno-lint-ignore no-explicit-any
    listener: (this: WebSocketServer, ...args: any[]) => void,
  ): this;
  /**
   * Adds a one-time listener for one of the server's events.
   *
   * @param event The event.
   * @param listener Gets the event's arguments.
   * @returns This server.
   */
  once<K extends keyof WebSocketServerEvents>(
    event: K,
    listener: (this: WebSocketServer, ...args: WebSocketServerEvents[K]) => void,
  ): this;
  /**
   * Adds a one-time listener for any event.
   *
   * @param event The event.
   * @param listener Gets the event's arguments.
   * @returns This server.
   */
  once(
    event: string | symbol, // deno-lint-ignore no-explicit-any
    listener: (this: WebSocketServer, ...args: any[]) => void,
  ): this;
  /**
   * Removes a listener of one of the server's events.
   *
   * @param event The event.
   * @param listener The listener.
   * @returns This server.
   */
  off<K extends keyof WebSocketServerEvents>(
    event: K,
    listener: (this: WebSocketServer, ...args: WebSocketServerEvents[K]) => void,
  ): this;
  /**
   * Removes a listener of any event.
   *
   * @param event The event.
   * @param listener The listener.
   * @returns This server.
   */
  off(
    event: string | symbol, // deno-lint-ignore no-explicit-any
    listener: (this: WebSocketServer, ...args: any[]) => void,
  ): this;
  /**
   * Adds a listener for one of the server's events.
   *
   * @param event The event.
   * @param listener Gets the event's arguments.
   * @returns This server.
   */
  addListener<K extends keyof WebSocketServerEvents>(
    event: K,
    listener: (...args: WebSocketServerEvents[K]) => void,
  ): this;
  /**
   * Adds a listener for any event.
   *
   * @param event The event.
   * @param listener Gets the event's arguments.
   * @returns This server.
   */
  addListener(
    event: string | symbol, // deno-lint-ignore no-explicit-any
    listener: (this: WebSocketServer, ...args: any[]) => void,
  ): this;
  /**
   * Removes a listener of one of the server's events.
   *
   * @param event The event.
   * @param listener The listener.
   * @returns This server.
   */
  removeListener<K extends keyof WebSocketServerEvents>(
    event: K,
    listener: (...args: WebSocketServerEvents[K]) => void,
  ): this;
  /**
   * Removes a listener of any event.
   *
   * @param event The event.
   * @param listener The listener.
   * @returns This server.
   */
  removeListener(
    event: string | symbol, // deno-lint-ignore no-explicit-any
    listener: (this: WebSocketServer, ...args: any[]) => void,
  ): this;
}

/**
 * ws 8's `WebSocketServer`: on its own port (`{ port }`), on a node:http
 * or node:https server (`{ server }`), or on none (`{ noServer: true }`,
 * the application calling `handleUpgrade` from its server's `'upgrade'`
 * event). Events: `connection (ws, req)`, `headers (headers, req)`,
 * `listening`, `close`, `error`, `wsClientError (error, socket, req)`. It
 * runs on Node, Deno and Bun.
 *
 * @example An echo server
 * ```ts
 * import { WebSocketServer } from "@streamsock/streamsock/ws";
 *
 * const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
 * wss.on("connection", (ws) => {
 *   ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
 * });
 * wss.close();
 * ```
 *
 * @example Sharing a node:http server with other routes
 * ```ts
 * import { createServer } from "node:http";
 * import { WebSocketServer } from "@streamsock/streamsock/ws";
 *
 * const server = createServer((_req, res) => res.end("ok"));
 * const wss = new WebSocketServer({ noServer: true });
 * server.on("upgrade", (req, socket, head) => {
 *   if (req.url !== "/ws") {
 *     socket.destroy();
 *     return;
 *   }
 *   wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
 * });
 * ```
 */
export class WebSocketServer extends EventEmitter {
  /** The options, with ws's defaults; `handleProtocols` and `verifyClient` are read per request. */
  readonly options: ResolvedServerOptions;
  /** The open connections, when `clientTracking` is on (the default); undefined otherwise, as in ws. */
  readonly clients: Set<WebSocket>;
  /** The `path` option, or `""` (as `@types/ws` declares it). */
  readonly path: string;
  #server: HttpServer | null = null;
  #removeListeners: (() => void) | null = null;
  #state = RUNNING;
  #emitCloseWhenEmpty = false;
  readonly #handler: UpgradeHandler;
  readonly #pending = new WeakMap<object, PendingUpgrade>();

  /**
   * Creates the server.
   *
   * @param options ws's server options: exactly one of `port`, `server` and `noServer`.
   * @param callback With `port`: a listener for `listening`.
   * @throws {TypeError} Unless exactly one of `port`, `server` and `noServer` is given.
   */
  constructor(options: ServerOptions, callback?: () => void) {
    super();
    const resolved: ResolvedServerOptions = {
      maxPayload: DEFAULT_MAX_PAYLOAD,
      maxFragments: DEFAULT_MAX_FRAGMENTS,
      clientTracking: true,
      perMessageDeflate: false,
      ...options,
    };
    if (
      (resolved.port == null && !resolved.server && !resolved.noServer) ||
      (resolved.port != null && (resolved.server || resolved.noServer)) ||
      (resolved.server && resolved.noServer)
    ) {
      throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified');
    }
    if (resolved.perMessageDeflate === true) resolved.perMessageDeflate = {};
    this.options = resolved;
    // As ws: without clientTracking there is no set at all.
    this.clients = resolved.clientTracking ? new Set() : undefined as unknown as Set<WebSocket>;
    this.path = resolved.path ?? "";
    const maxPayload = resolved.maxPayload || Number.MAX_SAFE_INTEGER;
    this.#handler = requestHandler((conn, request) => this.#connected(conn, request), (offered, request) => {
      const choose = this.options.handleProtocols;
      if (!choose) return offered[0];
      return choose(new Set(offered), request.nodeRequest as IncomingMessage) || null;
    }, {
      requireProtocol: false,
      onHeaders: (fields, request) => this.#headers(fields, request),
      // A throw from handleProtocols, a headers listener or the connection
      // callback escapes as with ws, where it is thrown out of handleUpgrade.
      onError: (err) =>
        queueMicrotask(() => {
          throw err;
        }),
      compression: compressionOf(resolved.perMessageDeflate, false, "server"),
      maxFrameSize: maxPayload,
      maxMessageSize: maxPayload,
      pingInterval: 0,
      closeTimeout: resolved.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
      autoPong: resolved.autoPong ?? true,
      echoCloseReason: true,
      maxBackpressure: Infinity,
    });

    if (resolved.port != null) {
      this.#server = createServer((_req, res) => {
        const body = STATUS_CODES[426]!;
        res.writeHead(426, { "Content-Length": body.length, "Content-Type": "text/plain" });
        res.end(body);
      });
      this.#server.listen(resolved.port, resolved.host, resolved.backlog ?? undefined, callback);
    } else if (resolved.server) {
      this.#server = resolved.server as HttpServer;
    }
    if (this.#server !== null) {
      const server = this.#server;
      const listening = () => this.emit("listening");
      const error = (err: unknown) => this.emit("error", err);
      const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        this.handleUpgrade(req, socket, head, (ws, request) => this.emit("connection", ws, request));
      };
      server.on("listening", listening);
      server.on("error", error);
      server.on("upgrade", upgrade);
      this.#removeListeners = () => {
        server.removeListener("listening", listening);
        server.removeListener("error", error);
        server.removeListener("upgrade", upgrade);
      };
    }
  }

  /**
   * The address the server listens on, as node:http reports it; null
   * before it listens.
   *
   * @returns The address.
   * @throws {Error} In `noServer` mode.
   */
  address(): AddressInfo | string | null {
    if (this.options.noServer) throw new Error('The server is operating in "noServer" mode');
    return this.#server?.address() ?? null;
  }

  /**
   * Stops accepting connections; `close` is emitted once every tracked
   * connection has closed (open ones are not closed, as in ws 8). With
   * `port`, the server's own node:http server is closed.
   *
   * @param cb A one-time listener for `close` (with an error if the server was not running).
   */
  close(cb?: (err?: Error) => void): void {
    if (this.#state === CLOSED) {
      if (cb) this.once("close", () => cb(new Error("The server is not running")));
      nextTick(() => this.#emitClose());
      return;
    }
    if (cb) this.once("close", cb);
    if (this.#state === CLOSING) return;
    this.#state = CLOSING;
    const server = this.#server;
    this.#removeListeners?.();
    this.#removeListeners = null;
    this.#server = null;
    if (this.options.noServer || this.options.server) {
      if (this.clients !== undefined && this.clients.size > 0) this.#emitCloseWhenEmpty = true;
      else nextTick(() => this.#emitClose());
    } else {
      server!.close(() => this.#emitClose());
    }
  }

  #emitClose(): void {
    this.#state = CLOSED;
    this.emit("close");
  }

  /**
   * Whether this server takes the request: its path matches `path` when set.
   *
   * @param req The upgrade request.
   * @returns True to handle it.
   */
  shouldHandle(req: IncomingMessage): boolean {
    if (this.options.path) {
      const url = req.url ?? "/";
      const query = url.indexOf("?");
      if ((query === -1 ? url : url.slice(0, query)) !== this.options.path) return false;
    }
    return true;
  }

  /**
   * Upgrades a request to WebSocket: checks it as ws does (refusing with
   * ws's status and message, or emitting `wsClientError` when someone
   * listens), asks `verifyClient`, then answers 101 and calls `cb` with the
   * open socket.
   *
   * @param req The upgrade request.
   * @param socket Its socket.
   * @param head The bytes after the request head.
   * @param cb Called with the connection.
   * @throws {Error} When called twice with the same socket.
   */
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb: (client: WebSocket, request: IncomingMessage) => void,
  ): void {
    socket.on("error", destroyOnError);
    const key = req.headers["sec-websocket-key"];
    const upgrade = req.headers.upgrade;
    const version = Number(req.headers["sec-websocket-version"]);
    if (req.method !== "GET") return this.#refuse(req, socket, 405, "Invalid HTTP method");
    if (upgrade === undefined || upgrade.toLowerCase() !== "websocket") {
      return this.#refuse(req, socket, 400, "Invalid Upgrade header");
    }
    if (key === undefined || !KEY.test(key)) {
      return this.#refuse(req, socket, 400, "Missing or invalid Sec-WebSocket-Key header");
    }
    if (version !== 13 && version !== 8) {
      return this.#refuse(req, socket, 400, "Missing or invalid Sec-WebSocket-Version header", {
        "Sec-WebSocket-Version": "13, 8",
      });
    }
    if (!this.shouldHandle(req)) return abortHandshake(socket, 400);
    const protocolHeader = req.headers["sec-websocket-protocol"];
    if (protocolHeader !== undefined) {
      try {
        parseProtocolSet(protocolHeader);
      } catch {
        return this.#refuse(req, socket, 400, "Invalid Sec-WebSocket-Protocol header");
      }
    }
    const extensionsHeader = req.headers["sec-websocket-extensions"];
    if (this.options.perMessageDeflate && extensionsHeader !== undefined) {
      try {
        parseExtensions(extensionsHeader);
      } catch {
        return this.#refuse(req, socket, 400, "Invalid or unacceptable Sec-WebSocket-Extensions header");
      }
    }
    const verify = this.options.verifyClient;
    if (verify) {
      const origin = req.headers[version === 8 ? "sec-websocket-origin" : "origin"];
      const secure = req.socket as unknown as { authorized?: boolean; encrypted?: boolean };
      const info = { origin: origin as string, secure: !!(secure.authorized || secure.encrypted), req };
      if (verify.length === 2) {
        (verify as VerifyClientCallbackAsync)(info, (verified, code, message, headers) => {
          if (!verified) return abortHandshake(socket, code || 401, message, headers);
          this.#completeUpgrade(req, socket, head, cb);
        });
        return;
      }
      if (!(verify as VerifyClientCallbackSync)(info)) return abortHandshake(socket, 401);
    }
    this.#completeUpgrade(req, socket, head, cb);
  }

  #refuse(req: IncomingMessage, socket: Duplex, code: number, message: string, headers?: OutgoingHttpHeaders): void {
    if (this.listenerCount("wsClientError") > 0) {
      this.emit("wsClientError", new Error(message), socket, req);
    } else {
      abortHandshake(socket, code, message, headers);
    }
  }

  #completeUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb: (client: WebSocket, request: IncomingMessage) => void,
  ): void {
    // The client already sent its FIN (or the socket is gone): nothing to answer.
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }
    const marked = socket as Duplex & { [UPGRADED]?: boolean };
    if (marked[UPGRADED]) {
      throw new Error(
        "server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration",
      );
    }
    if (this.#state > RUNNING) return abortHandshake(socket, 503);
    marked[UPGRADED] = true;
    socket.removeListener("error", destroyOnError);
    this.#pending.set(req, { callback: cb });
    this.#handler(req, socket, head);
  }

  /** ws's `headers` event: the 101's lines, which listeners may add to. */
  #headers(fields: [string, string][], request: UpgradeRequest): void {
    if (this.listenerCount("headers") === 0) return;
    const lines = ["HTTP/1.1 101 Switching Protocols", ...fields.map(([name, value]) => `${name}: ${value}`)];
    this.emit("headers", lines, request.nodeRequest as IncomingMessage);
    fields.length = 0;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      fields.push(colon < 0 ? [line, ""] : [line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
    }
  }

  #connected(conn: WebSocketConnection, request: UpgradeRequest): Promise<void> {
    const req = request.nodeRequest as IncomingMessage;
    const pending = this.#pending.get(req)!;
    this.#pending.delete(req);
    const Socket = this.options.WebSocket ?? WebSocket;
    // As ws: the class gets the server's options too.
    const ws =
      new (Socket as unknown as new (address: null, protocols: undefined, options: ServerOptions) => WebSocket)(
        null,
        undefined,
        this.options,
      );
    attachConnection(ws, conn, this.options);
    if (this.clients !== undefined) {
      this.clients.add(ws);
      ws.on("close", () => {
        this.clients.delete(ws);
        if (this.#emitCloseWhenEmpty && this.clients.size === 0) nextTick(() => this.#emitClose());
      });
    }
    pending.callback(ws, req);
    ws.startReading();
    // The connection stays open until it closes: requestHandler closes it when this settles.
    return conn.closed.then(() => {});
  }
}
