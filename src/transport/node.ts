/**
 * A {@link Transport} over a `node:net` or `node:tls` socket. Works on Node,
 * and on Deno and Bun through their Node compatibility layers.
 *
 * @module
 */

import type { Socket } from "node:net";
import type { Transport, TransportSink } from "./types.ts";

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
