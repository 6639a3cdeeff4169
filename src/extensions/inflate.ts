/**
 * The receiving side of permessage-deflate (RFC 7692): which frames are
 * compressed, the RSV1 rules, and one connection's decompressor with the
 * limits that make decompression safe.
 *
 * No decompressor is kept between messages: the last 2^windowBits bytes
 * inflated (the peer's window, when it takes its context over) are kept as a
 * plain copy. A whole message of at most {@link FIRST_INFLATE_SLICE}
 * compressed bytes (so at most about 1 MiB of output) is inflated at once on
 * this thread starting from them, and a bigger or fragmented one goes
 * through a zlib stream, in slices, that starts from them and is released
 * when the message ends. They are zlib's preset dictionary where the
 * runtime honours one (Node, Bun), else (Deno) a stored block inflated
 * first, whose output is cut off.
 *
 * @module
 */

import { type Frame, isControlOpcode, Opcode } from "../codec/frame.ts";
import { frameTooBigError, MessageTooBigError, ProtocolError, type WebSocketError } from "../errors.ts";
import { FIRST_INFLATE_SLICE, ZlibRunner } from "./zlib_runner.ts";
import type { Zlib } from "./zlib.ts";

// RFC 7692 §7.2.1: a sync flush ends with this empty stored block; the
// sender removes it from a message's end and the receiver appends it back.
const TRAILER = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const EMPTY = new Uint8Array(0);

/** `prefix`, `payload` and the trailer, in one buffer. */
function withTrailer(payload: Uint8Array, prefix: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + payload.length + 4);
  out.set(prefix);
  out.set(payload, prefix.length);
  out.set(TRAILER, prefix.length + payload.length);
  return out;
}

/**
 * A raw DEFLATE stored block (RFC 1951 §3.2.4, BFINAL clear) holding
 * `bytes` (at most 32 KiB, a window): inflated first, it puts them in a fresh
 * decompressor's window, as the peer's compressor expects them to be.
 */
function storedBlock(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  const out = new Uint8Array(5 + n);
  out[0] = 0x00;
  out[1] = n & 0xff;
  out[2] = n >>> 8;
  out[3] = ~n & 0xff;
  out[4] = (~n >>> 8) & 0xff;
  out.set(bytes, 5);
  return out;
}

function protocolError(message: string, code: string): ProtocolError {
  return new ProtocolError(message, { code, closeCode: 1002 });
}

/** One connection's decompressor and where it stands in the peer's messages. */
export class InflateSide {
  readonly #zlib: Zlib;
  readonly #maxFrameSize: number;
  /** The peer's window, in bits. */
  readonly #windowBits: number;
  /** The peer starts every message with an empty window: the decompressor may be dropped between messages. */
  readonly noContextTakeover: boolean;
  /** Called when a decompressor that may be released when idle is made. */
  readonly #onReleasable: () => void;
  #runner: ZlibRunner | null = null;
  /** The end of what was inflated (Node, Bun, with context takeover): the peer's window. */
  #history: Uint8Array = EMPTY;
  #lastUsed = 0;
  /** A compressed frame of the current message was inflated already (it is fragmented). */
  #midMessage = false;
  /** Inside a compressed message: its continuation frames are compressed too. */
  #inMessage = false;
  #messageBytes = 0;
  /** A frame is being inflated. */
  running = false;

  /**
   * @param zlib The injected zlib.
   * @param windowBits The peer's window.
   * @param noContextTakeover Whether the peer resets its window per message.
   * @param maxFrameSize The limit on a decompressed frame.
   * @param onReleasable Called when a decompressor the sweeper may release is made.
   */
  constructor(zlib: Zlib, windowBits: number, noContextTakeover: boolean, maxFrameSize: number, onReleasable: () => void) {
    this.#zlib = zlib;
    this.#windowBits = windowBits;
    this.noContextTakeover = noContextTakeover;
    this.#maxFrameSize = maxFrameSize;
    this.#onReleasable = onReleasable;
  }

  /** Whether a decompressor or a history is held. */
  get holds(): boolean {
    return this.#runner !== null || this.#history.length > 0;
  }

  /**
   * Whether a received frame is compressed, checking RFC 7692 §6's RSV1
   * rules and, for an uncompressed frame, maxFrameSize (the decoder let
   * compressed-sized frames through).
   *
   * @throws {ProtocolError} For RSV1 on a control or continuation frame (1002, RFC 7692 §6).
   * @throws {MessageTooBigError} For an uncompressed frame over `maxFrameSize` (1009).
   */
  compressed(frame: Frame): boolean {
    const opcode = frame.opcode;
    let compressed = false;
    if (isControlOpcode(opcode)) {
      if (frame.rsv1) throw protocolError("RSV1 set on a control frame (RFC 7692 §6.1)", "ERR_RSV1_CONTROL");
    } else if (opcode === Opcode.Continuation) {
      if (frame.rsv1) {
        throw protocolError("RSV1 set on a continuation frame (RFC 7692 §6.1)", "ERR_RSV1_CONTINUATION");
      }
      compressed = this.#inMessage;
      if (frame.fin) this.#inMessage = false;
    } else {
      compressed = frame.rsv1 === true;
      this.#inMessage = compressed && !frame.fin;
    }
    if (!compressed && frame.payload.length > this.#maxFrameSize) {
      throw frameTooBigError(`Frame of ${frame.payload.length} bytes`, this.#maxFrameSize);
    }
    return compressed;
  }

  /** Decompresses one compressed frame's payload. */
  async inflate(payload: Uint8Array, fin: boolean): Promise<Uint8Array> {
    this.#messageBytes += payload.length;
    const empty = this.#messageBytes === 0;
    if (fin) this.#messageBytes = 0;
    // An empty compressed message (RFC 7692 §7.2.3.6 sends one 0x00 byte,
    // but nothing at all decodes to nothing too): zlib is not involved.
    if (empty) return EMPTY;
    const zlib = this.#zlib;
    const whole = fin && !this.#midMessage;
    this.#midMessage = !fin;
    this.#lastUsed = Date.now();
    this.running = true;
    try {
      // The peer's window, when it may refer back to it: zlib's preset
      // dictionary where the runtime honours one, else a stored block of it
      // inflated first and cut from the output.
      const history = this.noContextTakeover ? EMPTY : this.#history;
      const stored = zlib.dictionaries || history.length === 0 ? EMPTY : storedBlock(history);
      if (this.#runner === null && whole && payload.length <= FIRST_INFLATE_SLICE) {
        let out = zlib.inflateSync(withTrailer(payload, stored), {
          windowBits: this.#windowBits,
          dictionary: zlib.dictionaries ? history : undefined,
          limit: this.#maxFrameSize + history.length,
        });
        if (out !== null && stored.length > 0) out = out.subarray(history.length);
        if (out === null || out.length > this.#maxFrameSize) throw frameTooBigError("Decompressed frame", this.#maxFrameSize);
        this.#remember(out);
        return out;
      }
      let inflater = this.#runner;
      if (inflater === null) {
        inflater = this.#runner = new ZlibRunner(
          zlib,
          zlib.rawInflate({ windowBits: this.#windowBits, dictionary: zlib.dictionaries ? history : undefined }),
          true,
        );
        this.#onReleasable();
        if (stored.length > 0) await inflater.run([stored], Infinity);
      }
      const out = await inflater.run(fin ? [payload, TRAILER] : [payload], this.#maxFrameSize);
      // The stream lives for this message only; what it inflated becomes the history.
      this.#remember(out);
      if (fin) {
        inflater.close();
        this.#runner = null;
      }
      return out;
    } finally {
      this.running = false;
    }
  }

  /** Keeps the last 2^windowBits bytes inflated, when the peer may refer back to them. */
  #remember(out: Uint8Array): void {
    if (this.noContextTakeover || out.length === 0) return;
    const size = 1 << this.#windowBits;
    const history = this.#history;
    if (out.length >= size) {
      this.#history = out.slice(out.length - size);
    } else {
      const keep = Math.min(history.length, size - out.length);
      const next = new Uint8Array(keep + out.length);
      next.set(history.subarray(history.length - keep));
      next.set(out, keep);
      this.#history = next;
    }
  }

  /**
   * Releases the decompressor when unused for `idleMs` and nothing needs its
   * window (the peer resets it per message, and no message is half received).
   */
  releaseIdle(now: number, idleMs: number): void {
    const runner = this.#runner;
    if (
      runner !== null && this.noContextTakeover && !this.running && !this.#inMessage &&
      now - this.#lastUsed >= idleMs
    ) {
      runner.close();
      this.#runner = null;
    }
  }

  /** Releases the decompressor. */
  close(): void {
    this.#runner?.close();
    this.#runner = null;
    this.#history = EMPTY;
  }
}

/**
 * A decompression failure as the connection reports it. Too much output is
 * 1009. Corrupt DEFLATE data is 1007: the frames were well formed, but the
 * message's payload is not valid for the encoding the extension declared,
 * the same class of fault as invalid UTF-8 in a text message (RFC 6455
 * §7.4.1), and the code ws uses; python-websockets uses 1002.
 */
export function inflateError(err: unknown): WebSocketError {
  if (err instanceof MessageTooBigError || err instanceof ProtocolError) return err;
  return new ProtocolError(`Invalid compressed data: ${(err as Error).message}`, {
    code: "ERR_INVALID_COMPRESSED_DATA",
    closeCode: 1007,
    cause: err,
  });
}
