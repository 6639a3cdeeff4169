/**
 * Frame tracing for debugging (`streamsock connect --verbose`, the `trace`
 * option of `connect`): the frame headers a connection sends and receives,
 * read from the bytes on the wire.
 *
 * The trace reads headers itself instead of running a second
 * {@link FrameDecoder}: a decoder validates and unmasks, so it could neither
 * show the mask bit and key as they were sent nor describe a frame it
 * rejects. The connection's own decoder stays the only judge of validity; the
 * trace only reports. Nothing here runs unless a trace was asked for.
 *
 * @module
 */

import { maskInPlace } from "../codec/mask.ts";
import type { Transport, TransportSink } from "./types.ts";

/** How many payload bytes a traced frame carries for display. */
const PREVIEW_BYTES = 125;

/**
 * One frame as it crossed the wire, reported by the `trace` option of
 * `connect`.
 *
 * @example Print every frame header
 * ```ts ignore
 * import { connect, type TracedFrame } from "@streamsock/streamsock";
 *
 * const log = (f: TracedFrame) =>
 *   console.error(`${f.direction === "send" ? ">" : "<"} opcode=${f.opcode} fin=${f.fin} len=${f.length} mask=${f.mask !== null}`);
 * const ws = await connect("ws://127.0.0.1:8080/", { trace: log });
 * ```
 */
export interface TracedFrame {
  /** `"send"` for frames this end wrote, `"receive"` for frames that arrived. */
  direction: "send" | "receive";
  /** The FIN bit: the final frame of a message. */
  fin: boolean;
  /** The RSV1-3 bits as a number (RSV1 = 4). */
  rsv: number;
  /** The opcode, reserved values included. */
  opcode: number;
  /** The payload length the header declares. */
  length: number;
  /** The masking key, or null when the MASK bit was clear. */
  mask: Uint8Array | null;
  /** The first (at most 125) payload bytes, unmasked. */
  preview: Uint8Array;
}

/**
 * Reads frame headers from one direction of a byte stream, however the bytes
 * are split, and reports each frame once its header and preview have arrived.
 */
export class FrameTracer {
  readonly #direction: "send" | "receive";
  readonly #onFrame: (frame: TracedFrame) => void;
  #header = new Uint8Array(14);
  #headerLength = 0;
  /** The frame whose preview is being gathered, if its header is complete. */
  #frame: TracedFrame | null = null;
  #previewFilled = 0;
  /** Payload bytes still to skip after the preview. */
  #skip = 0;
  #broken = false;

  /**
   * @param direction Which way the bytes travel.
   * @param onFrame Receives each frame.
   */
  constructor(direction: "send" | "receive", onFrame: (frame: TracedFrame) => void) {
    this.#direction = direction;
    this.#onFrame = onFrame;
  }

  /**
   * Reads more bytes; the chunk is not modified.
   *
   * @param chunk The next bytes in this direction.
   */
  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length && !this.#broken) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - at);
        this.#skip -= n;
        at += n;
      } else if (this.#frame !== null) {
        const frame = this.#frame;
        const n = Math.min(frame.preview.length - this.#previewFilled, chunk.length - at);
        frame.preview.set(chunk.subarray(at, at + n), this.#previewFilled);
        this.#previewFilled += n;
        at += n;
        if (this.#previewFilled === frame.preview.length) this.#emit();
      } else {
        this.#header[this.#headerLength++] = chunk[at++];
        this.#tryHeader();
      }
    }
  }

  #tryHeader(): void {
    const h = this.#header;
    const n = this.#headerLength;
    if (n < 2) return;
    const lengthCode = h[1] & 0x7f;
    const masked = (h[1] & 0x80) !== 0;
    const lengthBytes = lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0;
    const size = 2 + lengthBytes + (masked ? 4 : 0);
    if (n < size) return;
    let length = lengthCode;
    if (lengthCode === 126) length = (h[2] << 8) | h[3];
    else if (lengthCode === 127) {
      length = 0;
      for (let i = 2; i < 10; i++) length = length * 256 + h[i];
      // A length the connection rejects anyway: nothing after it can be framed.
      if (h[2] & 0x80) this.#broken = true;
    }
    const mask = masked ? h.slice(2 + lengthBytes, size) : null;
    this.#headerLength = 0;
    const previewLength = Math.min(length, PREVIEW_BYTES);
    this.#frame = {
      direction: this.#direction,
      fin: (h[0] & 0x80) !== 0,
      rsv: (h[0] >> 4) & 0x7,
      opcode: h[0] & 0xf,
      length,
      mask,
      preview: new Uint8Array(previewLength),
    };
    this.#previewFilled = 0;
    this.#skip = length - previewLength;
    if (previewLength === 0) this.#emit();
  }

  #emit(): void {
    const frame = this.#frame!;
    this.#frame = null;
    if (frame.mask !== null) maskInPlace(frame.preview, frame.mask);
    try {
      this.#onFrame(frame);
    } catch {
      // A failing trace callback must not break the connection it observes.
    }
  }
}

/**
 * Wraps a transport that is past the opening handshake so that every frame
 * written to it and read from it is reported to `onFrame`.
 *
 * @param transport The connection's transport.
 * @param onFrame Receives each frame in both directions.
 * @param head Bytes that arrived with the handshake response and that the
 * connection will decode first.
 * @returns The same transport, observed.
 */
export function traceTransport(
  transport: Transport,
  onFrame: (frame: TracedFrame) => void,
  head?: Uint8Array,
): Transport {
  const sent = new FrameTracer("send", onFrame);
  const received = new FrameTracer("receive", onFrame);
  if (head !== undefined && head.length > 0) received.push(head);
  const traced: Transport = {
    get mutableChunks() {
      return transport.mutableChunks;
    },
    get bufferedAmount() {
      return transport.bufferedAmount;
    },
    get remoteAddress() {
      return transport.remoteAddress;
    },
    get remotePort() {
      return transport.remotePort;
    },
    start(sink: TransportSink) {
      transport.start({
        data(chunk) {
          // Before the connection unmasks the chunk in place.
          received.push(chunk);
          sink.data(chunk);
        },
        end: () => sink.end(),
        error: (err) => sink.error(err),
        drain: () => sink.drain(),
      });
    },
    write(chunk) {
      sent.push(chunk);
      return transport.write(chunk);
    },
    pause: () => transport.pause(),
    resume: () => transport.resume(),
    end: () => transport.end(),
    destroy: () => transport.destroy(),
  };
  // Vectored writes stay vectored (and traced) where the transport has them.
  if (transport.writev !== undefined) {
    traced.writev = (chunks) => {
      for (const chunk of chunks) sent.push(chunk);
      return transport.writev!(chunks);
    };
  }
  return traced;
}
