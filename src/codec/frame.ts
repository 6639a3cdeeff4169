/**
 * RFC 6455 §5.2 base framing: opcodes, the frame shape and header encoding.
 *
 * @module
 */

/**
 * Frame opcodes (RFC 6455 §5.2, §11.8). 3-7 and 11-15 are reserved.
 *
 * @example
 * ```ts
 * import { Opcode } from "@streamsock/streamsock";
 *
 * console.log(Opcode.Text, Opcode.Close); // 1 8
 * ```
 */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** One of the defined {@link Opcode} values. */
export type Opcode = typeof Opcode[keyof typeof Opcode];

/**
 * One WebSocket frame. The decoder hands out frames with the payload already
 * unmasked; the encoder masks when it is told to.
 *
 * @example
 * ```ts
 * import { type Frame, Opcode } from "@streamsock/streamsock";
 *
 * const frame: Frame = { fin: true, opcode: Opcode.Text, payload: new TextEncoder().encode("Hello") };
 * console.log(frame.payload.length); // 5
 * ```
 */
export interface Frame {
  /** True on the final frame of a message (always true for control frames). */
  fin: boolean;
  /** The opcode. */
  opcode: Opcode;
  /** The (unmasked) application data. */
  payload: Uint8Array;
  /** RSV1: set on the first frame of a compressed message (RFC 7692). */
  rsv1?: boolean;
  /** RSV2: reserved for extensions. */
  rsv2?: boolean;
  /** RSV3: reserved for extensions. */
  rsv3?: boolean;
}

/** Control frames have the high opcode bit set (RFC 6455 §5.5). */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** Whether `opcode` is one RFC 6455 defines (not reserved). */
export function isKnownOpcode(opcode: number): opcode is Opcode {
  return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xa);
}

/** The most bytes a frame header takes: 2 + 8 (64-bit length) + 4 (mask key). */
export const MAX_HEADER_SIZE = 14;

/** Control frame payloads are at most 125 bytes (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** The size of a header for a payload of `length` bytes, with the minimal length encoding. */
export function headerSize(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Writes a frame header into `target` at `offset` with the minimal length
 * encoding (RFC 6455 §5.2) and returns the offset just past it. `mask`, when
 * given, is written as the masking key and the MASK bit is set.
 */
export function writeHeader(
  target: Uint8Array,
  offset: number,
  fin: boolean,
  rsv: number,
  opcode: number,
  length: number,
  mask: Uint8Array | null,
): number {
  target[offset++] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  const maskBit = mask === null ? 0 : 0x80;
  if (length < 126) {
    target[offset++] = maskBit | length;
  } else if (length < 0x10000) {
    target[offset++] = maskBit | 126;
    target[offset++] = length >>> 8;
    target[offset++] = length & 0xff;
  } else {
    target[offset++] = maskBit | 127;
    const high = Math.floor(length / 0x100000000);
    target[offset++] = high >>> 24;
    target[offset++] = (high >>> 16) & 0xff;
    target[offset++] = (high >>> 8) & 0xff;
    target[offset++] = high & 0xff;
    target[offset++] = length >>> 24;
    target[offset++] = (length >>> 16) & 0xff;
    target[offset++] = (length >>> 8) & 0xff;
    target[offset++] = length & 0xff;
  }
  if (mask !== null) {
    target[offset++] = mask[0];
    target[offset++] = mask[1];
    target[offset++] = mask[2];
    target[offset++] = mask[3];
  }
  return offset;
}

/** Packs the RSV booleans of a frame into the 3-bit field (RSV1 = 4). */
export function rsvBits(frame: Pick<Frame, "rsv1" | "rsv2" | "rsv3">): number {
  return (frame.rsv1 ? 4 : 0) | (frame.rsv2 ? 2 : 0) | (frame.rsv3 ? 1 : 0);
}
