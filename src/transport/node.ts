/**
 * A {@link Transport} over a `node:net` or `node:tls` socket. Works on Node,
 * and on Deno and Bun through their Node compatibility layers.
 *
 * @module
 */

import type { Socket } from "node:net";
import type { Transport } from "./types.ts";

/**
 * Wraps a connected socket. `head` holds bytes already read from the socket
 * (those that followed the HTTP upgrade head); they are delivered first.
 * Nagle's algorithm is turned off: WebSocket frames are messages, and the
 * connection already coalesces what it writes in one tick.
 */
export function nodeSocketTransport(socket: Socket, head?: Uint8Array): Transport {
  socket.setNoDelay(true);
  return {
    mutableChunks: true,
    get bufferedAmount() {
      return socket.writableLength;
    },
    start(sink) {
      let done = false;
      const finish = (err?: unknown) => {
        if (done) return;
        done = true;
        if (err === undefined) sink.end();
        else sink.error(err);
      };
      // Before any listener: bytes read with the upgrade head come first.
      if (head !== undefined && head.length > 0) sink.data(head.slice());
      socket.on("data", (chunk: Uint8Array) => {
        // Hand out plain Uint8Arrays on every runtime, never Node Buffers.
        if (!done) sink.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      });
      socket.on("end", () => finish());
      socket.on("error", (err) => finish(err));
      socket.on("close", () => finish());
      socket.on("drain", () => sink.drain());
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
