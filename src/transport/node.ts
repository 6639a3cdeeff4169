/**
 * A {@link Transport} over a `node:net` or `node:tls` socket. Works on Node,
 * and on Deno and Bun through their Node compatibility layers.
 *
 * @module
 */

import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import process from "node:process";
import { connect as tlsConnect, createServer as createTlsServer } from "node:tls";
import type { AcceptHandler, DialOptions, Listener, ListenOptions, Transport, TransportSink } from "./types.ts";
import { HIGH_WATER_MARK, SocketLifecycle } from "./write_queue.ts";

/**
 * Wraps a connected socket. Nagle's algorithm is turned off: WebSocket frames
 * are messages, and the connection already coalesces what it writes in one tick.
 * The socket is destroyed exactly once ({@link SocketLifecycle}): after the
 * peer's EOF and our FIN, on an error, or on `destroy`.
 */
export function nodeSocketTransport(socket: Socket): Transport {
  socket.setNoDelay(true);
  return new NodeSocketTransport(socket);
}

/** The socket's transport, for the listeners below: one function each for every socket, not closures per socket. */
const OWNER = Symbol("streamsock.nodeSocketTransport");
type OwnedSocket = Socket & { [OWNER]: NodeSocketTransport };
function onSocketData(this: OwnedSocket, chunk: Uint8Array): void {
  this[OWNER].onData(chunk);
}
function onSocketEnd(this: OwnedSocket): void {
  this[OWNER].onEnd();
}
function onSocketError(this: OwnedSocket, err: Error): void {
  this[OWNER].onError(err);
}
function onSocketClose(this: OwnedSocket): void {
  this[OWNER].onClose();
}
function onSocketDrain(this: OwnedSocket): void {
  this[OWNER].onDrain();
}
function onSocketFinish(this: OwnedSocket): void {
  this[OWNER].onFinish();
}

/**
 * A class rather than an object of closures, and the `drain` and `finish`
 * listeners added when first needed: an idle connection holds less (see
 * docs/performance.md).
 */
class NodeSocketTransport implements Transport {
  readonly #socket: Socket;
  readonly #lifecycle: SocketLifecycle;
  #sink: TransportSink | null = null;
  #done = false;
  #draining = false;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
    this.#lifecycle = new SocketLifecycle(() => socket.destroy());
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
  }

  get mutableChunks(): boolean {
    return true;
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  #finish(err?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    if (err === undefined) this.#sink!.end();
    else this.#sink!.error(err);
  }

  start(next: TransportSink): void {
    const first = this.#sink === null;
    this.#sink = next;
    if (!first) return;
    const socket = this.#socket as OwnedSocket;
    socket[OWNER] = this;
    socket.on("data", onSocketData);
    socket.on("end", onSocketEnd);
    socket.on("error", onSocketError);
    socket.on("close", onSocketClose);
  }

  /** Socket events, from the listeners below. */
  onData(chunk: Uint8Array): void {
    // Hand out plain Uint8Arrays on every runtime, never Node Buffers.
    if (!this.#done) this.#sink!.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  onEnd(): void {
    this.#lifecycle.readEnded();
    this.#finish();
  }

  onError(err: Error): void {
    this.#lifecycle.release();
    this.#finish(err);
  }

  onClose(): void {
    this.#lifecycle.gone();
    this.#finish();
  }

  onDrain(): void {
    this.#sink!.drain();
  }

  onFinish(): void {
    this.#lifecycle.writeEnded();
  }

  write(chunk: Uint8Array): boolean {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return true;
    // node:net's own buffer is the queue; the high-water mark is the shared one.
    if (socket.write(chunk) || socket.writableLength <= HIGH_WATER_MARK) return true;
    if (!this.#draining) {
      this.#draining = true;
      socket.on("drain", onSocketDrain);
    }
    return false;
  }

  writev(chunks: Uint8Array[]): boolean {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return true;
    // Corked writes leave as one writev: a large frame's header and payload, not concatenated.
    socket.cork();
    let accepted = true;
    for (const chunk of chunks) accepted = socket.write(chunk) && accepted;
    socket.uncork();
    if (accepted || socket.writableLength <= HIGH_WATER_MARK) return true;
    if (!this.#draining) {
      this.#draining = true;
      socket.on("drain", onSocketDrain);
    }
    return false;
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  end(): void {
    const socket = this.#socket;
    if (socket.destroyed) return;
    socket.once("finish", onSocketFinish);
    socket.end();
  }

  destroy(): void {
    this.#lifecycle.release();
  }
}

/**
 * Opens a TCP or TLS connection with `node:net` / `node:tls` and wraps it.
 *
 * @param options Host, port, TLS settings and an abort signal.
 * @returns The connected transport; data flows once `start` is called.
 *
 * @example
 * ```ts
 * import { dialNode } from "./node.ts";
 *
 * const transport = await dialNode({ hostname: "127.0.0.1", port: 8080 });
 * transport.destroy();
 * ```
 */
export function dialNode(options: DialOptions): Promise<Transport> {
  const { tls, signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const ready = tls === undefined ? "connect" : "secureConnect";
  return socketReady(connectSocket(options), ready, signal).then(nodeSocketTransport);
}

/**
 * Starts a `node:net` connection, or a `node:tls` one when `options.tls` is
 * set (offering `alpn` when given); the socket is not open yet.
 */
export function connectSocket({ hostname, port, tls }: DialOptions, alpn?: string[]): Socket {
  if (tls === undefined) return netConnect({ host: hostname, port });
  return tlsConnect({
    host: hostname,
    port,
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    // Node derives SNI from a host name itself and must not send an IP (RFC 6066 §3).
    servername: tls.serverName,
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    ALPNProtocols: alpn,
  });
}

/**
 * Waits for a socket being opened: resolves with it once it emitted `ready`
 * (`"connect"`, or `"secureConnect"` once TLS is up); destroys it and
 * rejects on an error or an abort first. Used for direct connections and
 * for each hop through a proxy.
 *
 * @param socket The socket, just created.
 * @param ready The event that means it is open.
 * @param signal Aborting it gives up on the socket.
 * @returns The open socket.
 */
export function socketReady<T extends Socket>(
  socket: T,
  ready: "connect" | "secureConnect",
  signal?: AbortSignal,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const settle = () => {
      socket.off(ready, onReady);
      socket.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
    };
    const onReady = () => {
      settle();
      resolve(socket);
    };
    const onError = (err: Error) => {
      settle();
      socket.destroy();
      reject(err);
    };
    const onAbort = () => {
      settle();
      socket.destroy();
      reject(signal!.reason);
    };
    if (signal?.aborted) return onAbort();
    socket.once(ready, onReady);
    socket.once("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** SO_REUSEPORT in `server.listen` arrived in Node 22.12 and 23.1. */
function nodeHasReusePort(): boolean {
  const [major, minor] = process.versions.node.split(".").map(Number);
  return process.platform === "linux" && (major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12));
}

/**
 * Listens with `node:net` (or `node:tls` when `options.tls` is set) and hands
 * every accepted connection to `onAccept` as a transport; TLS connections
 * once their TLS handshake is done.
 *
 * @param options Address, port and TLS certificate.
 * @param onAccept Receives each connection.
 * @returns The listener, once it is bound.
 *
 * @example
 * ```ts
 * import { listenNode } from "./node.ts";
 *
 * const listener = await listenNode({ hostname: "127.0.0.1", port: 0 }, (transport) => transport.destroy());
 * console.log(listener.addr.port);
 * listener.close();
 * ```
 */
export function listenNode(options: ListenOptions, onAccept: AcceptHandler): Promise<Listener> {
  const accept = (socket: Socket) => onAccept(nodeSocketTransport(socket), socket.remoteAddress);
  const server: NetServer = options.tls === undefined
    ? createNetServer(accept)
    : createTlsServer({ cert: options.tls.cert, key: options.tls.key }, accept);
  if (options.reusePort === true && !nodeHasReusePort()) {
    return Promise.reject(new Error(`reusePort needs Node >= 22.12 on Linux (this is Node ${process.versions.node} on ${process.platform})`));
  }
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const listenOptions = { port: options.port, host: options.hostname, ...(options.reusePort ? { reusePort: true } : {}) };
    server.listen(listenOptions, () => {
      server.off("error", reject);
      // Accept failures (EMFILE...) surface here; the server keeps listening,
      // and an unhandled "error" event would end the process.
      server.on("error", () => {});
      const { address, port } = server.address() as { address: string; port: number };
      resolve({ addr: { hostname: address, port }, close: () => void server.close() });
    });
  });
}
