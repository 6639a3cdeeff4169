/**
 * permessage-deflate (RFC 7692) for a {@link WebSocketConnection}: the
 * compressor and decompressor of one connection, the order-keeping queues
 * around them, and the limits that make decompression safe.
 *
 * The connection stays synchronous for uncompressed traffic: only a message
 * with RSV1 set (or a frame that arrives while one is being inflated) enters
 * the asynchronous path here, and later frames wait behind it so messages
 * are delivered in order. Sending works the same way: a message under
 * `threshold` goes straight out unless compressed ones are still queued.
 *
 * zlib runs in slices of {@link SLICE} input bytes with a real event-loop
 * turn between slices, so one connection's 16 MiB message does not hold up
 * the others. That matters on Deno, whose node:zlib runs every chunk on the
 * main thread without yielding (Node and Bun use a thread pool).
 *
 * @module
 */

import { isControlOpcode, type Frame, Opcode } from "../codec/frame.ts";
import { frameTooBigError, MessageTooBigError, ProtocolError, type WebSocketError } from "../errors.ts";
import { checkDeflateResponse, checkWindowBits, type DeflateParameters } from "../handshake/permessage_deflate.ts";
import { type IdleReleasable, ZlibSweeper } from "./zlib_sweeper.ts";
import { rawDeflate, rawInflate, yieldToEventLoop, Z_SYNC_FLUSH, type ZlibStream } from "./zlib.ts";

/**
 * permessage-deflate settings: the parameters to negotiate (RFC 7692 §7.1)
 * and how to compress.
 *
 * @example Compress messages of 256 bytes or more, fast, and never keep a window between messages
 * ```ts
 * import type { CompressionOptions } from "@streamsock/streamsock";
 *
 * const compression: CompressionOptions = {
 *   threshold: 256,
 *   level: 1,
 *   serverNoContextTakeover: true,
 *   clientNoContextTakeover: true,
 * };
 * ```
 */
export interface CompressionOptions {
  /** Messages smaller than this many bytes are sent uncompressed. Defaults to 1024, as in ws. */
  threshold?: number;
  /** zlib compression level, 0 (none) to 9 (best); -1 is zlib's default (6). Defaults to -1. */
  level?: number;
  /** zlib memory level, 1 to 9: more memory, faster compression. Defaults to 8. */
  memLevel?: number;
  /** Ask for (client) or impose (server) a fresh LZ77 window per server message. Defaults to false. */
  serverNoContextTakeover?: boolean;
  /** Ask for (client) or impose (server) a fresh LZ77 window per client message. Defaults to false. */
  clientNoContextTakeover?: boolean;
  /** Largest LZ77 window the server may compress with, 8 to 15 bits. Defaults to 15 (no limit asked). */
  serverMaxWindowBits?: number;
  /** Largest LZ77 window the client may compress with, 8 to 15 bits. Defaults to 15 (no limit asked). */
  clientMaxWindowBits?: number;
}

/**
 * The default `threshold`: messages under 1 KiB rarely shrink enough to pay
 * for deflate (ws uses the same).
 *
 * @example
 * ```ts
 * import { DEFAULT_COMPRESSION_THRESHOLD } from "@streamsock/streamsock";
 *
 * console.log(DEFAULT_COMPRESSION_THRESHOLD); // 1024
 * ```
 */
export const DEFAULT_COMPRESSION_THRESHOLD = 1024;

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
const FIRST_INFLATE_SLICE = Math.floor(SLICE_OUTPUT / MAX_DEFLATE_RATIO);

// Inbound backpressure: the transport pauses while this much waits behind an inflate.
const BACKLOG_BYTES = 1024 * 1024;
const BACKLOG_FRAMES = 1024;

// RFC 7692 §7.2.1: a sync flush ends with this empty stored block; the
// sender removes it from a message's end and the receiver appends it back.
const TRAILER = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const EMPTY = new Uint8Array(0);
const EMPTY_BLOCK_START = new Uint8Array([0x00]);

/** Checks compression options and fills in the defaults. */
export function resolveCompression(
  option: boolean | CompressionOptions | undefined,
  fallback: boolean,
): Required<CompressionOptions> | null {
  const enabled = option === undefined ? fallback : option !== false;
  if (!enabled) return null;
  const o = typeof option === "object" && option !== null ? option : {};
  const threshold = o.threshold ?? DEFAULT_COMPRESSION_THRESHOLD;
  if (!(threshold >= 0)) throw new RangeError(`compression.threshold must be a number >= 0, not ${threshold}`);
  const level = o.level ?? -1;
  if (!Number.isInteger(level) || level < -1 || level > 9) {
    throw new RangeError(`compression.level must be an integer from -1 to 9, not ${level}`);
  }
  const memLevel = o.memLevel ?? 8;
  if (!Number.isInteger(memLevel) || memLevel < 1 || memLevel > 9) {
    throw new RangeError(`compression.memLevel must be an integer from 1 to 9, not ${memLevel}`);
  }
  checkWindowBits("compression.serverMaxWindowBits", o.serverMaxWindowBits);
  checkWindowBits("compression.clientMaxWindowBits", o.clientMaxWindowBits);
  return {
    threshold,
    level,
    memLevel,
    serverNoContextTakeover: o.serverNoContextTakeover ?? false,
    clientNoContextTakeover: o.clientNoContextTakeover ?? false,
    serverMaxWindowBits: o.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: o.clientMaxWindowBits ?? 15,
  };
}

/**
 * The negotiation settings of resolved options: only what differs from the
 * RFC's defaults is asked for.
 */
export function negotiationOf(options: Required<CompressionOptions>): {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number;
  clientMaxWindowBits?: number;
} {
  return {
    serverNoContextTakeover: options.serverNoContextTakeover || undefined,
    clientNoContextTakeover: options.clientNoContextTakeover || undefined,
    serverMaxWindowBits: options.serverMaxWindowBits < 15 ? options.serverMaxWindowBits : undefined,
    clientMaxWindowBits: options.clientMaxWindowBits < 15 ? options.clientMaxWindowBits : undefined,
  };
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

// ------------------------------------------------------------------ zlib runs

/**
 * One zlib stream and the output it produced since the last run. A run
 * writes input in slices, turns the event loop between them, and sync-flushes
 * at the end. Output past `limit` stops the run at once: at most the limit
 * plus one zlib chunk is ever held.
 */
class ZlibRunner {
  readonly stream: ZlibStream;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #limit = Infinity;
  #failure: Error | null = null;
  #wake: (() => void) | null = null;
  /** The peer ended its DEFLATE stream (a block with BFINAL set): the next message needs a new one. */
  ended = false;
  lastUsed = 0;

  readonly #inflating: boolean;

  constructor(stream: ZlibStream, inflating: boolean) {
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
    (stream as unknown as { on(e: "end", f: () => void): void }).on("end", () => {
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
        if (!first) await yieldToEventLoop();
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
    await this.#step((done) => this.stream.flush(Z_SYNC_FLUSH, done));
    const chunks = this.#chunks;
    const size = this.#size;
    this.#chunks = [];
    this.lastUsed = Date.now();
    // A plain Uint8Array view, not node:zlib's Buffer: Messages carry Uint8Array.
    if (chunks.length === 1) return new Uint8Array(chunks[0].buffer, chunks[0].byteOffset, chunks[0].length);
    const out = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  close(): void {
    this.#failure ??= new Error("zlib stream released");
    this.stream.close();
  }
}

// -------------------------------------------------------------- connection side

/** What a connection provides to its {@link PerMessageDeflate}. */
export interface DeflateHost {
  /** Takes a decompressed (or passed-through) frame in order; false stops delivery. */
  deliver(frame: Frame): boolean;
  /** Encodes (masks) and queues a frame for the transport. */
  write(frame: Frame): void;
  /** Fails the connection. */
  fail(error: WebSocketError): void;
}

interface Inbound {
  frame: Frame;
  compressed: boolean;
}

interface Outbound {
  frame: Frame;
  compress: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

function protocolError(message: string, code: string): ProtocolError {
  return new ProtocolError(message, { code, closeCode: 1002 });
}

/**
 * The permessage-deflate state of one connection: what was agreed, the
 * compressor and decompressor (created on first use, released when idle),
 * and the queues that keep frames in order around them.
 */
export class PerMessageDeflate implements IdleReleasable {
  readonly #host: DeflateHost;
  /** Releases our zlib state when idle: the server's, or one of our own made on first use. */
  #sweeper: ZlibSweeper | null;
  readonly #maxFrameSize: number;
  readonly #threshold: number;
  readonly #level: number;
  readonly #memLevel: number;
  readonly #localBits: number;
  readonly #remoteBits: number;
  readonly #localNoContextTakeover: boolean;
  readonly #remoteNoContextTakeover: boolean;
  /** The largest wire payload of a compressed frame the decoder lets through. */
  readonly frameLimit: number;

  #deflater: ZlibRunner | null = null;
  #inflater: ZlibRunner | null = null;
  #disposed = false;

  // Receiving.
  #inQueue: Inbound[] = [];
  #inBytes = 0;
  #inRunning = false;
  #inCompressed = false;
  #inMessageBytes = 0;
  #delivering = false;

  // Sending.
  #outQueue: Outbound[] = [];
  #outQueueBytes = 0;
  #outRunning = false;
  #outCompressed = false;
  #idleWaiters: (() => void)[] = [];

  /**
   * @param params What the handshake agreed.
   * @param role Which end this is: it decides which parameters are ours.
   * @param options Compression tuning; our own window and context takeover may be stricter than agreed.
   * @param maxFrameSize The limit on a decompressed frame.
   * @param host The connection.
   */
  constructor(
    params: DeflateParameters,
    role: "client" | "server",
    options: Required<CompressionOptions>,
    maxFrameSize: number,
    host: DeflateHost,
    sweeper: ZlibSweeper | null = null,
  ) {
    const client = role === "client";
    this.#host = host;
    this.#sweeper = sweeper;
    this.#maxFrameSize = maxFrameSize;
    this.#threshold = options.threshold;
    this.#level = options.level;
    this.#memLevel = options.memLevel;
    // A compressor may always use a smaller window, or drop its context,
    // than the peer allowed: the peer's decompressor cannot tell.
    const localBits = client
      ? Math.min(params.clientMaxWindowBits, options.clientMaxWindowBits)
      : Math.min(params.serverMaxWindowBits, options.serverMaxWindowBits);
    // zlib refuses raw DEFLATE with an 8-bit window (Node maps 8 to 9, others
    // throw), so a window of 8 is compressed with 9. That is safe: zlib never
    // emits a match more than window - 262 bytes back (MAX_DIST), 250 here,
    // within the 256 bytes the peer keeps.
    this.#localBits = Math.max(9, localBits);
    this.#remoteBits = client ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    this.#localNoContextTakeover = client
      ? params.clientNoContextTakeover || options.clientNoContextTakeover
      : params.serverNoContextTakeover || options.serverNoContextTakeover;
    this.#remoteNoContextTakeover = client ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    this.frameLimit = compressedBound(maxFrameSize);
  }

  /**
   * The permessage-deflate state a connection needs when its negotiated
   * `Sec-WebSocket-Extensions` value names the extension, else null.
   *
   * @throws {TypeError} When the value is not a valid permessage-deflate response.
   */
  static fromExtensions(
    extensions: string,
    role: "client" | "server",
    compression: boolean | CompressionOptions | undefined,
    maxFrameSize: number,
    host: DeflateHost,
    sweeper: ZlibSweeper | null = null,
  ): PerMessageDeflate | null {
    if (extensions === "") return null;
    let params: DeflateParameters | null;
    try {
      params = checkDeflateResponse(extensions);
    } catch (err) {
      throw new TypeError(`Invalid extensions ${JSON.stringify(extensions)}: ${(err as Error).message}`);
    }
    if (params === null) return null;
    const options = resolveCompression(typeof compression === "object" ? compression : true, true)!;
    return new PerMessageDeflate(params, role, options, maxFrameSize, host, sweeper);
  }

  // ------------------------------------------------------------ receiving

  /** True while so much waits behind an inflate that the transport should pause. */
  get backlogged(): boolean {
    return this.#inBytes > BACKLOG_BYTES || this.#inQueue.length > BACKLOG_FRAMES;
  }

  /**
   * Looks at every received frame before the connection does. Returns false
   * when the connection should handle the frame itself now (uncompressed,
   * nothing queued), true when it was taken and will come back through
   * `host.deliver` in order.
   *
   * @throws {ProtocolError} For RSV1 on a control or continuation frame (1002, RFC 7692 §6).
   * @throws {MessageTooBigError} For an uncompressed frame over `maxFrameSize` (1009).
   */
  intercept(frame: Frame): boolean {
    if (this.#delivering) return false;
    const opcode = frame.opcode;
    let compressed = false;
    if (isControlOpcode(opcode)) {
      if (frame.rsv1) throw protocolError("RSV1 set on a control frame (RFC 7692 §6.1)", "ERR_RSV1_CONTROL");
    } else if (opcode === Opcode.Continuation) {
      if (frame.rsv1) {
        throw protocolError("RSV1 set on a continuation frame (RFC 7692 §6.1)", "ERR_RSV1_CONTINUATION");
      }
      compressed = this.#inCompressed;
      if (frame.fin) this.#inCompressed = false;
    } else {
      compressed = frame.rsv1 === true;
      this.#inCompressed = compressed && !frame.fin;
    }
    // The decoder let compressed-sized frames through; an uncompressed one
    // still obeys maxFrameSize exactly.
    if (!compressed && frame.payload.length > this.#maxFrameSize) {
      throw frameTooBigError(`Frame of ${frame.payload.length} bytes`, this.#maxFrameSize);
    }
    if (!compressed && !this.#inRunning) return false;
    this.#inQueue.push({ frame, compressed });
    this.#inBytes += frame.payload.length;
    if (!this.#inRunning) void this.#drainInbound();
    return true;
  }

  async #drainInbound(): Promise<void> {
    this.#inRunning = true;
    try {
      while (this.#inQueue.length > 0 && !this.#disposed) {
        const item = this.#inQueue.shift()!;
        this.#inBytes -= item.frame.payload.length;
        let frame = item.frame;
        if (item.compressed) {
          const payload = await this.#inflate(frame.payload, frame.fin);
          if (this.#disposed) return;
          frame = { fin: frame.fin, opcode: frame.opcode, payload };
        }
        this.#delivering = true;
        let more: boolean;
        try {
          more = this.#host.deliver(frame);
        } finally {
          this.#delivering = false;
        }
        if (!more) {
          this.#inQueue = [];
          this.#inBytes = 0;
          return;
        }
      }
    } catch (err) {
      if (this.#disposed) return;
      this.#host.fail(inflateError(err));
    } finally {
      this.#inRunning = false;
    }
  }

  async #inflate(payload: Uint8Array, fin: boolean): Promise<Uint8Array> {
    this.#inMessageBytes += payload.length;
    const empty = this.#inMessageBytes === 0;
    if (fin) this.#inMessageBytes = 0;
    // An empty compressed message (RFC 7692 §7.2.3.6 sends one 0x00 byte,
    // but nothing at all decodes to nothing too): zlib is not involved.
    if (empty) return EMPTY;
    this.#inflater ??= this.#newInflater();
    const inflater = this.#inflater;
    const out = await inflater.run(fin ? [payload, TRAILER] : [payload], this.#maxFrameSize);
    if (fin && (this.#remoteNoContextTakeover || inflater.ended)) {
      // §7.2.2: without context takeover the next message starts from an
      // empty window; after a final block the peer starts a new stream.
      if (inflater.ended) {
        inflater.close();
        this.#inflater = null;
      } else {
        inflater.stream.reset();
      }
    }
    return out;
  }

  #newInflater(): ZlibRunner {
    const runner = new ZlibRunner(rawInflate({ windowBits: this.#remoteBits }), true);
    if (this.#remoteNoContextTakeover) this.#track();
    return runner;
  }

  // -------------------------------------------------------------- sending

  /** Payload bytes waiting to be compressed or written: part of the connection's maxBackpressure. */
  get queuedBytes(): number {
    return this.#outQueueBytes;
  }

  /** True while compressed messages (or frames queued behind them) wait to go out. */
  get sending(): boolean {
    return this.#outRunning || this.#outQueue.length > 0;
  }

  /** Resolves once nothing waits to be sent. */
  sent(): Promise<void> {
    if (!this.sending) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
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
      compress = this.#outCompressed;
      if (fin) this.#outCompressed = false;
    } else {
      compress = force ?? payload.length >= this.#threshold;
      this.#outCompressed = compress && !fin;
    }
    const frame: Frame = { fin, opcode, payload, rsv1: compress && opcode !== Opcode.Continuation };
    if (!compress && !this.sending) {
      this.#host.write(frame);
      return undefined;
    }
    return new Promise((resolve, reject) => {
      this.#outQueue.push({ frame, compress, resolve, reject });
      this.#outQueueBytes += payload.length;
      if (!this.#outRunning) void this.#drainOutbound();
    });
  }

  /** Queues a control frame behind compressed messages; false when nothing is queued (send it now). */
  queueControl(frame: Frame): boolean {
    // Once disposed (the connection failed) the queue is gone: the close frame goes out at once.
    if (this.#disposed || !this.sending) return false;
    this.#outQueue.push({ frame, compress: false, resolve() {}, reject() {} });
    this.#outQueueBytes += frame.payload.length;
    return true;
  }

  async #drainOutbound(): Promise<void> {
    this.#outRunning = true;
    try {
      while (this.#outQueue.length > 0 && !this.#disposed) {
        const job = this.#outQueue[0];
        let frame = job.frame;
        if (job.compress) {
          const payload = await this.#deflate(frame.payload, frame.fin);
          if (this.#disposed) return;
          frame = { ...frame, payload };
        }
        this.#outQueue.shift();
        this.#outQueueBytes -= job.frame.payload.length;
        this.#host.write(frame);
        job.resolve();
      }
    } catch (err) {
      if (!this.#disposed) {
        this.#host.fail(
          new ProtocolError(`Compressing a message failed: ${(err as Error).message}`, {
            code: "ERR_DEFLATE_FAILED",
            closeCode: 1011,
            cause: err,
          }),
        );
      }
    } finally {
      this.#outRunning = false;
      if (!this.sending) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }

  async #deflate(payload: Uint8Array, fin: boolean): Promise<Uint8Array> {
    if (this.#deflater === null) {
      this.#deflater = new ZlibRunner(
        rawDeflate({ windowBits: this.#localBits, level: this.#level, memLevel: this.#memLevel }),
        false,
      );
      this.#track();
    }
    const deflater = this.#deflater;
    let out = await deflater.run([payload], Infinity);
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
    if (fin && this.#localNoContextTakeover) deflater.stream.reset();
    return out;
  }

  // ------------------------------------------------------------- lifetime

  #track(): void {
    (this.#sweeper ??= new ZlibSweeper()).track(this);
  }

  #untrack(): void {
    this.#sweeper?.untrack(this);
  }

  /** Releases zlib state unused for `idleMs`; called by the sweeper. */
  releaseIdle(now: number, idleMs: number): void {
    if (this.#deflater !== null && !this.#outRunning && now - this.#deflater.lastUsed >= idleMs) {
      this.#deflater.close();
      this.#deflater = null;
    }
    const inflater = this.#inflater;
    if (
      inflater !== null && this.#remoteNoContextTakeover && !this.#inRunning && !this.#inCompressed &&
      now - inflater.lastUsed >= idleMs
    ) {
      inflater.close();
      this.#inflater = null;
    }
    if (this.#deflater === null && (this.#inflater === null || !this.#remoteNoContextTakeover)) this.#untrack();
  }

  /** Whether zlib state is held right now (for tests and measurements). */
  get holdsZlib(): { deflate: boolean; inflate: boolean } {
    return { deflate: this.#deflater !== null, inflate: this.#inflater !== null };
  }

  /** Drops everything queued (pending sends reject with `error`) and releases zlib. */
  dispose(error: unknown): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const jobs = this.#outQueue;
    this.#outQueue = [];
    this.#outQueueBytes = 0;
    for (const job of jobs) job.reject(error);
    this.#inQueue = [];
    this.#inBytes = 0;
    this.#deflater?.close();
    this.#inflater?.close();
    this.#deflater = null;
    this.#inflater = null;
    this.#untrack();
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function endsWithTrailer(bytes: Uint8Array): boolean {
  const n = bytes.length;
  return bytes[n - 4] === 0x00 && bytes[n - 3] === 0x00 && bytes[n - 2] === 0xff && bytes[n - 1] === 0xff;
}

/**
 * A decompression failure as the connection reports it. Too much output is
 * 1009. Corrupt DEFLATE data is 1007: the frames were well formed, but the
 * message's payload is not valid for the encoding the extension declared,
 * the same class of fault as invalid UTF-8 in a text message (RFC 6455
 * §7.4.1), and the code ws uses; python-websockets uses 1002.
 */
function inflateError(err: unknown): WebSocketError {
  if (err instanceof MessageTooBigError || err instanceof ProtocolError) return err;
  return new ProtocolError(`Invalid compressed data: ${(err as Error).message}`, {
    code: "ERR_INVALID_COMPRESSED_DATA",
    closeCode: 1007,
    cause: err,
  });
}
