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
