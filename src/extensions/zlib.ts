/**
 * The one place streamsock imports `node:zlib` (and `node:timers` for the
 * yield that goes with it).
 *
 * Why node:zlib: permessage-deflate needs raw DEFLATE with a sync flush and
 * a window that carries over between messages (context takeover). The Web
 * Platform's `CompressionStream` has neither a sync flush nor raw window
 * control, while node:zlib's streams have both and exist on Deno, Bun and
 * Node alike. Keeping the import here means the rest of the code, and every
 * Web-Platform-only module, never sees it.
 *
 * @module
 */

import { constants, createDeflateRaw, createInflateRaw } from "node:zlib";
import { setImmediate } from "node:timers";

/** The parts of a node:zlib stream that {@link ZlibRunner} uses. */
export interface ZlibStream {
  write(chunk: Uint8Array, callback?: (error?: Error | null) => void): boolean;
  flush(kind: number, callback: () => void): void;
  reset(): void;
  close(callback?: () => void): void;
  on(event: "data", listener: (chunk: Uint8Array) => void): this;
  on(event: "error", listener: (error: Error) => void): this;
  readonly destroyed: boolean;
  readonly errored: Error | null;
}

/** `Z_SYNC_FLUSH`: end the output on a byte boundary with an empty stored block (RFC 7692 §7.2.1). */
export const Z_SYNC_FLUSH: number = constants.Z_SYNC_FLUSH;

/** A raw DEFLATE compressor (no zlib header, as RFC 7692 §7.2.1 requires). */
export function rawDeflate(options: { windowBits: number; level: number; memLevel: number }): ZlibStream {
  return createDeflateRaw(options) as unknown as ZlibStream;
}

/** A raw DEFLATE decompressor. */
export function rawInflate(options: { windowBits: number }): ZlibStream {
  return createInflateRaw(options) as unknown as ZlibStream;
}

/** Runs `callback` after pending I/O events: a real turn of the event loop. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
