/**
 * What every server entry point (`requestHandler`, `serve`, `http2Handler`)
 * shares: the handshake policy a handler carries ({@link HandshakeCore}),
 * how `serve` tells such a handler from a plain `onSocket`, and running
 * `onSocket` on an accepted connection.
 *
 * @module
 */

import { WebSocketError } from "../errors.ts";
import type { WebSocketConnection } from "../connection/connection.ts";
import type { WebSocketConnectionOptions } from "../connection/options.ts";
import type { HandshakeRejection, UpgradeRequest } from "../handshake/server.ts";
import { acceptDeflateOffer, type DeflateAcceptance } from "../handshake/permessage_deflate.ts";
import { type CompressionOptions, negotiationOf, resolveCompression } from "../handshake/deflate_options.ts";
import { ZlibSweeper } from "../extensions/zlib_sweeper.ts";
import { rateLimitsOf } from "../connection/rate_limit.ts";
import type { Transport } from "../transport/types.ts";
import type { Hub } from "../pubsub/hub.ts";
import { type Admission, admissionOf } from "./admission.ts";
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  type OnSocket,
  type RequestHandlerOptions,
  type SelectProtocol,
  type ServeOptions,
  type UpgradeHandler,
} from "./options.ts";

/** The handshake policy behind a handler: the application's callbacks and the connections' options. */
export interface HandshakeCore {
  onSocket: OnSocket;
  selectProtocol: SelectProtocol | undefined;
  requireProtocol: boolean;
  onHeaders: RequestHandlerOptions["onHeaders"];
  verify: RequestHandlerOptions["verify"];
  handshakeTimeout: number;
  onError: (error: unknown, request: UpgradeRequest | undefined) => void;
  connectionOptions: WebSocketConnectionOptions;
  trace: RequestHandlerOptions["trace"];
  hub: Hub | undefined;
  /** The connection limits and the drain's Retry-After (enforced where there is a hub to count). */
  admission: Admission;
  onRequest?: ServeOptions["onRequest"];
}

/** A handshake in progress, as a {@link ConnectionTracker} sees it. */
export interface TrackedHandshake {
  /** Drops the connection at once. */
  abandon(): void;
}

/** What a server learns about its connections, to count and shut them down. */
export interface ConnectionTracker {
  handshakeStarted(handshake: TrackedHandshake): void;
  handshakeEnded(handshake: TrackedHandshake): void;
  opened(ws: WebSocketConnection, transport: Transport): void;
}

/** For handlers on someone else's server (node:http, node:http2): nothing to count. */
export const UNTRACKED: ConnectionTracker = {
  handshakeStarted() {},
  handshakeEnded() {},
  opened() {},
};

/** The property that marks a handler made by `requestHandler` and carries its policy. */
const HANDSHAKE_CORE: unique symbol = Symbol("streamsock.handshakeCore");

/** A handler made by `requestHandler`: an {@link UpgradeHandler} carrying its {@link HandshakeCore}. */
type CoreHandler = UpgradeHandler & { readonly [HANDSHAKE_CORE]: HandshakeCore };

/**
 * Marks `handler` as made by `requestHandler`, with the policy `serve` and
 * `http2Handler` run it with on their own listeners.
 */
export function carryCore(handler: UpgradeHandler, core: HandshakeCore): UpgradeHandler {
  Object.defineProperty(handler, HANDSHAKE_CORE, { value: core });
  return handler;
}

/**
 * The policy to run a handler with: a `requestHandler` handler's own, or
 * for an `onSocket` function, the defaults. Both kinds are functions, so
 * the marker property, not the call signature, tells them apart.
 */
export function coreOf(handler: UpgradeHandler | OnSocket): HandshakeCore {
  return HANDSHAKE_CORE in handler
    ? (handler as CoreHandler)[HANDSHAKE_CORE]
    : makeCore(handler as OnSocket, undefined, {});
}

/** Reports an error to the application's `onError`, which may not throw in turn. */
export function report(core: HandshakeCore, error: unknown, request: UpgradeRequest | undefined): void {
  try {
    core.onError(error, request);
  } catch (err) {
    console.error(err);
  }
}

function defaultOnError(error: unknown): void {
  console.error("streamsock: server error:", error);
}

/** The header fields of an RFC 8441 §5 200 answer. */
export function acceptFields(protocol: string | null, extensions: string | undefined): [string, string][] {
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
export function negotiateCompression(
  headers: Headers,
  option: boolean | CompressionOptions | undefined,
): DeflateAcceptance | HandshakeRejection | null {
  const compression = resolveCompression(option, false, "server");
  if (compression === null) return null;
  try {
    return acceptDeflateOffer(headers.get("sec-websocket-extensions"), negotiationOf(compression));
  } catch (err) {
    return { status: 400, body: `Malformed Sec-WebSocket-Extensions: ${(err as Error).message}` };
  }
}

/**
 * Runs `onSocket`; when it settles the connection is closed with 1000, and a
 * throw closes it with 1011 and goes to `onError`.
 */
export function runOnSocket(core: HandshakeCore, ws: WebSocketConnection, request: UpgradeRequest): void {
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

/** The policy of a handler, from `requestHandler`'s arguments; checks them now rather than per connection. */
export function makeCore(
  onSocket: OnSocket,
  selectProtocol: SelectProtocol | undefined,
  options: RequestHandlerOptions,
): HandshakeCore {
  if (typeof onSocket !== "function") throw new TypeError("onSocket must be a function");
  const {
    verify,
    handshakeTimeout,
    onError,
    trace,
    hub,
    requireProtocol,
    onHeaders,
    maxConnections,
    maxConnectionsPerIp,
    trustProxy,
    retryAfter,
    ...connectionOptions
  } = options;
  const admission = admissionOf({ maxConnections, maxConnectionsPerIp, trustProxy, retryAfter });
  rateLimitsOf(connectionOptions); // throws on invalid rates now
  resolveCompression(connectionOptions.compression, false, "server"); // throws on invalid options now, not per connection
  return {
    onSocket,
    selectProtocol,
    requireProtocol: requireProtocol ?? true,
    onHeaders,
    verify,
    handshakeTimeout: handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
    onError: onError ?? defaultOnError,
    // One sweeper of idle zlib state for all the connections of this server.
    connectionOptions: { zlibSweeper: new ZlibSweeper(), ...connectionOptions, role: "server" },
    trace,
    hub,
    admission,
  };
}
