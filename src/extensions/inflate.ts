/**
 * The receiving side of permessage-deflate (RFC 7692): which frames are
 * compressed, the RSV1 rules, and one connection's decompressor with the
 * limits that make decompression safe.
 *
 * @module
 */

import { type Frame, isControlOpcode, Opcode } from "../codec/frame.ts";
import { frameTooBigError, MessageTooBigError, ProtocolError, type WebSocketError } from "../errors.ts";
import { ZlibRunner } from "./zlib_runner.ts";
import type { Zlib } from "./zlib.ts";

// RFC 7692 §7.2.1: a sync flush ends with this empty stored block; the
// sender removes it from a message's end and the receiver appends it back.
const TRAILER = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const EMPTY = new Uint8Array(0);

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

  /** Whether a decompressor is held. */
  get holds(): boolean {
    return this.#runner !== null;
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
    this.running = true;
    try {
      if (this.#runner === null) {
        this.#runner = new ZlibRunner(this.#zlib, this.#zlib.rawInflate({ windowBits: this.#windowBits }), true);
        if (this.noContextTakeover) this.#onReleasable();
      }
      const inflater = this.#runner;
      const out = await inflater.run(fin ? [payload, TRAILER] : [payload], this.#maxFrameSize);
      if (fin && (this.noContextTakeover || inflater.ended)) {
        // §7.2.2: without context takeover the next message starts from an
        // empty window; after a final block the peer starts a new stream.
        if (inflater.ended) {
          inflater.close();
          this.#runner = null;
        } else {
          inflater.stream.reset();
        }
      }
      return out;
    } finally {
      this.running = false;
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
      now - runner.lastUsed >= idleMs
    ) {
      runner.close();
      this.#runner = null;
    }
  }

  /** Releases the decompressor. */
  close(): void {
    this.#runner?.close();
    this.#runner = null;
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
