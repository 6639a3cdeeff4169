/**
 * One zlib stream run in slices: the shared engine of the inflate and
 * deflate sides of permessage-deflate.
 *
 * zlib runs in slices of {@link SLICE} input bytes with a real event-loop
 * turn between slices, so one connection's 16 MiB message does not hold up
 * the others. That matters on Deno, whose node:zlib runs every chunk on the
 * main thread without yielding (Node and Bun use a thread pool).
 *
 * @module
 */

import { concatBytes } from "../codec/pool.ts";
import { frameTooBigError } from "../errors.ts";
import type { Zlib, ZlibStream } from "./zlib.ts";

/**
 * Input bytes zlib is given at a time; between slices the event loop turns.
 * 64 KiB keeps each slice around a millisecond of zlib work.
 */
export const SLICE = 64 * 1024;

/**
 * About the most output one inflate slice may produce. DEFLATE expands at
 * most 1032:1, so the first slice of a message is small enough that even a
 * bomb yields no more than this, and each next slice is sized from the ratio
 * the previous one showed. Deno's zlib produces a slice's whole output before
 * the size limit can look at any of it: with fixed 64 KiB slices a bomb made
 * it hold up to 64 MiB at once.
 */
const SLICE_OUTPUT = 1024 * 1024;
const MAX_DEFLATE_RATIO = 1032;
export const FIRST_INFLATE_SLICE = Math.floor(SLICE_OUTPUT / MAX_DEFLATE_RATIO);

/**
 * One zlib stream and the output it produced since the last run. A run
 * writes input in slices, turns the event loop between them, and sync-flushes
 * at the end. Output past `limit` stops the run at once: at most the limit
 * plus one zlib chunk is ever held.
 */
export class ZlibRunner {
  readonly stream: ZlibStream;
  readonly #zlib: Zlib;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #limit = Infinity;
  #failure: Error | null = null;
  #wake: (() => void) | null = null;
  /** The peer ended its DEFLATE stream (a block with BFINAL set): the next message needs a new one. */
  ended = false;
  lastUsed = 0;

  readonly #inflating: boolean;

  /**
   * @param zlib The injected zlib (for the flush kind and the event-loop yield).
   * @param stream A raw deflate or inflate stream from it.
   * @param inflating Whether it decompresses: then slices are sized by the output they produce.
   */
  constructor(zlib: Zlib, stream: ZlibStream, inflating: boolean) {
    this.#zlib = zlib;
    this.stream = stream;
    this.#inflating = inflating;
    stream.on("data", (chunk) => {
      if (this.#failure !== null) return;
      this.#size += chunk.length;
      if (this.#size > this.#limit) {
        this.#failure = frameTooBigError("Decompressed frame", this.#limit);
        this.stream.close();
        this.#chunks = [];
        this.#wake?.();
        return;
      }
      this.#chunks.push(chunk);
    });
    stream.on("error", (err) => {
      this.#failure ??= err;
      this.#wake?.();
    });
    stream.on("end", () => {
      this.ended = true;
    });
  }

  /** Waits for a write or flush callback, or for a failure (Node and Bun never call back after an error). */
  #step(start: (done: () => void) => void): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      start(resolve);
    }).then(() => {
      this.#wake = null;
      // Deno calls back first and reports the error afterwards: look at the stream too.
      const failure = this.#failure ?? this.stream.errored;
      if (failure !== null) throw failure;
    });
  }

  /** Feeds `parts` in order and returns everything zlib produced for them. */
  async run(parts: readonly Uint8Array[], limit: number): Promise<Uint8Array> {
    this.#limit = limit;
    this.#chunks = [];
    this.#size = 0;
    let first = true;
    let sliceSize = this.#inflating ? FIRST_INFLATE_SLICE : SLICE;
    for (const part of parts) {
      for (let at = 0; at < part.length;) {
        // A real event-loop turn between slices, so other connections' I/O
        // runs even where zlib works on the main thread (Deno).
        if (!first) await this.#zlib.yieldToEventLoop();
        first = false;
        const end = Math.min(at + sliceSize, part.length);
        const slice = part.subarray(at, end);
        const before = this.#size;
        await this.#step((done) => this.stream.write(slice, () => done()));
        if (this.#inflating) {
          const ratio = Math.max(1, (this.#size - before) / slice.length);
          sliceSize = Math.max(FIRST_INFLATE_SLICE, Math.min(SLICE, Math.floor(SLICE_OUTPUT / ratio)));
        }
        at = end;
      }
    }
    await this.#step((done) => this.stream.flush(this.#zlib.syncFlush, done));
    const chunks = this.#chunks;
    const size = this.#size;
    this.#chunks = [];
    this.lastUsed = Date.now();
    // A plain Uint8Array view, not node:zlib's Buffer: Messages carry Uint8Array.
    if (chunks.length === 1) return new Uint8Array(chunks[0].buffer, chunks[0].byteOffset, chunks[0].length);
    return concatBytes(chunks, size);
  }

  /** Releases the stream; a run in progress ends with an error. */
  close(): void {
    this.#failure ??= new Error("zlib stream released");
    this.stream.close();
    // zlib never calls back a write or flush on a closed stream: wake the run so it ends.
    this.#wake?.();
  }
}
