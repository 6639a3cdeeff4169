/**
 * permessage-deflate (RFC 7692) as one ordered stage between the codec and
 * the protocol core: received frames pass through the decompressor in
 * order, sent messages through the compressor in order.
 *
 * The stage is built from what the handshake agreed (a
 * {@link NegotiatedDeflate}, see `parameters.ts`), the compression
 * settings, and an injected {@link Zlib}; it never reads a header
 * string. Uncompressed traffic stays synchronous.
 *
 * Receiving: the core offers every decoded frame to `intercept`. A
 * compressed one is taken; the core then decodes nothing more (later bytes
 * wait in its decoder, the one inbound queue) until the stage gives the
 * inflated frame back through its host, which hands it to the core and lets
 * it go on decoding. Sending: see `deflate.ts`.
 *
 * @module
 */

import type { Frame, Opcode } from "../codec/frame.ts";
import type { WebSocketError } from "../errors.ts";
import type { MessageStage } from "../protocol/types.ts";
import { DeflateSide } from "./deflate.ts";
import { InflateSide, inflateError } from "./inflate.ts";
import { type DeflateSettings, type NegotiatedDeflate, thresholdFor } from "./parameters.ts";
import { type IdleReleasable, ZlibSweeper } from "./zlib_sweeper.ts";
import type { Zlib } from "./zlib.ts";

/**
 * Bytes the core may hold undecoded behind a frame being inflated before
 * the connection pauses its transport (inbound backpressure).
 */
export const INFLATE_BACKLOG_BYTES = 1024 * 1024;

/** What a connection provides to its {@link PerMessageDeflate}. */
export interface DeflateHost {
  /** Takes back an inflated frame, in order: the core handles it and goes on decoding. */
  deliver(frame: Frame): void;
  /** Encodes (masks) and queues a frame for the transport. */
  write(frame: Frame): void;
  /** Fails the connection. */
  fail(error: WebSocketError): void;
}

/**
 * The most a peer's compressed frame may exceed the limit on its
 * decompressed payload: zlib's conservative deflateBound() overhead (any
 * memLevel) plus a sync flush. Incompressible data grows a little, and a
 * peer that sends `maxFrameSize` bytes of it compressed must still fit.
 */
function compressedBound(n: number): number {
  return n + ((n + 7) >> 3) + ((n + 63) >> 6) + 5 + 16;
}

/**
 * The permessage-deflate stage of one connection: what was agreed, and the
 * two sides (each keeps the history its peer may refer to; zlib streams
 * live for one message).
 */
export class PerMessageDeflate implements MessageStage, IdleReleasable {
  readonly #host: DeflateHost;
  /** Releases our zlib state when idle: the server's, or one of our own made on first use. */
  #sweeper: ZlibSweeper | null;
  readonly #inflate: InflateSide;
  readonly #deflate: DeflateSide;
  /** The largest wire payload of a compressed frame the decoder lets through. */
  readonly frameLimit: number;
  #disposed = false;

  /**
   * @param negotiated What the handshake agreed, and our role.
   * @param options Compression tuning; our own window and context takeover may be stricter than agreed.
   * @param maxFrameSize The limit on a decompressed frame.
   * @param host The connection.
   * @param zlib The zlib binding (the connection injects node:zlib from `src/transport/zlib.ts`).
   * @param sweeper Releases idle zlib state; without one the stage makes its own when it first holds some.
   */
  constructor(
    negotiated: NegotiatedDeflate,
    options: DeflateSettings,
    maxFrameSize: number,
    host: DeflateHost,
    zlib: Zlib,
    sweeper: ZlibSweeper | null = null,
  ) {
    const client = negotiated.role === "client";
    this.#host = host;
    this.#sweeper = sweeper;
    // A compressor may always use a smaller window, or drop its context,
    // than the peer allowed: the peer's decompressor cannot tell.
    const localBits = client
      ? Math.min(negotiated.clientMaxWindowBits, options.clientMaxWindowBits)
      : Math.min(negotiated.serverMaxWindowBits, options.serverMaxWindowBits);
    const track = () => this.#track();
    const noContextTakeover = client
      ? negotiated.clientNoContextTakeover || options.clientNoContextTakeover
      : negotiated.serverNoContextTakeover || options.serverNoContextTakeover;
    this.#deflate = new DeflateSide(zlib, {
      threshold: thresholdFor(options.threshold, noContextTakeover),
      level: options.level,
      memLevel: options.memLevel,
      // zlib refuses raw DEFLATE with an 8-bit window (Node maps 8 to 9, others
      // throw), so a window of 8 is compressed with 9. That is safe: zlib never
      // emits a match more than window - 262 bytes back (MAX_DIST), 250 here,
      // within the 256 bytes the peer keeps.
      windowBits: Math.max(9, localBits),
      noContextTakeover,
    }, host, track);
    this.#inflate = new InflateSide(
      zlib,
      client ? negotiated.serverMaxWindowBits : negotiated.clientMaxWindowBits,
      client ? negotiated.serverNoContextTakeover : negotiated.clientNoContextTakeover,
      maxFrameSize,
      track,
    );
    this.frameLimit = compressedBound(maxFrameSize);
  }

  // ------------------------------------------------------------ receiving

  /**
   * Looks at every received frame before the core does. Returns false when
   * the core should handle the frame itself now (uncompressed), true when
   * it was taken: it comes back inflated through `host.deliver`, and until
   * then the core decodes nothing more.
   *
   * @throws {ProtocolError} For RSV1 on a control or continuation frame (1002, RFC 7692 §6).
   * @throws {MessageTooBigError} For an uncompressed frame over `maxFrameSize` (1009).
   */
  intercept(frame: Frame): boolean {
    if (!this.#inflate.compressed(frame)) return false;
    void this.#inflateFrame(frame);
    return true;
  }

  async #inflateFrame(frame: Frame): Promise<void> {
    let payload: Uint8Array;
    try {
      payload = await this.#inflate.inflate(frame.payload, frame.fin);
    } catch (err) {
      if (!this.#disposed) this.#host.fail(inflateError(err));
      return;
    }
    if (!this.#disposed) this.#host.deliver({ fin: frame.fin, opcode: frame.opcode, payload });
  }

  // -------------------------------------------------------------- sending

  /** Payload bytes waiting to be compressed or written: part of the connection's maxBackpressure. */
  get queuedBytes(): number {
    return this.#deflate.queuedBytes;
  }

  /** True while compressed messages (or frames queued behind them) wait to go out. */
  get sending(): boolean {
    return this.#deflate.sending;
  }

  /** Settles once what waits to be sent now was written (or dropped). */
  sent(): Promise<void> {
    return this.#deflate.sent();
  }

  /**
   * Sends one data frame, compressed when the message is (see
   * {@link DeflateSide.send}). Returns undefined when the frame was written
   * at once, or a promise that resolves once it was written.
   */
  send(opcode: Opcode, payload: Uint8Array, fin: boolean, force?: boolean): Promise<void> | undefined {
    return this.#deflate.send(opcode, payload, fin, force);
  }

  /** Queues a control frame behind compressed messages; false when nothing is queued (send it now). */
  queueControl(frame: Frame): boolean {
    return this.#deflate.queueControl(frame);
  }

  // ------------------------------------------------------------- lifetime

  #track(): void {
    (this.#sweeper ??= new ZlibSweeper()).track(this);
  }

  /** Releases zlib state unused for `idleMs`; called by the sweeper. */
  releaseIdle(now: number, idleMs: number): void {
    this.#deflate.releaseIdle(now, idleMs);
    this.#inflate.releaseIdle(now, idleMs);
    if (!this.#deflate.holds && (!this.#inflate.holds || !this.#inflate.noContextTakeover)) {
      this.#sweeper?.untrack(this);
    }
  }

  /** Whether zlib state is held right now (for tests and measurements). */
  get holdsZlib(): { deflate: boolean; inflate: boolean } {
    return { deflate: this.#deflate.holds, inflate: this.#inflate.holds };
  }

  /** Drops everything waiting to be sent (pending sends reject with `error`) and releases zlib. */
  dispose(error: unknown): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#deflate.drop(error);
    this.#inflate.close();
    this.#sweeper?.untrack(this);
  }
}
