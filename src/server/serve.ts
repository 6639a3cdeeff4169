/**
 * `serve`: a standalone WebSocket server on the runtime's own listener
 * (Deno, Bun or node:net), with the request head read by streamsock's
 * bounded parser, graceful shutdown and topics.
 *
 * @module
 */

import { untrackOnClose, type WebSocketConnection } from "../connection/connection.ts";
import { Hub, telemetryOf } from "../pubsub/hub.ts";
import { listen } from "../transport/runtime.ts";
import { HTTP2_CANCEL, listenHttp2 } from "../transport/http2.ts";
import type { Listener, Transport } from "../transport/types.ts";
import { type ConnectionTracker, coreOf, type HandshakeCore, type TrackedHandshake } from "./core.ts";
import { acceptStream } from "./http2_handler.ts";
import type { OnSocket, ServeOptions, UpgradeHandler } from "./options.ts";
import type { ServerStats } from "../connection/telemetry.ts";
import { PROMETHEUS_CONTENT_TYPE, prometheusMetrics } from "./metrics.ts";
import { admissionOf } from "./admission.ts";
import { PendingHandshake } from "./pending_handshake.ts";

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
   * The server's counters (its hub's: `server.hub.stats()`): open
   * connections, totals, closes by code, messages and bytes each way,
   * refused handshakes by status, drops by cause, limits hit, topics,
   * subscriptions, bytes waiting to be sent. A new plain object each time.
   *
   * @example
   * ```ts
   * import { serve } from "@streamsock/streamsock";
   *
   * const server = serve({ port: 0, hostname: "127.0.0.1" }, (ws) => ws.send("hi"));
   * await server.ready;
   * const { connections, opened, refusedByStatus } = server.stats();
   * console.log(connections, opened, refusedByStatus);
   * await server.close();
   * ```
   */
  stats(): ServerStats;
  /**
   * Shuts down gracefully: stops accepting, drops handshakes in progress,
   * closes every open connection with 1001 (Going Away), waits for their
   * closing handshakes up to `shutdownTimeout`, then drops what is left.
   * Calling it again returns the same promise.
   *
   * With `{ drain }` the server keeps listening while it waits: new
   * upgrades are answered 503 with `Retry-After` (so clients retry
   * elsewhere or later), plain HTTP requests still get `onRequest`'s answers
   * (health checks, `/metrics`), and connections that finish a handshake
   * begun earlier get 1001 too. `drain: true` waits up to `shutdownTimeout`,
   * a number up to that many ms; then the connections left are terminated
   * (counted in `stats().drops.drainTimeout`) and the listener closes.
   *
   * @example A drain of up to 30 s on SIGTERM
   * ```ts
   * import process from "node:process";
   * import { serve } from "@streamsock/streamsock";
   *
   * const server = serve({ port: 0, hostname: "127.0.0.1" }, (ws) => ws.send("hi"));
   * await server.ready;
   * process.once("SIGTERM", () => void server.close({ drain: 30_000 }));
   * await server.close({ drain: 1000 });
   * ```
   */
  close(options?: ServerCloseOptions): Promise<void>;
  /** Resolves when the server has shut down, by `close()` or the signal. */
  readonly finished: Promise<void>;
}

/**
 * Options for `server.close()`.
 *
 * @example
 * ```ts
 * import type { ServerCloseOptions } from "@streamsock/streamsock";
 *
 * const options: ServerCloseOptions = { drain: 10_000 };
 * ```
 */
export interface ServerCloseOptions {
  /**
   * Keep listening while the connections close: upgrades get 503 with
   * `Retry-After`, plain HTTP is still answered. `true` waits up to
   * `shutdownTimeout`, a number up to that many ms. Defaults to false.
   */
  drain?: boolean | number;
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
  readonly #handshakes = new Set<TrackedHandshake>();
  readonly #open = new Map<WebSocketConnection, Transport>();
  readonly #shutdownTimeout: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => void this.close();
  #closing: Promise<void> | null = null;
  /** The listener is closing or closed: accepted sockets are dropped. */
  #stopped = false;
  /** Draining: connections that open now are closed at once with 1001. */
  #draining = false;
  /** Resolves the wait for the last open connection to close. */
  #emptied: (() => void) | null = null;
  readonly hub: Hub;

  constructor(options: ServeOptions, core: HandshakeCore) {
    this.hub = core.hub ?? options.hub ?? new Hub({ backplane: options.backplane, durable: options.durable });
    core = {
      ...core,
      hub: this.hub,
      onRequest: this.#plainRequests(options),
      admission: admissionOf(options, core.admission),
    };
    this.finished = new Promise((resolve) => (this.#resolveFinished = resolve));
    this.#shutdownTimeout = options.shutdownTimeout ?? 5000;
    const limits = { maxHeadSize: options.maxHeadSize, maxHeaders: options.maxHeaders };
    const tracker: ConnectionTracker = {
      handshakeStarted: (handshake) => this.#handshakes.add(handshake),
      handshakeEnded: (handshake) => this.#handshakes.delete(handshake),
      opened: (ws, transport) => {
        this.#open.set(ws, transport);
        untrackOnClose(ws, this.#registry);
        if (this.#draining) void ws.close(1001, "Server is shutting down");
      },
    };
    const listenOptions = {
      hostname: options.hostname ?? "0.0.0.0",
      port: options.port ?? 8000,
      tls: options.tls,
      reusePort: options.reusePort,
    };
    const onAccept = (transport: Transport, remoteAddress: string | undefined) => {
      if (this.#stopped) {
        transport.destroy();
        return;
      }
      new PendingHandshake(transport, core, tracker, remoteAddress, limits);
    };
    const listening = options.http2 !== true
      ? listen(listenOptions, onAccept)
      : listenHttp2(listenOptions, onAccept, (stream, fields, remoteAddress) => {
        if (this.#stopped) stream.close(HTTP2_CANCEL);
        else acceptStream(core, tracker, stream, fields, remoteAddress);
      });
    this.ready = listening.then((listener) => {
      this.#listener = listener;
      if (this.#stopped) listener.close();
    });
    this.#signal = options.signal;
    if (this.#signal?.aborted) void this.close();
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** What answers plain HTTP requests: `/metrics` when asked for, then the application's onRequest. */
  #plainRequests(options: ServeOptions): ServeOptions["onRequest"] {
    const onRequest = options.onRequest;
    const metrics = options.metrics;
    if (metrics === undefined || metrics === false) return onRequest;
    const path = metrics === true ? "/metrics" : metrics;
    return (request) => {
      const query = request.url.indexOf("?");
      if (request.method === "GET" && (query < 0 ? request.url : request.url.slice(0, query)) === path) {
        return { status: 200, body: prometheusMetrics(this.hub.stats()), contentType: PROMETHEUS_CONTENT_TYPE };
      }
      return onRequest?.(request);
    };
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

  stats(): ServerStats {
    return this.hub.stats();
  }

  /** Where connections leave `#open` as they close (synchronously, see untrackOnClose), waking a wait for the last. */
  readonly #registry = {
    delete: (ws: WebSocketConnection): void => {
      this.#open.delete(ws);
      if (this.#open.size === 0) this.#emptied?.();
    },
  };

  /** Resolves once no connection is open. */
  #allClosed(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#emptied = resolve));
  }

  close(options: ServerCloseOptions = {}): Promise<void> {
    this.#closing ??= this.#shutdown(options.drain ?? false);
    return this.#closing;
  }

  #stopListening(): void {
    this.#stopped = true;
    this.#listener?.close();
    for (const handshake of [...this.#handshakes]) handshake.abandon();
  }

  async #shutdown(drain: boolean | number): Promise<void> {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    const draining = drain !== false;
    // From now on upgrades are refused with 503 (admission.ts), while the listener still answers.
    if (draining) telemetryOf(this.hub).draining = this.#draining = true;
    else this.#stopped = true;
    try {
      await this.ready;
    } catch {
      // Never listened: nothing to stop.
    }
    if (!draining) this.#stopListening();
    // RFC 6455 §7.4.1: 1001, an endpoint going away.
    for (const ws of this.#open.keys()) void ws.close(1001, "Server is shutting down");
    const closed = this.#allClosed();
    const timeout = delay(typeof drain === "number" ? drain : this.#shutdownTimeout);
    await Promise.race([closed, timeout.promise]);
    timeout.cancel();
    if (this.#open.size > 0) {
      if (draining) for (let i = 0; i < this.#open.size; i++) telemetryOf(this.hub).drop("drainTimeout");
      for (const transport of this.#open.values()) transport.destroy();
      const grace = delay(DESTROY_GRACE);
      await Promise.race([closed, grace.promise]);
      grace.cancel();
    }
    if (draining) this.#stopListening();
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
  return new WebSocketServer(options, coreOf(handler));
}
