/**
 * A {@link Transport} over a pair of Web Streams of bytes. Pure Web Platform
 * code, so it serves every runtime and in-memory pipes alike.
 *
 * @module
 */

import type { ByteStreamPair, Transport, TransportSink } from "./types.ts";

/** Writes beyond this many pending bytes ask the connection to wait. */
const HIGH_WATER_MARK = 64 * 1024;

function ignore(): void {}

/**
 * Adapts a pair of byte streams to the push-style {@link Transport}.
 *
 * @param pair The streams (and optional `close`) to adapt.
 * @returns A transport reading from `pair.readable` and writing to `pair.writable`.
 *
 * @example An in-memory connection pair
 * ```ts
 * import { streamTransport, WebSocketConnection } from "@streamsock/streamsock";
 *
 * const toServer = new TransformStream<Uint8Array, Uint8Array>();
 * const toClient = new TransformStream<Uint8Array, Uint8Array>();
 * const client = new WebSocketConnection(
 *   streamTransport({ readable: toClient.readable, writable: toServer.writable }),
 *   { role: "client" },
 * );
 * const server = new WebSocketConnection(
 *   streamTransport({ readable: toServer.readable, writable: toClient.writable }),
 *   { role: "server" },
 * );
 * await client.send("ping?");
 * console.log((await server.recv()).data); // ping?
 * ```
 */
export function streamTransport(pair: ByteStreamPair): Transport {
  const reader = pair.readable.getReader();
  const writer = pair.writable.getWriter();
  let sink: TransportSink | null = null;
  let pending = 0;
  let blocked = false;
  let paused = false;
  let resumeReading: (() => void) | null = null;
  let finished = false;

  function fail(err: unknown): void {
    if (finished) return;
    finished = true;
    sink?.error(err);
  }

  async function pump(): Promise<void> {
    try {
      for (;;) {
        if (paused) await new Promise<void>((resolve) => (resumeReading = resolve));
        const { value, done } = await reader.read();
        if (done) break;
        if (value.length > 0) sink!.data(value);
      }
    } catch (err) {
      fail(err);
      return;
    }
    if (!finished) {
      finished = true;
      sink!.end();
    }
  }

  return {
    mutableChunks: false,
    get bufferedAmount() {
      return pending;
    },
    start(s) {
      const first = sink === null;
      sink = s;
      if (first) pump();
    },
    write(chunk) {
      pending += chunk.length;
      const size = chunk.length;
      writer.write(chunk).then(() => {
        pending -= size;
        if (blocked && pending <= HIGH_WATER_MARK) {
          blocked = false;
          sink?.drain();
        }
      }, fail);
      if (pending > HIGH_WATER_MARK) blocked = true;
      return !blocked;
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      const wake = resumeReading;
      resumeReading = null;
      wake?.();
    },
    end() {
      writer.close().catch(ignore);
    },
    destroy() {
      finished = true;
      writer.abort().catch(ignore);
      reader.cancel().catch(ignore);
      try {
        pair.close?.();
      } catch {
        // Already closed.
      }
      resumeReading?.();
    },
  };
}
