/**
 * The sending side of permessage-deflate (RFC 7692): which messages are
 * compressed, one connection's compressor, and the order frames leave in.
 *
 * Order is kept by one chain of turns: a frame that must wait (it is
 * compressed, or something compressed is still ahead of it) takes the next
 * turn, and the turn after it starts when it was written. A frame with
 * nothing ahead of it and nothing to compress is written at once, so
 * uncompressed traffic stays synchronous.
 *
 * No compressor is kept between messages. zlib's state is the bulk of a
 * compressing connection's memory, whatever the window and memLevel in the
 * zlib builds of Deno and Bun (docs/performance.md, "Compression memory"), so
 * each message gets a compressor of its own that starts from the end of what
 * was sent before (the last 2^windowBits bytes, kept as a plain copy): the
 * peer's decompressor holds the same bytes (context takeover), and a
 * compressor may refer back to any of them. A whole message of up to
 * {@link SLICE} bytes is compressed at once on this thread with that history
 * as zlib's preset dictionary; a bigger or fragmented one through a zlib
 * stream, run in slices, given the history as its dictionary, or (where the
 * runtime's zlib ignores dictionaries, Deno) by compressing the history
 * first and dropping that output.
 *
 * @module
 */

import { type Frame, Opcode } from "../codec/frame.ts";
import { ProtocolError, type WebSocketError } from "../errors.ts";
import { SLICE, ZlibRunner } from "./zlib_runner.ts";
import type { Zlib } from "./zlib.ts";

const EMPTY_BLOCK_START = new Uint8Array([0x00]);
const NO_HISTORY = new Uint8Array(0);

/**
 * Where zlib ignores preset dictionaries (Deno), a whole small message with
 * history goes through a stream primed with that history, and a stream's
 * steps are asynchronous: left alone, every connection sending at once would
 * hold a compressor at the same time, and the
 * allocator keeps that peak. These messages take turns per process instead,
 * so only one such compressor exists at a time (zlib runs on the main thread
 * there anyway).
 */
let primedTurn: Promise<void> = Promise.resolve();
const IDLE: Promise<void> = Promise.resolve();
const ignore = () => {};

/** What the deflate side asks of its connection. */
export interface DeflateSink {
  /** Encodes (masks) and queues a frame for the transport. */
  write(frame: Frame): void;
  /** Fails the connection. */
  fail(error: WebSocketError): void;
}

/** How a connection compresses: the agreed limits with our own tuning applied. */
export interface DeflateTuning {
  /** Messages smaller than this are sent uncompressed. */
  threshold: number;
  /** zlib level. */
  level: number;
  /** zlib memLevel. */
  memLevel: number;
  /** Our window, in bits (9-15: zlib refuses raw DEFLATE with 8). */
  windowBits: number;
  /** Whether we start every message with an empty window. */
  noContextTakeover: boolean;
}

/** One connection's compressor and the turns its frames take. */
export class DeflateSide {
  readonly #zlib: Zlib;
  readonly #tuning: DeflateTuning;
  readonly #sink: DeflateSink;
  /** Called when a compressor (always releasable when idle) is made. */
  readonly #onReleasable: () => void;
  /** The compressor of the message being compressed through a zlib stream (big or fragmented). */
  #runner: ZlibRunner | null = null;
  /** The end of what we compressed so far (context takeover): what the peer's window holds. */
  #history: Uint8Array = NO_HISTORY;
  #lastUsed = 0;
  /** The message being sent is compressed: its continuation frames are too. */
  #inMessage = false;
  /** Settles when the last frame that took a turn was written (or dropped); never rejects. */
  #tail: Promise<void> = IDLE;
  /** Frames that took a turn and are not written yet, and their payload bytes. */
  #waiting = 0;
  #waitingBytes = 0;
  /** A frame is being compressed. */
  #running = false;
  /** Set once the connection failed or ended: every turn not yet written rejects with it. */
  #dropped: { error: unknown } | null = null;

  /**
   * @param zlib The injected zlib.
   * @param tuning How to compress.
   * @param sink The connection.
   * @param onReleasable Called when a compressor is made (the sweeper may release it).
   */
  constructor(zlib: Zlib, tuning: DeflateTuning, sink: DeflateSink, onReleasable: () => void) {
    this.#zlib = zlib;
    this.#tuning = tuning;
    this.#sink = sink;
    this.#onReleasable = onReleasable;
  }

  /** Whether a compressor or a history is held. */
  get holds(): boolean {
    return this.#runner !== null || this.#history.length > 0;
  }

  /** Payload bytes waiting to be compressed or written. */
  get queuedBytes(): number {
    return this.#waitingBytes;
  }

  /** True while frames wait for their turn. */
  get sending(): boolean {
    return this.#waiting > 0;
  }

  /** Settles once every frame that took a turn so far was written (or dropped). */
  sent(): Promise<void> {
    return this.#tail;
  }

  /**
   * Sends one data frame. Whether a message is compressed is decided by its
   * first frame's size against `threshold`; its continuation frames follow
   * suit (RSV1 only on the first, §6). `force` overrides the threshold for
   * a message's first frame. Returns undefined when the frame was written at
   * once, or a promise that resolves once it was written.
   */
  send(opcode: Opcode, payload: Uint8Array, fin: boolean, force?: boolean): Promise<void> | undefined {
    let compress: boolean;
    if (opcode === Opcode.Continuation) {
      compress = this.#inMessage;
      if (fin) this.#inMessage = false;
    } else {
      compress = force ?? payload.length >= this.#tuning.threshold;
      this.#inMessage = compress && !fin;
    }
    const frame: Frame = { fin, opcode, payload, rsv1: compress && opcode !== Opcode.Continuation };
    if (!compress && !this.sending) {
      this.#sink.write(frame);
      return undefined;
    }
    return this.#takeTurn(frame, compress);
  }

  /** A control frame: takes a turn behind compressed messages (true), or is for the caller to send now (false). */
  queueControl(frame: Frame): boolean {
    // Once dropped (the connection failed) nothing waits: the close frame goes out at once.
    if (this.#dropped !== null || !this.sending) return false;
    this.#takeTurn(frame, false).catch(ignore);
    return true;
  }

  #takeTurn(frame: Frame, compress: boolean): Promise<void> {
    // With nothing ahead the turn starts now (zlib gets the bytes in this
    // tick), else when the frame ahead was written.
    const now = this.#waiting === 0;
    this.#waiting++;
    this.#waitingBytes += frame.payload.length;
    const written = now ? this.#write(frame, compress) : this.#tail.then(() => this.#write(frame, compress));
    this.#tail = written.then(ignore, ignore);
    return written;
  }

  /** One frame's turn: compress it if asked, then write it. */
  async #write(frame: Frame, compress: boolean): Promise<void> {
    if (this.#dropped !== null) throw this.#dropped.error;
    let out = frame;
    if (compress) {
      this.#running = true;
      try {
        out = { ...frame, payload: await this.#deflate(frame.payload, frame.fin) };
      } catch (err) {
        if (this.#droppedNow() === null) {
          this.#sink.fail(
            new ProtocolError(`Compressing a message failed: ${(err as Error).message}`, {
              code: "ERR_DEFLATE_FAILED",
              closeCode: 1011,
              cause: err,
            }),
          );
        }
        throw this.#droppedNow()?.error ?? err;
      } finally {
        this.#running = false;
      }
      const dropped = this.#droppedNow();
      if (dropped !== null) throw dropped.error;
    }
    this.#waiting--;
    this.#waitingBytes -= frame.payload.length;
    this.#sink.write(out);
  }

  /** Read anew after an await (the connection may have failed meanwhile). */
  #droppedNow(): { error: unknown } | null {
    return this.#dropped;
  }

  async #deflate(payload: Uint8Array, fin: boolean): Promise<Uint8Array> {
    const { windowBits, level, memLevel, noContextTakeover } = this.#tuning;
    const zlib = this.#zlib;
    const history = this.#history;
    let out: Uint8Array;
    if (this.#runner === null && fin && payload.length <= SLICE && (history.length === 0 || zlib.dictionaries)) {
      // A whole message: one call, on this thread, no stream.
      out = zlib.deflateSync(payload, { windowBits, level, memLevel, dictionary: history });
    } else if (this.#runner === null && fin && payload.length <= SLICE) {
      // A whole small message with history, on a zlib without dictionaries:
      // its own primed stream, one at a time in this process.
      const previous = primedTurn;
      let done!: () => void;
      primedTurn = new Promise<void>((resolve) => (done = resolve));
      await previous;
      const runner = new ZlibRunner(zlib, zlib.rawDeflate({ windowBits, level, memLevel }), false);
      try {
        await runner.run([history], Infinity);
        out = await runner.run([payload], Infinity);
      } finally {
        runner.close();
        done();
      }
    } else {
      let runner = this.#runner;
      if (runner === null) {
        const primed = history.length > 0 && zlib.dictionaries;
        runner = this.#runner = new ZlibRunner(
          zlib,
          zlib.rawDeflate({ windowBits, level, memLevel, dictionary: primed ? history : undefined }),
          false,
        );
        this.#onReleasable();
        // No preset dictionary here: compress the history and drop that output.
        if (history.length > 0 && !primed) await runner.run([history], Infinity);
      }
      out = await runner.run([payload], Infinity);
      if (fin) {
        runner.close();
        this.#runner = null;
      }
    }
    if (!noContextTakeover) this.#remember(payload);
    this.#lastUsed = Date.now();
    if (fin) {
      // §7.2.1: remove the sync flush's trailing empty block from the message's end.
      if (out.length >= 4 && endsWithTrailer(out)) out = out.subarray(0, out.length - 4);
      // With no new input zlib's sync flush emits nothing at all (an empty
      // message, or an empty last fragment). The peer appends 00 00 ff ff to
      // whatever we send, so send the lone 0x00 of §7.2.3.6: together they
      // form an empty stored block. An empty payload would leave the peer's
      // decompressor mid-block and corrupt every later message.
      else if (out.length === 0) out = EMPTY_BLOCK_START;
    }
    return out;
  }

  /** Appends what was just compressed to the history, keeping its last 2^windowBits bytes. */
  #remember(payload: Uint8Array): void {
    const size = 1 << this.#tuning.windowBits;
    const history = this.#history;
    if (payload.length >= size) {
      this.#history = payload.slice(payload.length - size);
    } else if (payload.length > 0) {
      const keep = Math.min(history.length, size - payload.length);
      const next = new Uint8Array(keep + payload.length);
      next.set(history.subarray(history.length - keep));
      next.set(payload, keep);
      this.#history = next;
    }
    if (this.#history.length > 0) this.#onReleasable();
  }

  /**
   * Releases what was unused for `idleMs`: a compressor left by a message
   * still in progress, and the history (the next message then refers to
   * nothing before it, which the peer cannot tell).
   */
  releaseIdle(now: number, idleMs: number): void {
    if (this.#running || now - this.#lastUsed < idleMs) return;
    this.#runner?.close();
    this.#runner = null;
    this.#history = NO_HISTORY;
  }

  /** Drops every frame waiting for its turn (their sends reject with `error`) and releases zlib. */
  drop(error: unknown): void {
    if (this.#dropped !== null) return;
    this.#dropped = { error };
    this.#waiting = 0;
    this.#waitingBytes = 0;
    this.#runner?.close();
    this.#runner = null;
    this.#history = NO_HISTORY;
  }
}

function endsWithTrailer(bytes: Uint8Array): boolean {
  const n = bytes.length;
  return bytes[n - 4] === 0x00 && bytes[n - 3] === 0x00 && bytes[n - 2] === 0xff && bytes[n - 1] === 0xff;
}
