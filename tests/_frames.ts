// The independent frame parser of the test suite: RFC 6455 §5.2 written
// again from the RFC, sharing nothing with the library's decoder, so tests
// check the frames our code sends without trusting our own parser. The
// conformance suite's Wire and the raw test peer both read with it.
import assert from "node:assert/strict";

/** A frame as read off the wire, unmasked. */
export interface WireFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  /** The masking key as sent, or null for an unmasked frame. */
  key: Uint8Array | null;
  payload: Uint8Array;
  /**
   * The frame's bytes with the mask bit, the mask key and the masking taken
   * away: exactly what `rawFrame(first, payload, null)` builds, so a masked
   * client frame can be compared byte for byte although its key is random.
   */
  unmasked: Uint8Array;
}

/** The size of the frame at the start of `bytes` once its header is complete, else null. */
export function wireFrameSize(bytes: Uint8Array): number | null {
  if (bytes.length < 2) return null;
  const lengthCode = bytes[1] & 0x7f;
  const headerSize = 2 + (lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0) + ((bytes[1] & 0x80) !== 0 ? 4 : 0);
  if (bytes.length < headerSize) return null;
  let length = lengthCode;
  if (lengthCode >= 126) {
    length = 0;
    for (let i = 2; i < (lengthCode === 126 ? 4 : 10); i++) length = length * 256 + bytes[i];
  }
  return headerSize + length;
}

/**
 * The frame at the start of `bytes`, and how many bytes it took, or null
 * while it is incomplete. `masked` is the masking the RFC requires of the
 * sender (§5.1).
 */
export function readWireFrame(bytes: Uint8Array, masked: boolean): { frame: WireFrame; size: number } | null {
  if (bytes.length < 2) return null;
  const first = bytes[0];
  const lengthCode = bytes[1] & 0x7f;
  const isMasked = (bytes[1] & 0x80) !== 0;
  assert.equal(isMasked, masked, `a frame must ${masked ? "" : "not "}be masked (RFC 6455 §5.1)`);
  let at = 2;
  let length = lengthCode;
  let extended = new Uint8Array(0);
  if (lengthCode >= 126) {
    const size = lengthCode === 126 ? 2 : 8;
    if (bytes.length < at + size) return null;
    extended = bytes.slice(at, at + size);
    if (size === 8) assert.equal(extended[0] & 0x80, 0, "the 64-bit length's most significant bit must be 0");
    length = 0;
    for (const byte of extended) length = length * 256 + byte;
    at += size;
  }
  if (isMasked && bytes.length < at + 4) return null;
  const key = isMasked ? bytes.slice(at, at + 4) : null;
  if (key !== null) at += 4;
  if (bytes.length - at < length) return null;
  const payload = bytes.slice(at, at + length);
  if (key !== null) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
  const unmasked = new Uint8Array(2 + extended.length + length);
  unmasked[0] = first;
  unmasked[1] = lengthCode;
  unmasked.set(extended, 2);
  unmasked.set(payload, 2 + extended.length);
  const frame = {
    fin: (first & 0x80) !== 0,
    rsv: (first >> 4) & 7,
    opcode: first & 0x0f,
    masked: isMasked,
    key,
    payload,
    unmasked,
  };
  return { frame, size: at + length };
}

/** Splits bytes an implementation wrote, which must end on a frame boundary, into frames. */
export function parseFrames(bytes: Uint8Array, masked: boolean): WireFrame[] {
  const frames: WireFrame[] = [];
  for (let at = 0; at < bytes.length;) {
    const read = readWireFrame(bytes.subarray(at), masked);
    assert.ok(read !== null, `an incomplete frame at byte ${at}`);
    frames.push(read.frame);
    at += read.size;
  }
  return frames;
}
