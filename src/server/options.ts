/**
 * The server's public option and callback types: those of
 * {@link requestHandler}, {@link serve} and the node:http shapes they take.
 *
 * @module
 */

import type { WebSocketConnection } from "../connection/connection.ts";
import type { WebSocketConnectionOptions } from "../connection/options.ts";
import type { NodeUpgradeRequest, UpgradeRequest, VerifyResult } from "../handshake/server.ts";
import type { TracedFrame } from "../transport/trace.ts";
import type { DurablePrefix, Hub } from "../pubsub/hub.ts";
import type { Backplane } from "../pubsub/backplane.ts";

export type { NodeUpgradeRequest } from "../handshake/server.ts";

/**
 * The default time a client has to complete the opening handshake: 10 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_HANDSHAKE_TIMEOUT, requestHandler } from "@streamsock/streamsock";
 *
 * const handler = requestHandler(() => {}, undefined, { handshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT / 2 });
 * ```
 */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/**
 * Runs once per accepted connection (Gerbil's `continue`). When the promise
 * it returns settles, the connection is closed with 1000 if it is still open;
 * if it throws, the connection is closed with 1011 and the error goes to
 * `onError`.
 *
 * @example Route by path
 * ```ts
 * import type { OnSocket } from "@streamsock/streamsock";
 *
 * const onSocket: OnSocket = async (ws, request) => {
 *   if (new URL(request.url, "ws://x").pathname !== "/echo") return ws.close(4004, "No such room").then(() => {});
 *   for await (const msg of ws) await ws.sendAll(msg);
 * };
 * ```
 */
export type OnSocket = (ws: WebSocketConnection, request: UpgradeRequest) => void | Promise<void>;

/**
 * Picks one of the subprotocols the client offered (Gerbil's
 * `select-protocol`), or returns null (or undefined) to refuse the
 * connection with 400 (or, with `requireProtocol: false`, to accept it
 * without a subprotocol), or `""` to accept it without a subprotocol (as
 * python-websockets' `None`; the RFC allows it). Called only when the client
 * offered some, with the request as the second argument.
 *
 * @example Prefer the newest version we speak
 * ```ts
 * import type { SelectProtocol } from "@streamsock/streamsock";
 *
 * const selectProtocol: SelectProtocol = (offered) =>
 *   ["chat.v2", "chat.v1"].find((p) => offered.includes(p)) ?? null;
 * ```
 *
 * @example Choose by the request: the version a query parameter asks for
 * ```ts
 * import type { SelectProtocol } from "@streamsock/streamsock";
 *
 * const selectProtocol: SelectProtocol = (offered, request) => {
 *   const wanted = `chat.v${new URL(request.url, "http://host").searchParams.get("v") ?? "1"}`;
 *   return offered.includes(wanted) ? wanted : null;
 * };
 * ```
 */
export type SelectProtocol = (offered: string[], request: UpgradeRequest) => string | null | undefined;

/**
 * A server's connection limits, checked at the handshake of every valid
 * upgrade (after the RFC 6455 checks, before `verify`) and counted in
 * `server.stats().limits`. They count the connections of a hub: `serve`
 * always has one; give `requestHandler` a `hub` to use them on node:http.
 *
 * @example At most 10,000 connections, 20 per client, behind one nginx
 * ```ts
 * import type { ConnectionLimits } from "@streamsock/streamsock";
 *
 * const limits: ConnectionLimits = { maxConnections: 10_000, maxConnectionsPerIp: 20, trustProxy: ["127.0.0.1"] };
 * ```
 */
export interface ConnectionLimits {
  /**
   * The most open connections (handshakes in progress past this check
   * included); more are answered 503 with `Retry-After`. Unlimited by default.
   */
  maxConnections?: number;
  /**
   * The most open connections from one client address; more are answered
   * 429 with `Retry-After`. The address is the connection's peer, or behind
   * a proxy listed in `trustProxy`, the one its `X-Forwarded-For` names.
   * Unlimited by default.
   */
  maxConnectionsPerIp?: number;
  /**
   * The addresses of the proxies in front of the server whose
   * `X-Forwarded-For` is believed: a connection from one of them counts
   * under the rightmost address of that header that is not a trusted proxy.
   * From anyone else the header is ignored (a client could write anything
   * there). Empty by default.
   */
  trustProxy?: string[];
  /** Seconds, sent as `Retry-After` with the 503 and 429 of the limits and of a drain. Defaults to 5. */
  retryAfter?: number;
}

/**
 * Options for {@link requestHandler}: the handshake's, and the connection's.
 *
 * @example Only pages from our own origin, with small frames
 * ```ts
 * import type { RequestHandlerOptions } from "@streamsock/streamsock";
 *
 * const options: RequestHandlerOptions = {
 *   verify: (request) => request.headers.get("origin") === "https://example.com" || 403,
 *   maxFrameSize: 64 * 1024,
 *   onError: (error, request) => console.error("websocket handler failed", request?.url, error),
 * };
 * ```
 */
export interface RequestHandlerOptions
  extends Omit<WebSocketConnectionOptions, "role" | "protocol" | "extensions" | "head" | "maskKey">, ConnectionLimits {
  /**
   * Accepts (`true`) or refuses the request after the RFC 6455 checks: for
   * origin checks and authentication. `false` refuses with 403, a number with
   * that status (300-599), `{ status, headers, body }` with those. A throw or
   * any other value refuses with 500 and goes to `onError`.
   */
  verify?: (request: UpgradeRequest) => VerifyResult | Promise<VerifyResult>;
  /**
   * Milliseconds from the upgrade request (for `serve`: from the accepted
   * connection) to the 101 answer; a slower client is answered 408 and
   * dropped. Defaults to 10000.
   */
  handshakeTimeout?: number;
  /**
   * Whether a client that offers subprotocols, none of which
   * `selectProtocol` picks, is refused with 400 (true, the default, as in
   * Gerbil). With false it is accepted without a subprotocol, as ws and
   * most servers do (RFC 6455 §4.2.2), and the client decides whether to go on.
   *
   * @example Speak "chat.v2" to clients that offer it, and accept the others without a subprotocol
   * ```ts
   * import { requestHandler } from "@streamsock/streamsock";
   *
   * const handler = requestHandler((ws) => void ws.send(ws.protocol ?? "no subprotocol"), (offered) =>
   *   offered.includes("chat.v2") ? "chat.v2" : null, { requireProtocol: false });
   * ```
   */
  requireProtocol?: boolean;
  /**
   * Sees and extends the header fields of the answer that accepts the
   * WebSocket (the 101, or the 200 of an HTTP/2 extended CONNECT) just
   * before it is sent: push `["Set-Cookie", "..."]` and the like onto
   * `headers`. Fields are checked (RFC 9110 names, values without CR or LF;
   * over HTTP/2 none of the connection-specific fields of RFC 9113 §8.2.2);
   * a throw or an invalid field refuses the request with 500 and goes to
   * `onError`.
   *
   * @example A session cookie with the 101
   * ```ts
   * import { requestHandler } from "@streamsock/streamsock";
   *
   * const handler = requestHandler((ws) => void ws.send("hello"), undefined, {
   *   onHeaders: (headers, request) => {
   *     if (!request.headers.has("cookie")) headers.push(["Set-Cookie", `session=${crypto.randomUUID()}; HttpOnly`]);
   *   },
   * });
   * ```
   */
  onHeaders?: (headers: [string, string][], request: UpgradeRequest) => void;
  /**
   * Receives what went wrong on the server's side: `onSocket` throwing, and
   * `verify` or `selectProtocol` failing. Errors that only tell that the
   * connection failed or closed (a {@link WebSocketError} with a close code,
   * such as the peer's protocol violation) are not reported: the connection
   * already closed with its code. Defaults to `console.error`.
   */
  onError?: (error: unknown, request: UpgradeRequest | undefined) => void;
  /**
   * Debugging: called with every frame each connection sends and receives
   * after the handshake, read from the wire, and the request it came from.
   * `streamsock serve --verbose` prints these. Costs nothing when absent.
   */
  trace?: (frame: TracedFrame, request: UpgradeRequest) => void;
  /**
   * Every accepted connection joins this {@link Hub} before `onSocket` runs,
   * so it can `subscribe` and `publish`, and `hub.close()` closes it. `serve`
   * creates a hub when none is given.
   */
  hub?: Hub;
}

/**
 * The socket node:http hands to `"upgrade"` listeners: a node:net `Socket`
 * (a node:tls `TLSSocket` for node:https), which node:http types as `Duplex`.
 *
 * @example
 * ```ts
 * import type { NodeUpgradeSocket } from "@streamsock/streamsock";
 * import type { Duplex } from "node:stream";
 *
 * const asSocket = (socket: Duplex): NodeUpgradeSocket => socket;
 * ```
 */
export interface NodeUpgradeSocket {
  /** Writes bytes. */
  write(chunk: Uint8Array): boolean;
  /** Closes at once. */
  destroy(): unknown;
}

/**
 * What {@link requestHandler} returns: a listener for the `"upgrade"` event
 * of a node:http or node:https server (on Node, Deno and Bun), which
 * {@link serve} also accepts.
 *
 * @example One handler, two servers
 * ```ts
 * import { createServer } from "node:http";
 * import { requestHandler, serve, type UpgradeHandler } from "@streamsock/streamsock";
 *
 * const handler: UpgradeHandler = requestHandler((ws) => ws.send("hello"));
 * const http = createServer().on("upgrade", handler);
 * const standalone = serve({ port: 0, hostname: "127.0.0.1" }, handler);
 * await standalone.close();
 * http.close();
 * ```
 */
export type UpgradeHandler = (request: NodeUpgradeRequest, socket: NodeUpgradeSocket, head: Uint8Array) => void;

/**
 * Options for {@link serve}.
 *
 * @example wss:// on port 8443 until Ctrl-C
 * ```ts ignore
 * import { serve, type ServeOptions } from "@streamsock/streamsock";
 *
 * const controller = new AbortController();
 * const options: ServeOptions = {
 *   port: 8443,
 *   tls: { cert: await Deno.readTextFile("cert.pem"), key: await Deno.readTextFile("key.pem") },
 *   signal: controller.signal,
 * };
 * Deno.addSignalListener("SIGINT", () => controller.abort());
 * await serve(options, (ws) => ws.send("hello")).finished;
 * ```
 */
export interface ServeOptions extends ConnectionLimits {
  /** TCP port; 0 lets the system pick one (read it from `server.port`). Defaults to 8000. */
  port?: number;
  /** The address to listen on. Defaults to `"0.0.0.0"`: every IPv4 interface. */
  hostname?: string;
  /** PEM certificate chain and private key: the server then speaks `wss://`. */
  tls?: { cert: string; key: string };
  /**
   * Also serve WebSockets over HTTP/2 (RFC 8441) on the same port: with
   * `tls`, clients that choose `h2` by ALPN (browsers, for pages served over
   * HTTP/2) open them as extended CONNECT streams, others upgrade over
   * HTTP/1.1 as before; without, h2c with prior knowledge and HTTP/1.1 share
   * the port. The listener is then `node:tls` / `node:net` on every runtime.
   * Defaults to false.
   */
  http2?: boolean;
  /** Aborting it closes the server as `server.close()` does. */
  signal?: AbortSignal;
  /** The largest request head accepted, in bytes; larger ones are answered 431. Defaults to 16 KiB. */
  maxHeadSize?: number;
  /** The most header fields accepted; more are answered 431. Defaults to 100. */
  maxHeaders?: number;
  /**
   * Milliseconds `close()` waits for open connections to finish their
   * closing handshakes before it drops them. Defaults to 5000.
   */
  shutdownTimeout?: number;
  /**
   * Where the server's connections join (for `server.publish` and
   * `ws.subscribe`): the `hub` of the {@link requestHandler} options, else
   * this one, else a new hub (with `backplane`, when given).
   */
  hub?: Hub;
  /**
   * Spans the new hub's topics over processes and machines, such as the
   * Redis backplane of `streamsock/redis`. Ignored when a hub is given.
   */
  backplane?: Backplane;
  /**
   * Durable topics of the new hub, by prefix (see `Hub.durable`): `{ prefix:
   * "/", maxLen: 1000 }` makes every URL-path topic durable. Ignored when a
   * hub is given.
   */
  durable?: DurablePrefix | DurablePrefix[];
  /**
   * Lets several processes listen on the same port, the kernel spreading
   * connections among them (SO_REUSEPORT): one worker per core. Linux on
   * Node >= 22.12, Bun, and Deno (run with `--unstable-net`); elsewhere
   * `ready` rejects rather than silently not sharing the port. Topics span
   * the workers through a `backplane`.
   */
  reusePort?: boolean;
  /**
   * Answers a plain HTTP request (one without `Upgrade`) instead of the
   * default 426: a health check, a small page. Return undefined for the 426.
   * The answer is sent with `Connection: close`.
   */
  onRequest?: (request: UpgradeRequest) => HttpAnswer | undefined;
  /**
   * Serves the server's counters (`server.stats()`) in the Prometheus text
   * exposition format to plain HTTP `GET` requests for this path on the
   * same port, before `onRequest` sees them: `true` for `/metrics`, or a
   * path of your own. Off by default. A scrape is no refusal in the stats.
   *
   * @example
   * ```ts
   * import { serve } from "@streamsock/streamsock";
   *
   * const server = serve({ port: 0, hostname: "127.0.0.1", metrics: true }, (ws) => ws.send("hi"));
   * await server.ready;
   * const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
   * console.log(text.includes("streamsock_connections 0"));
   * await server.close();
   * ```
   */
  metrics?: boolean | string;
}

/**
 * What {@link ServeOptions.onRequest} answers to a plain HTTP request.
 *
 * @example
 * ```ts
 * import type { HttpAnswer } from "@streamsock/streamsock";
 *
 * const health: HttpAnswer = { status: 200, body: "ok" };
 * const page: HttpAnswer = { status: 200, body: "<!doctype html><p>hi</p>", contentType: "text/html; charset=utf-8" };
 * ```
 */
export interface HttpAnswer {
  /** The status code. */
  status: number;
  /** The body. Defaults to empty. */
  body?: string;
  /** The body's media type. Defaults to `text/plain; charset=utf-8`. */
  contentType?: string;
  /** More header fields. */
  headers?: [string, string][];
}
