/**
 * A {@link Transport} over a `node:net` or `node:tls` socket. Works on Node,
 * and on Deno and Bun through their Node compatibility layers.
 *
 * @module
 */

import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { DialOptions, Transport, TransportSink } from "./types.ts";

/**
 * Wraps a connected socket. Nagle's algorithm is turned off: WebSocket frames
 * are messages, and the connection already coalesces what it writes in one tick.
 */
export function nodeSocketTransport(socket: Socket): Transport {
  socket.setNoDelay(true);
  let sink: TransportSink | null = null;
  let done = false;
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
    start(next) {
      const first = sink === null;
      sink = next;
      if (!first) return;
      socket.on("data", (chunk: Uint8Array) => {
        // Hand out plain Uint8Arrays on every runtime, never Node Buffers.
        if (!done) sink!.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      });
      socket.on("end", () => finish());
      socket.on("error", (err) => finish(err));
      socket.on("close", () => finish());
      socket.on("drain", () => sink!.drain());
    },
    write(chunk) {
      if (socket.destroyed || !socket.writable) return true;
      return socket.write(chunk);
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
      socket.destroy();
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
