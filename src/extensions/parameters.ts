/**
 * What a permessage-deflate stage is built from: the parameters the opening
 * handshake agreed (negotiated in `src/handshake/permessage_deflate.ts`),
 * our role, and our own settings. Types only, so the frame path does not
 * depend on the opening handshake that fills them in.
 *
 * @module
 */

/**
 * The permessage-deflate parameters both ends agreed on (RFC 7692 §7.1).
 * A window of 15 bits is the default when the parameter is absent.
 */
export interface DeflateParameters {
  /** The server starts every message with an empty LZ77 window. */
  serverNoContextTakeover: boolean;
  /** The client starts every message with an empty LZ77 window. */
  clientNoContextTakeover: boolean;
  /** The largest LZ77 window the server compresses with, in bits (8-15). */
  serverMaxWindowBits: number;
  /** The largest LZ77 window the client compresses with, in bits (8-15). */
  clientMaxWindowBits: number;
}

/**
 * What the opening handshake agreed (RFC 7692 §7.1), and which end we are:
 * the role decides which of the parameters bind our compressor and which
 * the peer's.
 */
export interface NegotiatedDeflate extends DeflateParameters {
  /** Our end of the connection. */
  role: "client" | "server";
}

/**
 * How we compress: the `compression` option resolved
 * (`resolveCompression` in `src/handshake/deflate_options.ts`). Our own
 * window and context takeover may be stricter than what was agreed.
 */
export interface DeflateSettings extends DeflateParameters {
  /** Messages smaller than this many bytes are sent uncompressed. */
  threshold: number;
  /** zlib compression level, -1 to 9. */
  level: number;
  /** zlib memory level, 1 to 9. */
  memLevel: number;
}

/**
 * The default `threshold` of an end that starts every message with an empty
 * window (no context takeover): a message under 1 KiB compressed on its own
 * rarely shrinks enough to pay for deflate (ws uses the same). An end that
 * keeps its context compresses every message by default.
 *
 * @example
 * ```ts
 * import { DEFAULT_COMPRESSION_THRESHOLD } from "@streamsock/streamsock";
 *
 * console.log(DEFAULT_COMPRESSION_THRESHOLD); // 1024
 * ```
 */
export const DEFAULT_COMPRESSION_THRESHOLD = 1024;

/** A resolved `threshold` the user did not set: 0 with context takeover, else `DEFAULT_COMPRESSION_THRESHOLD`. */
export const AUTO_THRESHOLD = -1;

/** The threshold an end uses: the one set, else ws's rule (0 with context takeover, 1024 without). */
export function thresholdFor(threshold: number, noContextTakeover: boolean): number {
  if (threshold !== AUTO_THRESHOLD) return threshold;
  return noContextTakeover ? DEFAULT_COMPRESSION_THRESHOLD : 0;
}
