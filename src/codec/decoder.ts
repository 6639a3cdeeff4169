/**
 * The incremental frame decoder (RFC 6455 §5). Hot path: one synchronous loop
 * parses every complete frame in the bytes received so far, headers in place,
 * payloads handed out as views where they lie in one chunk.
 *
 * @module
 */

import { frameTooBigError, ProtocolError } from "../errors.ts";
import { type Frame, isControlOpcode, isKnownOpcode, MAX_CONTROL_PAYLOAD, Opcode } from "./frame.ts";
import { maskInPlace } from "./mask.ts";

/**
 * The default largest frame payload accepted: 1 MiB, as in Gerbil.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_FRAME_SIZE } from "@streamsock/streamsock";
 *
 * console.log(DEFAULT_MAX_FRAME_SIZE); // 1048576
 * ```
 */
export const DEFAULT_MAX_FRAME_SIZE = 1048576;

/**
 * Options for {@link FrameDecoder} and {@link FrameDecoderStream}.
 *
 * @example A server's decoder: masked frames only, at most 64 KiB each
 * ```ts
 * import { FrameDecoderStream, type FrameDecoderOptions } from "@streamsock/streamsock";
 *
 * const options: FrameDecoderOptions = { masked: true, maxFrameSize: 64 * 1024 };
 * const decoder = new FrameDecoderStream(options);
 * ```
 */
export interface FrameDecoderOptions {
  /**
   * `true` (a server) requires every frame to be masked, `false` (a client)
   * requires every frame to be unmasked (RFC 6455 §5.1); leave undefined to
   * accept both.
   */
  masked?: boolean;
  /** Largest payload accepted, decided from the header. Defaults to 1 MiB. */
  maxFrameSize?: number;
  /** RSV bits a negotiated extension allows (RSV1 = 4, RSV2 = 2, RSV3 = 1). Defaults to 0. */
  allowedRsv?: number;
  /**
   * Whether the decoder may unmask payloads inside the chunks it was given
   * (it owns them). When false it copies instead. Defaults to false.
   */
  ownsChunks?: boolean;
}

function protocolError(message: string, code: string): ProtocolError {
  return new ProtocolError(message, { code, closeCode: 1002 });
}

const EMPTY = new Uint8Array(0);

/**
 * A frame spanning reads gets its payload buffer, of the announced length,
 * once at least 1/REASSEMBLE_RATIO of it has arrived. Until then the chunks
 * are held as they came, so a peer that announces a large frame and sends
 * little of it holds at most this many times what it sent.
 */
const REASSEMBLE_RATIO = 8;

/** The payload length a header declares; `at` is just past the first two bytes. */
function readLength(bytes: Uint8Array, at: number, lengthCode: number): number {
  if (lengthCode < 126) return lengthCode;
  if (lengthCode === 126) return (bytes[at] << 8) | bytes[at + 1];
  const high = ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
  const low = ((bytes[at + 4] << 24) | (bytes[at + 5] << 16) | (bytes[at + 6] << 8) | bytes[at + 7]) >>> 0;
  if (high & 0x80000000) {
    throw protocolError("Frame length has its most significant bit set", "ERR_INVALID_LENGTH");
  }
  // Past 2^53 the number is inexact, but it is over any limit anyway.
  return high * 0x100000000 + low;
}

/**
 * A synchronous, incremental frame decoder: `push` bytes as they arrive and
 * call `next` until it returns null. It yields the same frames however the
 * bytes are split. Besides the frame format it checks the frame sequence: a
 * continuation with no message in progress, or a new data frame inside a
 * fragmented message, is a protocol error.
 *
 * Errors are thrown as {@link ProtocolError} (close code 1002) or
 * `MessageTooBigError` (1009); after one the decoder is unusable.
 *
 * @example
 * ```ts
 * import { FrameDecoder } from "@streamsock/streamsock";
 *
 * const decoder = new FrameDecoder({ masked: false });
 * decoder.push(new Uint8Array([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]));
 * const frame = decoder.next();
 * console.log(frame?.opcode, new TextDecoder().decode(frame?.payload)); // 1 Hello
 * ```
 */
export class FrameDecoder {
  readonly #masked: boolean | undefined;
  readonly #maxFrameSize: number;
  readonly #allowedRsv: number;
  readonly #ownsChunks: boolean;

  #chunks: Uint8Array[] = [];
  /** Offset of the first unread byte in `#chunks[0]`. */
  #offset = 0;
  /** Unread bytes across all chunks. */
  #buffered = 0;

  /** The parsed header of the frame whose payload is awaited, if any. */
  #pending: { fin: boolean; rsv: number; opcode: Opcode; length: number; key: Uint8Array | null } | null =
    null;
  /** Opcode of the fragmented data message in progress, or 0. */
  #fragmentOpcode = 0;
  /** Whether the first two bytes of the header being gathered were checked. */
  #startChecked = false;
  /** Whether its extended length was checked before the mask key arrived. */
  #lengthChecked = false;
  /** Room for a header that straddles chunks; allocated the first time one does. */
  #scratch: Uint8Array | null = null;
  /** The pending frame's masking key; one frame is pending at a time, so it is reused (made on the first masked frame). */
  #maskKey: Uint8Array | null = null;
  /**
   * The pending frame's payload, allocated once from its announced length
   * when it spans reads (see {@link REASSEMBLE_RATIO}); each chunk is copied
   * into it, and unmasked, as it arrives. Null otherwise.
   */
  #payload: Uint8Array | null = null;
  /** Payload bytes already in `#payload`. */
  #filled = 0;

  /**
   * Creates a decoder.
   *
   * @param options Masking direction, size limit, allowed RSV bits.
   */
  constructor(options: FrameDecoderOptions = {}) {
    this.#masked = options.masked;
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#allowedRsv = options.allowedRsv ?? 0;
    this.#ownsChunks = options.ownsChunks ?? false;
  }

  /** Unread bytes held by the decoder (at most one frame plus one chunk). */
  get bufferedAmount(): number {
    return this.#buffered + this.#filled;
  }

  /** True between the first and the final frame of a fragmented message. */
  get inFragmentedMessage(): boolean {
    return this.#fragmentOpcode !== 0;
  }

  /**
   * The frame whose header is parsed but whose payload is still arriving, or
   * null: its opcode, RSV bits, declared length and the payload bytes
   * received so far. Lets a caller judge a large frame before it is whole
   * (fail fast on invalid UTF-8, RFC 6455 §8.1).
   */
  get partialFrame(): { opcode: Opcode; rsv: number; length: number; received: number } | null {
    const header = this.#pending;
    if (header === null) return null;
    const received = this.#filled + Math.min(this.#buffered, header.length - this.#filled);
    return { opcode: header.opcode, rsv: header.rsv, length: header.length, received };
  }

  /**
   * A copy of the payload bytes of {@link partialFrame} received so far from
   * `from` on, unmasked. The decoder's own state is untouched.
   */
  partialPayload(from: number): Uint8Array {
    const header = this.#pending;
    if (header === null) return EMPTY;
    if (this.#payload !== null) {
      // Reassembly copies every chunk in as it arrives: the bytes are here, unmasked.
      const count = Math.min(this.#buffered, header.length - this.#filled);
      if (count > 0) {
        this.#copyOut(this.#payload, this.#filled, count, header.key);
        this.#filled += count;
      }
      return from < this.#filled ? this.#payload.slice(from, this.#filled) : EMPTY;
    }
    const end = Math.min(this.#buffered, header.length);
    if (end <= from) return EMPTY;
    const out = new Uint8Array(end - from);
    let skip = this.#offset + from;
    let filled = 0;
    for (const chunk of this.#chunks) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      const count = Math.min(chunk.length - skip, out.length - filled);
      out.set(chunk.subarray(skip, skip + count), filled);
      filled += count;
      skip = 0;
      if (filled === out.length) break;
    }
    const key = header.key;
    if (key !== null) for (let i = 0; i < out.length; i++) out[i] ^= key[(from + i) & 3];
    return out;
  }

  /** Appends received bytes. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /**
   * The next complete frame, or null when more bytes are needed.
   *
   * @throws {ProtocolError} On a malformed frame (1002).
   * @throws {MessageTooBigError} On a frame larger than `maxFrameSize` (1009).
   */
  next(): Frame | null {
    let header = this.#pending;
    if (header === null) {
      if (this.#buffered < 2) return null;
      header = this.#parseHeader();
      if (header === null) return null;
    }
    const length = header.length;
    let payload: Uint8Array;
    const assembling = this.#payload;
    if (assembling !== null) {
      const filled = this.#filled;
      const count = Math.min(this.#buffered, length - filled);
      if (count > 0) this.#copyOut(assembling, filled, count, header.key);
      this.#filled = filled + count;
      if (this.#filled < length) return null;
      payload = assembling;
      this.#payload = null;
      this.#filled = 0;
    } else if (this.#buffered < length) {
      this.#pending = header;
      // A large frame spanning reads: once a fair part of it is in, its
      // buffer is allocated once and every chunk copied in as it arrives
      // (in cache, and released at once), not gathered at the end.
      if (this.#buffered * REASSEMBLE_RATIO >= length) {
        const out = new Uint8Array(length);
        const count = this.#buffered;
        this.#copyOut(out, 0, count, header.key);
        this.#payload = out;
        this.#filled = count;
      }
      return null;
    } else {
      payload = length === 0 ? EMPTY : this.#take(length, header.key);
    }
    this.#pending = null;
    return {
      fin: header.fin,
      opcode: header.opcode,
      payload,
      rsv1: (header.rsv & 4) !== 0,
      rsv2: (header.rsv & 2) !== 0,
      rsv3: (header.rsv & 1) !== 0,
    };
  }

  #parseHeader() {
    let chunk = this.#chunks[0];
    let at = this.#offset;
    const b0 = chunk[at];
    const b1 = chunk.length - at >= 2 ? chunk[at + 1] : this.#peekSecondByte();
    // Fail fast: the first two bytes decide most violations, so a hostile
    // peer cannot hold a doomed frame open by dripping the rest of its header.
    if (!this.#startChecked) {
      this.#checkStart(b0, b1);
      this.#startChecked = true;
    }
    const lengthCode = b1 & 0x7f;
    const size = 2 + (lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0) + ((b1 & 0x80) !== 0 ? 4 : 0);
    if (this.#buffered < size) {
      // The extended length may be in before the mask key: judge it now too.
      const lengthEnd = lengthCode === 126 ? 4 : 10;
      if (lengthCode >= 126 && !this.#lengthChecked && this.#buffered >= lengthEnd) {
        this.#checkLength(readLength(this.#peek(lengthEnd), 2, lengthCode));
        this.#lengthChecked = true;
      }
      return null;
    }
    this.#startChecked = false;
    this.#lengthChecked = false;
    if (chunk.length - at < size) {
      // The header straddles chunks: gather it into scratch space.
      chunk = this.#take(size, null, this.#scratch ??= new Uint8Array(14));
      at = 0;
    } else {
      this.#consume(size);
    }
    at += 2;

    const length = readLength(chunk, at, lengthCode);
    at += lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0;
    this.#checkLength(length);

    let key: Uint8Array | null = null;
    if ((b1 & 0x80) !== 0) {
      key = this.#maskKey ??= new Uint8Array(4);
      key[0] = chunk[at];
      key[1] = chunk[at + 1];
      key[2] = chunk[at + 2];
      key[3] = chunk[at + 3];
    }
    const header = { fin: (b0 & 0x80) !== 0, rsv: (b0 >>> 4) & 0x7, opcode: (b0 & 0x0f) as Opcode, length, key };
    this.#pending = header;
    return header;
  }

  /** Checks what the first two header bytes say, and tracks the fragment sequence. */
  #checkStart(b0: number, b1: number): void {
    const fin = (b0 & 0x80) !== 0;
    const rsv = (b0 >>> 4) & 0x7;
    const opcode = b0 & 0x0f;
    if ((rsv & ~this.#allowedRsv) !== 0) {
      throw protocolError(`Frame has RSV bits ${rsv.toString(2).padStart(3, "0")} set with no extension to define them`, "ERR_RESERVED_BITS");
    }
    if (!isKnownOpcode(opcode)) {
      throw protocolError(`Frame uses reserved opcode ${opcode}`, "ERR_RESERVED_OPCODE");
    }
    const masked = (b1 & 0x80) !== 0;
    if (this.#masked !== undefined && masked !== this.#masked) {
      throw this.#masked
        ? protocolError("Client frame is not masked", "ERR_UNMASKED_FRAME")
        : protocolError("Server frame is masked", "ERR_MASKED_FRAME");
    }
    const lengthCode = b1 & 0x7f;
    if (isControlOpcode(opcode)) {
      if (!fin) throw protocolError("Control frame is fragmented", "ERR_FRAGMENTED_CONTROL");
      if (lengthCode > MAX_CONTROL_PAYLOAD) {
        throw protocolError("Control frame payload exceeds 125 bytes", "ERR_CONTROL_TOO_LONG");
      }
    } else if (opcode === Opcode.Continuation) {
      if (this.#fragmentOpcode === 0) {
        throw protocolError("Continuation frame with no message in progress", "ERR_UNEXPECTED_CONTINUATION");
      }
      if (fin) this.#fragmentOpcode = 0;
    } else {
      if (this.#fragmentOpcode !== 0) {
        throw protocolError(`New data frame (opcode ${opcode}) inside a fragmented message`, "ERR_EXPECTED_CONTINUATION");
      }
      if (!fin) this.#fragmentOpcode = opcode;
    }
    if (lengthCode < 126 && lengthCode > this.#maxFrameSize) {
      throw frameTooBigError(`Frame of ${lengthCode} bytes`, this.#maxFrameSize);
    }
  }

  #checkLength(length: number): void {
    if (length > this.#maxFrameSize) {
      throw frameTooBigError(`Frame of ${length} bytes`, this.#maxFrameSize);
    }
  }

  /** Copies the first `n` unread bytes into scratch space without consuming them. */
  #peek(n: number): Uint8Array {
    const out = this.#scratch ??= new Uint8Array(14);
    let filled = 0;
    let offset = this.#offset;
    for (let i = 0; filled < n; i++, offset = 0) {
      const chunk = this.#chunks[i];
      const count = Math.min(chunk.length - offset, n - filled);
      out.set(chunk.subarray(offset, offset + count), filled);
      filled += count;
    }
    return out;
  }

  #peekSecondByte(): number {
    // Only called when the first chunk holds exactly one unread byte.
    return this.#chunks[1][0];
  }

  /** Drops `n` bytes that lie within the first chunk. */
  #consume(n: number): void {
    this.#offset += n;
    this.#buffered -= n;
    if (this.#offset === this.#chunks[0].length) {
      this.#chunks.shift();
      this.#offset = 0;
    }
  }

  /**
   * Removes and returns the next `n` bytes: a view when they lie in one chunk
   * and may be aliased, otherwise a copy (into `target` when given).
   */
  #take(n: number, key: Uint8Array | null, target?: Uint8Array): Uint8Array {
    const first = this.#chunks[0];
    const start = this.#offset;
    if (target === undefined && first.length - start >= n && (this.#ownsChunks || key === null)) {
      const view = first.subarray(start, start + n);
      this.#consume(n);
      if (key !== null) maskInPlace(view, key);
      return view;
    }
    const out = target ?? new Uint8Array(n);
    this.#copyOut(out, 0, n, key);
    return out;
  }

  /**
   * Moves the next `n` unread bytes into `out` at `at` (payload position `at`
   * for unmasking with `key`), consuming them.
   */
  #copyOut(out: Uint8Array, at: number, n: number, key: Uint8Array | null): void {
    const end = at + n;
    while (at < end) {
      const chunk = this.#chunks[0];
      const offset = this.#offset;
      const count = Math.min(chunk.length - offset, end - at);
      out.set(offset === 0 && count === chunk.length ? chunk : chunk.subarray(offset, offset + count), at);
      // Unmasked right after the copy, while those bytes are still in cache:
      // a second pass over a 16 MiB payload would read it from memory again.
      if (key !== null) maskInPlace(out.subarray(at, at + count), key, at);
      at += count;
      this.#consume(count);
    }
  }
}

/**
 * A TransformStream from bytes to {@link Frame}s: the public, composable face
 * of {@link FrameDecoder}. A malformed frame errors the stream with the
 * decoder's typed error. Input chunks are never modified.
 *
 * @example Decoding frames from any byte stream
 * ```ts
 * import { FrameDecoderStream } from "@streamsock/streamsock";
 *
 * const bytes = ReadableStream.from([new Uint8Array([0x81, 0x02, 0x68, 0x69])]);
 * for await (const frame of bytes.pipeThrough(new FrameDecoderStream({ masked: false }))) {
 *   console.log(frame.opcode, new TextDecoder().decode(frame.payload)); // 1 hi
 * }
 * ```
 */
export class FrameDecoderStream extends TransformStream<Uint8Array, Frame> {
  /**
   * Creates a decoding stream.
   *
   * @param options The {@link FrameDecoderOptions}; `ownsChunks` is always false here.
   */
  constructor(options: Omit<FrameDecoderOptions, "ownsChunks"> = {}) {
    const decoder = new FrameDecoder({ ...options, ownsChunks: false });
    super({
      transform(chunk, controller) {
        decoder.push(chunk);
        for (let frame = decoder.next(); frame !== null; frame = decoder.next()) {
          controller.enqueue(frame);
        }
      },
      flush() {
        if (decoder.bufferedAmount > 0) {
          throw protocolError("Byte stream ended inside a frame", "ERR_TRUNCATED_FRAME");
        }
      },
    });
  }
}
