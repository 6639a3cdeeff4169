/**
 * Bytes in and out of `streamsock/ws`: what ws's `send` takes, and the
 * Buffers its listeners get.
 *
 * @module
 */

import { Buffer } from "node:buffer";

/** An empty Buffer, shared. */
export const EMPTY: Buffer = Buffer.alloc(0);

/** Bytes of anything ws's `send` takes. */
export function bytesOf(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return Buffer.from(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return Buffer.concat(data.map(bytesOf));
  if (data === undefined || data === null) return EMPTY;
  return Buffer.from(String(data));
}

/** A Buffer over the same bytes, not a copy. */
export function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The frames' payloads as one Buffer. */
export function concat(parts: Buffer[], size: number): Buffer {
  if (parts.length === 1) return parts[0];
  return parts.length === 0 ? EMPTY : Buffer.concat(parts, size);
}
