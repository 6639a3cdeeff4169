/**
 * `createWebSocketStream` of `streamsock/ws`: a node:stream `Duplex` over a
 * ws-style `WebSocket`, as ws 8 has it.
 *
 * @module
 */

import { Duplex, type DuplexOptions } from "node:stream";
import { nextTick } from "node:process";
import type { WebSocket } from "./websocket.ts";

/**
 * Wraps a `WebSocket` in a `Duplex`: what is written is sent as messages,
 * messages received are read (the socket pauses while the reader is slow),
 * ending the writable side closes the WebSocket, destroying the stream
 * terminates it, and the socket's error destroys the stream.
 *
 * @param ws The WebSocket, open or opening.
 * @param options Duplex options (`objectMode` reads text as strings).
 * @returns The stream.
 *
 * @example Piping stdin to a server
 * ```ts ignore
 * import { createWebSocketStream, WebSocket } from "@streamsock/streamsock/ws";
 *
 * const duplex = createWebSocketStream(new WebSocket("ws://127.0.0.1:8080/"), { encoding: "utf8" });
 * process.stdin.pipe(duplex).pipe(process.stdout);
 * ```
 */
export function createWebSocketStream(ws: WebSocket, options?: DuplexOptions): Duplex {
  let terminateOnDestroy = true;
  const duplex = new Duplex({
    ...options,
    autoDestroy: false,
    emitClose: false,
    objectMode: false,
    writableObjectMode: false,
  });

  ws.on("message", (msg: Uint8Array, isBinary: boolean) => {
    const data = !isBinary && duplex.readableObjectMode ? msg.toString() : msg;
    if (!duplex.push(data)) ws.pause();
  });
  ws.once("error", (err: Error) => {
    if (duplex.destroyed) return;
    // The socket already failed: destroying the stream need not terminate it.
    terminateOnDestroy = false;
    duplex.destroy(err);
  });
  ws.once("close", () => {
    if (duplex.destroyed) return;
    duplex.push(null);
  });

  duplex._destroy = (err, callback) => {
    if (ws.readyState === ws.CLOSED) {
      callback(err);
      nextTick(() => duplex.emit("close"));
      return;
    }
    let called = false;
    ws.once("error", (error: Error) => {
      called = true;
      callback(error);
    });
    ws.once("close", () => {
      if (!called) callback(err);
      nextTick(() => duplex.emit("close"));
    });
    if (terminateOnDestroy) ws.terminate();
  };

  duplex._final = (callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once("open", () => duplex._final(callback));
      return;
    }
    if (ws.readyState === ws.CLOSED) {
      callback();
      if (duplex.readableEnded) duplex.destroy();
      return;
    }
    // ws finishes when its socket's write side has ended, which is before
    // the socket's close event: this listener goes ahead of the one that
    // ends the readable side, so that its 'end' finds the writable finished.
    ws.prependOnceListener("close", () => callback());
    ws.close();
  };

  duplex._read = () => {
    if (ws.isPaused) ws.resume();
  };

  duplex._write = (chunk, encoding, callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once("open", () => duplex._write(chunk, encoding, callback));
      return;
    }
    ws.send(chunk, callback);
  };

  duplex.on("end", function (this: Duplex) {
    if (!this.destroyed && this.writableFinished) this.destroy();
  });
  duplex.on("error", function onError(this: Duplex, err: Error) {
    this.removeListener("error", onError);
    this.destroy();
    if (this.listenerCount("error") === 0) this.emit("error", err);
  });
  return duplex;
}
