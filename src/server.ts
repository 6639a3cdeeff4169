/**
 * The server: `requestHandler` (Gerbil's `websocket-request-handler`) for the
 * `"upgrade"` event of a node:http / node:https server, and `serve`, a
 * standalone server on the runtime's own listener. Both run the same
 * handshake, from `src/handshake/server.ts`, over a {@link Transport}.
 *
 * @module
 */

import { WebSocketConnection, type WebSocketConnectionOptions } from "./connection.ts";
import { untrackOnClose } from "./connection/shell.ts";
import { TimeoutError, WebSocketError } from "./errors.ts";
import { HttpHeadError, HttpHeadParser } from "./handshake/http.ts";
import {
  acceptResponse,
  checkConnectRequest,
  type CheckedUpgrade,
  checkUpgradeRequest,
  type HandshakeRejection,
  isRejection,
  negotiateProtocol,
  rejectionResponse,
  type UpgradeRequest,
  verifyRejection,
  type VerifyResult,
} from "./handshake/server.ts";
import { acceptDeflateOffer, type DeflateAcceptance } from "./handshake/permessage_deflate.ts";
import { type CompressionOptions, negotiationOf, resolveCompression } from "./extensions/permessage_deflate.ts";
import { type TracedFrame, traceTransport } from "./trace.ts";
import { ZlibSweeper } from "./extensions/zlib_sweeper.ts";
import { listen } from "./transport/mod.ts";
import { HTTP2_CANCEL, type Http2StreamTransport, http2StreamTransport, listenHttp2 } from "./transport/http2.ts";
import { nodeSocketTransport } from "./transport/node.ts";
import type { Listener, Transport, TransportSink } from "./transport/types.ts";
import type { Socket } from "node:net";
import { Hub } from "./pubsub/hub.ts";
import type { Backplane } from "./pubsub/backplane.ts";
import type { Http2ServerRequest, IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";

export type { UpgradeRequest, VerifyResult };

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
 * connection with 400. Called only when the client offered some.
 *
 * @example Prefer the newest version we speak
 * ```ts
 * import type { SelectProtocol } from "@streamsock/streamsock";
 *
 * const selectProtocol: SelectProtocol = (offered) =>
 *   ["chat.v2", "chat.v1"].find((p) => offered.includes(p)) ?? null;
 * ```
 */
export type SelectProtocol = (offered: string[]) => string | null | undefined;

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
  extends Omit<WebSocketConnectionOptions, "role" | "protocol" | "extensions" | "head" | "maskKey"> {
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
 * The parts of node:http's `IncomingMessage` the handler reads; typed
 * structurally so that no runtime's type package is needed.
 *
 * @example
 * ```ts
 * import type { NodeUpgradeRequest } from "@streamsock/streamsock";
 * import type { IncomingMessage } from "node:http";
 *
 * const asRequest = (req: IncomingMessage): NodeUpgradeRequest => req;
 * ```
 */
export interface NodeUpgradeRequest {
  /** The request method. */
  method?: string;
  /** The request target. */
  url?: string;
  /** `"1.1"` for HTTP/1.1. */
  httpVersion?: string;
  /** Header names and values, alternating, as received. */
  rawHeaders: string[];
  /** The connection, for the client's address. */
  socket?: { remoteAddress?: string };
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

interface HandshakeCore {
  onSocket: OnSocket;
  selectProtocol: SelectProtocol | undefined;
  verify: RequestHandlerOptions["verify"];
  handshakeTimeout: number;
  onError: (error: unknown, request: UpgradeRequest | undefined) => void;
  connectionOptions: WebSocketConnectionOptions;
  trace: RequestHandlerOptions["trace"];
  hub: Hub | undefined;
  onRequest?: ServeOptions["onRequest"];
}

/** What a server learns about its connections, to count and shut them down. */
interface ConnectionTracker {
  handshakeStarted(handshake: PendingHandshake): void;
  handshakeEnded(handshake: PendingHandshake): void;
  opened(ws: WebSocketConnection, transport: Transport): void;
}

const UNTRACKED: ConnectionTracker = {
  handshakeStarted() {},
  handshakeEnded() {},
  opened() {},
};

// The handshake core behind each handler requestHandler made, so that serve
// can run it on its own listener.
const cores = new WeakMap<UpgradeHandler, HandshakeCore>();

/**
 * A client that sends frames before the 101 breaks RFC 6455 §4.1; a little
 * is kept for the connection, more drops the client.
 */
const MAX_EARLY_DATA = 64 * 1024;
/** How long a refused client may take to read the answer before it is dropped. */
const REFUSAL_LINGER = 1000;

function report(core: HandshakeCore, error: unknown, request: UpgradeRequest | undefined): void {
  try {
    core.onError(error, request);
  } catch (err) {
    console.error(err);
  }
}

function defaultOnError(error: unknown): void {
  console.error("streamsock: server error:", error);
}

function concatChunks(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let total = 0;
  for (const chunk of chunks) total += chunk.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * One opening handshake in progress: it owns the transport until the 101 is
 * written, then hands it to a WebSocketConnection. With a parser it reads
 * the request head itself (serve); without, node:http already did.
 */
class PendingHandshake implements TransportSink {
  readonly #transport: Transport;
  readonly #core: HandshakeCore;
  readonly #tracker: ConnectionTracker;
  readonly #remoteAddress: string | undefined;
  #parser: HttpHeadParser | null;
  /** Set for an RFC 8441 stream: the refusal or 200 goes out as an HTTP/2 response head. */
  readonly #h2: Http2StreamTransport | null;
  #early: Uint8Array[] = [];
  #earlyBytes = 0;
  #request: UpgradeRequest | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #done = false;

  constructor(
    transport: Transport,
    core: HandshakeCore,
    tracker: ConnectionTracker,
    remoteAddress: string | undefined,
    parser: HttpHeadParser | null,
    h2: Http2StreamTransport | null = null,
  ) {
    this.#transport = transport;
    this.#h2 = h2;
    this.#core = core;
    this.#tracker = tracker;
    this.#remoteAddress = remoteAddress;
    this.#parser = parser;
    tracker.handshakeStarted(this);
    this.#timer = setTimeout(() => this.#onTimeout(), core.handshakeTimeout);
    transport.start(this);
  }

  data(chunk: Uint8Array): void {
    if (this.#done) return;
    const parser = this.#parser;
    if (parser === null) {
      this.#keepEarly(chunk);
      return;
    }
    let head;
    try {
      head = parser.push(chunk);
    } catch (err) {
      if (!(err instanceof HttpHeadError)) throw err;
      this.refuse({ status: err.status, body: err.message });
      return;
    }
    if (head === null) return;
    this.#parser = null;
    if (head.rest.length > 0) this.#keepEarly(head.rest);
    const [method, target, version] = head.startLine;
    this.upgrade(method, target, version, head.headers);
  }

  end(): void {
    this.abandon();
  }

  error(): void {
    this.abandon();
  }

  drain(): void {}

  #keepEarly(chunk: Uint8Array): void {
    this.#earlyBytes += chunk.length;
    if (this.#earlyBytes > MAX_EARLY_DATA) {
      this.abandon();
      return;
    }
    this.#early.push(chunk);
  }

  /** Drops the connection: the client went away, misbehaved, or the server is shutting down. */
  abandon(): void {
    if (this.#done) {
      // A refusal waiting for its answer to be read: the peer is gone now.
      clearTimeout(this.#timer);
      this.#transport.destroy();
      return;
    }
    this.#finish();
    this.#transport.destroy();
  }

  #finish(): void {
    this.#done = true;
    clearTimeout(this.#timer);
    this.#tracker.handshakeEnded(this);
  }

  #onTimeout(): void {
    if (this.#done) return;
    if (this.#parser !== null) {
      this.refuse({ status: 408, body: "The request head did not arrive in time" });
      return;
    }
    const error = new TimeoutError(`The opening handshake did not finish within ${this.#core.handshakeTimeout} ms`);
    report(this.#core, error, this.#request);
    this.refuse({ status: 503, body: "The server did not answer in time" });
  }

  /** Answers with an error status and closes. */
  refuse(rejection: HandshakeRejection): void {
    if (this.#done) return;
    if (rejection.error !== undefined) report(this.#core, rejection.error, this.#request);
    this.#finish();
    if (this.#h2 !== null) {
      this.#h2.respond(rejection.status, rejection.headers ?? [], rejection.body + "\n");
    } else {
      this.#transport.write(rejectionResponse(rejection));
      this.#transport.end();
    }
    // Our sink still hears the peer's close, which ends the wait early.
    this.#timer = setTimeout(() => this.#transport.destroy(), REFUSAL_LINGER);
  }

  /** serve's `onRequest` for a request that asks for no upgrade: its answer, or undefined for the 426. */
  #answerPlainRequest(method: string, target: string, headers: Headers): HandshakeRejection | undefined {
    const onRequest = this.#core.onRequest;
    if (onRequest === undefined) return undefined;
    const request: UpgradeRequest = { method, url: target, headers, protocols: [], remoteAddress: this.#remoteAddress };
    try {
      const answer = onRequest(request);
      return answer === undefined ? undefined : { ...answer, body: answer.body ?? "" };
    } catch (err) {
      return { status: 500, body: "The server failed to answer", error: err };
    }
  }

  /** Checks the request, asks the application, answers, and starts the connection. */
  upgrade(method: string, target: string, version: string, headers: Headers, protocol?: string): void {
    this.#upgrade(method, target, version, headers, protocol).catch((err) => {
      report(this.#core, err, this.#request);
      this.abandon();
    });
  }

  async #upgrade(
    method: string,
    target: string,
    version: string,
    headers: Headers,
    protocol: string | undefined,
  ): Promise<void> {
    const h2 = this.#h2;
    const checked = h2 === null
      ? checkUpgradeRequest(method, version, headers)
      : checkConnectRequest(method, protocol, headers);
    if (isRejection(checked)) {
      const answer = h2 === null && headers.get("upgrade") === null
        ? this.#answerPlainRequest(method, target, headers)
        : undefined;
      return this.refuse(answer ?? checked);
    }
    const request: UpgradeRequest = {
      method,
      url: target,
      headers,
      protocols: checked.protocols,
      remoteAddress: this.#remoteAddress,
      httpVersion: h2 === null ? "1.1" : "2",
    };
    this.#request = request;
    const core = this.#core;
    if (core.verify !== undefined) {
      let result: unknown;
      try {
        result = await core.verify(request);
      } catch (err) {
        return this.refuse({ status: 500, body: "The server failed to handle the WebSocket handshake", error: err });
      }
      if (this.#done) return;
      const refusal = verifyRejection(result);
      if (refusal !== null) return this.refuse(refusal);
    }
    const negotiated = negotiateProtocol(checked.protocols, core.selectProtocol);
    if (isRejection(negotiated)) return this.refuse(negotiated);
    const deflate = negotiateCompression(headers, core.connectionOptions.compression);
    if (deflate !== null && isRejection(deflate)) return this.refuse(deflate);
    const response = h2 === null
      ? await acceptResponse((checked as CheckedUpgrade).key, negotiated.protocol, deflate?.response)
      : null;
    if (this.#done) return;
    this.#finish();
    const transport = this.#transport;
    if (response !== null) transport.write(response);
    else h2!.respond(200, acceptFields(negotiated.protocol, deflate?.response));
    let ws: WebSocketConnection;
    try {
      const head = this.#early.length === 0 ? undefined : concatChunks(this.#early);
      const trace = core.trace;
      ws = new WebSocketConnection(
        trace === undefined ? transport : traceTransport(transport, (frame) => trace(frame, request), head),
        {
          ...core.connectionOptions,
          protocol: negotiated.protocol,
          extensions: deflate?.response ?? "",
          head,
        },
      );
    } catch (err) {
      report(core, err, request);
      transport.destroy();
      return;
    }
    this.#early = [];
    core.hub?.add(ws);
    this.#tracker.opened(ws, transport);
    runOnSocket(core, ws, request);
  }
}

/** The header fields of an RFC 8441 §5 200 answer. */
function acceptFields(protocol: string | null, extensions: string | undefined): [string, string][] {
  const fields: [string, string][] = [];
  if (protocol !== null) fields.push(["sec-websocket-protocol", protocol]);
  if (extensions !== undefined && extensions !== "") fields.push(["sec-websocket-extensions", extensions]);
  return fields;
}

/**
 * RFC 7692 §7 on the server: accepts the client's first usable
 * permessage-deflate offer when compression is on (off by default, as in
 * ws: it costs memory and CPU per connection). Invalid offers are declined;
 * a header that breaks the RFC 6455 §9.1 grammar is answered 400.
 */
function negotiateCompression(
  headers: Headers,
  option: boolean | CompressionOptions | undefined,
): DeflateAcceptance | HandshakeRejection | null {
  const compression = resolveCompression(option, false);
  if (compression === null) return null;
  try {
    return acceptDeflateOffer(headers.get("sec-websocket-extensions"), negotiationOf(compression));
  } catch (err) {
    return { status: 400, body: `Malformed Sec-WebSocket-Extensions: ${(err as Error).message}` };
  }
}

function runOnSocket(core: HandshakeCore, ws: WebSocketConnection, request: UpgradeRequest): void {
  let result: void | Promise<void>;
  try {
    result = core.onSocket(ws, request);
  } catch (err) {
    socketFailed(core, ws, request, err);
    return;
  }
  // The request (its headers, their strings) is kept for as long as the
  // handler runs only when an onError of the application's may want it; and
  // inline arrows, not a named closure: under tsx every named function also
  // carries a property store. Both per connection (see docs/performance.md).
  const forReport = core.onError === defaultOnError ? undefined : request;
  Promise.resolve(result).then(() => void ws.close(1000), (err) => socketFailed(core, ws, forReport, err));
}

function socketFailed(core: HandshakeCore, ws: WebSocketConnection, request: UpgradeRequest | undefined, err: unknown): void {
  // The connection's own errors (the peer broke the protocol, the transport
  // was lost, a send after close) already closed it with their code; they
  // are the client's doing, not a fault of the server.
  if (!(err instanceof WebSocketError && err.closeCode !== undefined)) report(core, err, request);
  void ws.close(1011);
}

function makeCore(
  onSocket: OnSocket,
  selectProtocol: SelectProtocol | undefined,
  options: RequestHandlerOptions,
): HandshakeCore {
  if (typeof onSocket !== "function") throw new TypeError("onSocket must be a function");
  const { verify, handshakeTimeout, onError, trace, hub, ...connectionOptions } = options;
  resolveCompression(connectionOptions.compression, false); // throws on invalid options now, not per connection
  return {
    onSocket,
    selectProtocol,
    verify,
    handshakeTimeout: handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
    onError: onError ?? defaultOnError,
    // One sweeper of idle zlib state for all the connections of this server.
    connectionOptions: { zlibSweeper: new ZlibSweeper(), ...connectionOptions, role: "server" },
    trace,
    hub,
  };
}

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
 * @throws {TypeError} When `onSocket` is not a function.
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
  const handler: UpgradeHandler = (request, socket, head) => {
    // node:http hands the socket over with its listeners removed; the
    // transport takes it from here, "error" listener included.
    const transport = nodeSocketTransport(socket as unknown as Socket);
    const handshake = new PendingHandshake(transport, core, UNTRACKED, request.socket?.remoteAddress, null);
    if (head.length > 0) handshake.data(new Uint8Array(head.buffer, head.byteOffset, head.byteLength));
    const headers = headersOf(request.rawHeaders);
    if (isRejection(headers)) handshake.refuse(headers);
    else handshake.upgrade(request.method ?? "GET", request.url ?? "/", `HTTP/${request.httpVersion}`, headers);
  };
  cores.set(handler, core);
  return handler;
}

/** Starts the handshake of an RFC 8441 stream that arrived with these header fields. */
function acceptStream(
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
 *   for await (const msg of ws) await ws.send(msg);
 * });
 * server.on("request", (_req, res) => res.end("<script>new WebSocket(`wss://${location.host}/`)</script>"));
 * server.on("connect", http2Handler(websocket)); // HTTP/2 extended CONNECT
 * server.on("upgrade", websocket); // HTTP/1.1 clients
 * server.close();
 * ```
 */
export function http2Handler(handler: UpgradeHandler | OnSocket): Http2Handler {
  const core = cores.get(handler as UpgradeHandler) ?? makeCore(handler as OnSocket, undefined, {});
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
export interface ServeOptions {
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

/**
 * A running {@link serve} server.
 *
 * @example
 * ```ts
 * import { serve } from "@streamsock/streamsock";
 *
 * const server = serve({ port: 0, hostname: "127.0.0.1" }, (ws) => ws.send("hi"));
 * await server.ready;
 * console.log(`listening on ${server.addr.hostname}:${server.port}, ${server.connections} connections`);
 * await server.close();
 * ```
 */
export interface Server {
  /** Resolves once the server listens; rejects when it cannot (address in use...). */
  readonly ready: Promise<void>;
  /** The bound address. Read it after `ready`. */
  readonly addr: { hostname: string; port: number };
  /** The bound port: the one the system picked when 0 was asked. Read it after `ready`. */
  readonly port: number;
  /** Open WebSocket connections (after their handshake, until they are closed). */
  readonly connections: number;
  /** The hub every connection joins: its open connections and topics. */
  readonly hub: Hub;
  /**
   * Sends a message to every subscriber of a topic (Bun's `server.publish`),
   * through the backplane too when there is one.
   *
   * @returns How many local subscribers it was queued for.
   */
  publish(topic: string, data: string | Uint8Array): number;
  /** How many connections of this server subscribe to `topic` (Bun's `server.subscriberCount`). */
  subscriberCount(topic: string): number;
  /**
   * Shuts down gracefully: stops accepting, drops handshakes in progress,
   * closes every open connection with 1001 (Going Away), waits for their
   * closing handshakes up to `shutdownTimeout`, then drops what is left.
   * Calling it again returns the same promise.
   */
  close(): Promise<void>;
  /** Resolves when the server has shut down, by `close()` or the signal. */
  readonly finished: Promise<void>;
}

/** How long to wait for dropped transports to report that they are gone. */
const DESTROY_GRACE = 1000;

function delay(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

class WebSocketServer implements Server {
  readonly ready: Promise<void>;
  readonly finished: Promise<void>;
  #resolveFinished!: () => void;
  #listener: Listener | null = null;
  readonly #handshakes = new Set<PendingHandshake>();
  readonly #open = new Map<WebSocketConnection, Transport>();
  readonly #shutdownTimeout: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => void this.close();
  #closing: Promise<void> | null = null;
  readonly hub: Hub;

  constructor(options: ServeOptions, core: HandshakeCore) {
    this.hub = core.hub ?? options.hub ?? new Hub({ backplane: options.backplane });
    core = { ...core, hub: this.hub, onRequest: options.onRequest };
    this.finished = new Promise((resolve) => (this.#resolveFinished = resolve));
    this.#shutdownTimeout = options.shutdownTimeout ?? 5000;
    const limits = { maxHeadSize: options.maxHeadSize, maxHeaders: options.maxHeaders };
    const tracker: ConnectionTracker = {
      handshakeStarted: (handshake) => this.#handshakes.add(handshake),
      handshakeEnded: (handshake) => this.#handshakes.delete(handshake),
      opened: (ws, transport) => {
        this.#open.set(ws, transport);
        untrackOnClose(ws, this.#open);
      },
    };
    const listenOptions = {
      hostname: options.hostname ?? "0.0.0.0",
      port: options.port ?? 8000,
      tls: options.tls,
      reusePort: options.reusePort,
    };
    const onAccept = (transport: Transport, remoteAddress: string | undefined) => {
      if (this.#closing !== null) {
        transport.destroy();
        return;
      }
      new PendingHandshake(transport, core, tracker, remoteAddress, new HttpHeadParser(limits));
    };
    const listening = options.http2 !== true
      ? listen(listenOptions, onAccept)
      : listenHttp2(listenOptions, onAccept, (stream, fields, remoteAddress) => {
        if (this.#closing !== null) stream.close(HTTP2_CANCEL);
        else acceptStream(core, tracker, stream, fields, remoteAddress);
      });
    this.ready = listening.then((listener) => {
      this.#listener = listener;
      if (this.#closing !== null) listener.close();
    });
    this.#signal = options.signal;
    if (this.#signal?.aborted) void this.close();
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  get addr(): { hostname: string; port: number } {
    if (this.#listener === null) throw new Error("The server is not listening yet: await server.ready first");
    return { ...this.#listener.addr };
  }

  get port(): number {
    return this.addr.port;
  }

  get connections(): number {
    return this.#open.size;
  }

  publish(topic: string, data: string | Uint8Array): number {
    return this.hub.publish(topic, data);
  }

  subscriberCount(topic: string): number {
    return this.hub.subscriberCount(topic);
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    try {
      await this.ready;
    } catch {
      // Never listened: nothing to stop.
    }
    this.#listener?.close();
    for (const handshake of [...this.#handshakes]) handshake.abandon();
    const open = [...this.#open];
    // RFC 6455 §7.4.1: 1001, an endpoint going away.
    const closed = Promise.all(open.map(([ws]) => ws.close(1001, "Server is shutting down")));
    const timeout = delay(this.#shutdownTimeout);
    await Promise.race([closed, timeout.promise]);
    timeout.cancel();
    if (this.#open.size > 0) {
      for (const transport of this.#open.values()) transport.destroy();
      const grace = delay(DESTROY_GRACE);
      await Promise.race([closed, grace.promise]);
      grace.cancel();
    }
    // Closes the hub's backplane; its connections are closed by now.
    await this.hub.close();
    this.#resolveFinished();
  }
}

/**
 * Starts a standalone WebSocket server on the runtime's own listener, with
 * the request head read by streamsock's bounded HTTP/1.1 parser: a head over
 * `maxHeadSize` or `maxHeaders` is answered 431, a malformed one 400, one
 * slower than `handshakeTimeout` 408, and a plain HTTP request 426.
 *
 * `handler` is what {@link requestHandler} returns (for subprotocols,
 * `verify` and connection options) or, for the common case, an `onSocket`
 * function itself.
 *
 * @param options Address, port, TLS, limits and a stop signal.
 * @param handler A {@link requestHandler} handler, or an {@link OnSocket}.
 * @returns The server; `await server.ready` before reading `server.port`.
 *
 * @example An echo server
 * ```ts
 * import { serve } from "@streamsock/streamsock";
 *
 * const server = serve({ port: 0, hostname: "127.0.0.1" }, async (ws) => {
 *   for await (const msg of ws) await ws.sendAll(msg);
 * });
 * await server.ready;
 * console.log(`ws://127.0.0.1:${server.port}/`);
 * await server.close();
 * ```
 */
export function serve(options: ServeOptions, handler: OnSocket): Server;
/**
 * Starts a standalone WebSocket server with a handler made by
 * {@link requestHandler}: its subprotocol choice, `verify` and connection
 * options apply.
 *
 * @param options Address, port, TLS, limits and a stop signal.
 * @param handler What {@link requestHandler} returned.
 * @returns The server; `await server.ready` before reading `server.port`.
 *
 * @example A chat server that speaks "chat.v1" only
 * ```ts
 * import { requestHandler, serve } from "@streamsock/streamsock";
 *
 * const handler = requestHandler(async (ws) => {
 *   for await (const msg of ws) await ws.sendAll(msg);
 * }, (offered) => offered.includes("chat.v1") ? "chat.v1" : null, { maxFrameSize: 64 * 1024 });
 * const server = serve({ port: 0, hostname: "127.0.0.1" }, handler);
 * await server.ready;
 * await server.close();
 * ```
 */
export function serve(options: ServeOptions, handler: UpgradeHandler): Server;
export function serve(options: ServeOptions, handler: OnSocket | UpgradeHandler): Server {
  const core = cores.get(handler as UpgradeHandler) ?? makeCore(handler as OnSocket, undefined, {});
  return new WebSocketServer(options, core);
}
