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
  let sink: TransportSink | null = null;
  let done = false;
  const lifecycle = new SocketLifecycle(() => socket.destroy());
  const finish = (err?: unknown) => {
    if (done) return;
    done = true;
    if (err === undefined) sink!.end();
    else sink!.error(err);
  };
  return {
    mutableChunks: true,
    get bufferedAmount() {
      return socket.writableLength;
    },
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    start(next) {
      const first = sink === null;
      sink = next;
      if (!first) return;
      socket.on("data", (chunk: Uint8Array) => {
        // Hand out plain Uint8Arrays on every runtime, never Node Buffers.
        if (!done) sink!.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      });
      socket.on("end", () => {
        lifecycle.readEnded();
        finish();
      });
      socket.on("finish", () => lifecycle.writeEnded());
      socket.on("error", (err) => {
        lifecycle.release();
        finish(err);
      });
      socket.on("close", () => {
        lifecycle.gone();
        finish();
      });
      socket.on("drain", () => sink!.drain());
    },
    write(chunk) {
      if (socket.destroyed || !socket.writable) return true;
      // node:net's own buffer is the queue; the high-water mark is the shared one.
      return socket.write(chunk) || socket.writableLength <= HIGH_WATER_MARK;
    },
    writev(chunks) {
      if (socket.destroyed || !socket.writable) return true;
      // Corked writes leave as one writev: a large frame's header and payload, not concatenated.
      socket.cork();
      let accepted = true;
      for (const chunk of chunks) accepted = socket.write(chunk) && accepted;
      socket.uncork();
      return accepted || socket.writableLength <= HIGH_WATER_MARK;
    },
    pause() {
      socket.pause();
    },
    resume() {
      socket.resume();
    },
    end() {
      if (!socket.destroyed) socket.end();
    },
    destroy() {
      lifecycle.release();
    },
  };
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
  const { hostname, port, tls, signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const socket = tls === undefined ? netConnect({ host: hostname, port }) : tlsConnect({
      host: hostname,
      port,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      // Node derives SNI from a host name itself and must not send an IP (RFC 6066 §3).
      servername: tls.serverName,
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
    });
    const ready = tls === undefined ? "connect" : "secureConnect";
    const settle = () => {
      socket.off(ready, onReady);
      socket.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
    };
    const onReady = () => {
      settle();
      resolve(nodeSocketTransport(socket));
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
