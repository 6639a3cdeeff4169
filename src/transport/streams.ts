/**
 * A {@link Transport} over a pair of Web Streams of bytes. Pure Web Platform
 * code, so it serves every runtime and in-memory pipes alike.
 *
 * @module
 */

import type { ByteStreamPair, Transport, TransportSink } from "./types.ts";
import { SocketLifecycle, WriteQueue } from "./write_queue.ts";

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
  let paused = false;
  let resumeReading: (() => void) | null = null;
  let finished = false;
  let ending = false;
  const lifecycle = new SocketLifecycle(() => pair.close?.());
  const queue = new WriteQueue(
    (chunk) => writer.write(chunk).then(() => chunk.length),
    () => sink?.drain(),
    fail,
  );

  function fail(err: unknown): void {
    lifecycle.release();
    if (finished) return;
    finished = true;
    sink?.error(err);
  }

  async function pump(): Promise<void> {
    try {
      for (;;) {
        if (paused) await new Promise<void>((resolve) => (resumeReading = resolve));
        const { value, done } = await reader.read();
        if (paused) {
          // A read in flight when the transport was paused: what it brought, or the end, waits for resume.
          await new Promise<void>((resolve) => (resumeReading = resolve));
          if (finished) return; // destroyed meanwhile
        }
        if (done) break;
        if (value.length > 0) sink!.data(value);
      }
    } catch (err) {
      fail(err);
      return;
    }
    lifecycle.readEnded();
    if (!finished) {
      finished = true;
      sink!.end();
    }
  }

  return {
    mutableChunks: false,
    get bufferedAmount() {
      return queue.bufferedAmount;
    },
    start(s) {
      const first = sink === null;
      sink = s;
      if (first) pump();
    },
    write(chunk) {
      if (ending) return true;
      return queue.push(chunk);
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
      if (ending) return;
      ending = true;
      queue.whenEmpty(() => writer.close().then(() => lifecycle.writeEnded(), () => lifecycle.release()));
    },
    destroy() {
      finished = true;
      ending = true;
      queue.close();
      writer.abort().catch(ignore);
      reader.cancel().catch(ignore);
      lifecycle.release();
      resumeReading?.();
    },
  };
}
