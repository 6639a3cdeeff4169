/**
 * permessage-deflate option resolution, beside its negotiation
 * (`permessage_deflate.ts`): the user's `compression` option becomes the
 * offer (client) or the acceptance rules (server), and the handshake's
 * outcome becomes one typed {@link NegotiatedDeflate} that the connection
 * and its deflate stage receive. Nothing after the handshake parses a
 * `Sec-WebSocket-Extensions` string again.
 *
 * @module
 */

import { AUTO_THRESHOLD, type DeflateParameters, type NegotiatedDeflate } from "../extensions/parameters.ts";
import { checkDeflateResponse, checkWindowBits, type DeflateNegotiationOptions } from "./permessage_deflate.ts";

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
  /**
   * Messages smaller than this many bytes are sent uncompressed. Defaults, as
   * in ws, to 0 (every message) for an end that keeps its context between
   * messages, where even a short message mostly refers back to earlier ones,
   * and to `DEFAULT_COMPRESSION_THRESHOLD` (1024) for an end that starts
   * every message afresh (`serverNoContextTakeover` for a server,
   * `clientNoContextTakeover` for a client, asked or agreed).
   */
  threshold?: number;
  /** zlib compression level, 0 (none) to 9 (best); -1 is zlib's default (6). Defaults to -1. */
  level?: number;
  /**
   * zlib memory level, 1 to 9: more memory, faster compression. Defaults to
   * {@link DEFAULT_MEM_LEVEL} (5; zlib's own default is 8).
   */
  memLevel?: number;
  /** Ask for (client) or impose (server) a fresh LZ77 window per server message. Defaults to false. */
  serverNoContextTakeover?: boolean;
  /** Ask for (client) or impose (server) a fresh LZ77 window per client message. Defaults to false. */
  clientNoContextTakeover?: boolean;
  /**
   * Largest LZ77 window the server may compress with, 8 to 15 bits. A server
   * announces it in its answer (`server_max_window_bits`) and compresses with
   * it; a client asks for it in its offer. Defaults to
   * {@link DEFAULT_SERVER_WINDOW_BITS} (12) on a server, and to 15 (nothing
   * asked) on a client.
   */
  serverMaxWindowBits?: number;
  /**
   * Largest LZ77 window the client may compress with, 8 to 15 bits. A server
   * answers it (`client_max_window_bits`) to clients that offer the
   * parameter, as browsers, ws and streamsock do, and decompresses with it; a
   * client offers it and compresses with it. Defaults to
   * {@link DEFAULT_SERVER_WINDOW_BITS} (12) on a server, and to 15 (the offer
   * carries the parameter without a value) on a client.
   */
  clientMaxWindowBits?: number;
}

/**
 * The LZ77 window, in bits, a server limits both directions to by default
 * (2^12 bytes instead of 2^15): what each side keeps between messages, and
 * what the peer's decompressor needs, for JSON-like messages barely larger
 * (docs/performance.md, scenario (j)); python-websockets uses the same.
 *
 * @example Back to zlib's largest window on a server
 * ```ts
 * import { DEFAULT_SERVER_WINDOW_BITS, type CompressionOptions } from "@streamsock/streamsock";
 *
 * console.log(DEFAULT_SERVER_WINDOW_BITS); // 12
 * const compression: CompressionOptions = { serverMaxWindowBits: 15, clientMaxWindowBits: 15, memLevel: 8 };
 * ```
 */
export const DEFAULT_SERVER_WINDOW_BITS = 12;

/**
 * The default zlib memLevel of our compressor (zlib's own is 8): a smaller
 * hash table and output buffer for each message's compressor, for output
 * barely larger on JSON-like messages (docs/performance.md, scenario (j)).
 *
 * @example
 * ```ts
 * import { DEFAULT_MEM_LEVEL } from "@streamsock/streamsock";
 *
 * console.log(DEFAULT_MEM_LEVEL); // 5
 * ```
 */
export const DEFAULT_MEM_LEVEL = 5;


/**
 * Checks compression options and fills in the defaults of `role` (a server
 * limits both windows to {@link DEFAULT_SERVER_WINDOW_BITS} unless told
 * otherwise; a client asks for nothing); null when compression is off.
 */
export function resolveCompression(
  option: boolean | CompressionOptions | undefined,
  fallback: boolean,
  role: "client" | "server",
): Required<CompressionOptions> | null {
  const enabled = option === undefined ? fallback : option !== false;
  if (!enabled) return null;
  const o = typeof option === "object" && option !== null ? option : {};
  // Unset: AUTO_THRESHOLD, resolved once the agreement says whether our end keeps its context.
  const threshold = o.threshold ?? AUTO_THRESHOLD;
  if (o.threshold !== undefined && !(threshold >= 0)) {
    throw new RangeError(`compression.threshold must be a number >= 0, not ${threshold}`);
  }
  const level = o.level ?? -1;
  if (!Number.isInteger(level) || level < -1 || level > 9) {
    throw new RangeError(`compression.level must be an integer from -1 to 9, not ${level}`);
  }
  const memLevel = o.memLevel ?? DEFAULT_MEM_LEVEL;
  if (!Number.isInteger(memLevel) || memLevel < 1 || memLevel > 9) {
    throw new RangeError(`compression.memLevel must be an integer from 1 to 9, not ${memLevel}`);
  }
  const windowDefault = role === "server" ? DEFAULT_SERVER_WINDOW_BITS : 15;
  checkWindowBits("compression.serverMaxWindowBits", o.serverMaxWindowBits);
  checkWindowBits("compression.clientMaxWindowBits", o.clientMaxWindowBits);
  return {
    threshold,
    level,
    memLevel,
    serverNoContextTakeover: o.serverNoContextTakeover ?? false,
    clientNoContextTakeover: o.clientNoContextTakeover ?? false,
    serverMaxWindowBits: o.serverMaxWindowBits ?? windowDefault,
    clientMaxWindowBits: o.clientMaxWindowBits ?? windowDefault,
  };
}

/**
 * The compression tuning of a connection whose handshake agreed on
 * permessage-deflate: an object option tunes it, anything else means the
 * defaults (the agreement, not the option, decides that it is on).
 */
export function compressionTuning(
  option: boolean | CompressionOptions | undefined,
  role: "client" | "server",
): Required<CompressionOptions> {
  return resolveCompression(typeof option === "object" ? option : true, true, role)!;
}

/**
 * The negotiation settings of resolved options: only what differs from the
 * RFC's defaults is asked for.
 */
export function negotiationOf(options: Required<CompressionOptions>): DeflateNegotiationOptions {
  return {
    serverNoContextTakeover: options.serverNoContextTakeover || undefined,
    clientNoContextTakeover: options.clientNoContextTakeover || undefined,
    serverMaxWindowBits: options.serverMaxWindowBits < 15 ? options.serverMaxWindowBits : undefined,
    clientMaxWindowBits: options.clientMaxWindowBits < 15 ? options.clientMaxWindowBits : undefined,
  };
}

/**
 * The agreement of a connection built directly from an `extensions` string
 * (no handshake of ours ran): read once, when the connection is made.
 *
 * @throws {TypeError} When the value is not a valid permessage-deflate response.
 */
export function deflateFromExtensions(extensions: string, role: "client" | "server"): NegotiatedDeflate | null {
  if (extensions === "") return null;
  let params: DeflateParameters | null;
  try {
    params = checkDeflateResponse(extensions);
  } catch (err) {
    throw new TypeError(`Invalid extensions ${JSON.stringify(extensions)}: ${(err as Error).message}`);
  }
  return params === null ? null : { role, ...params };
}

/**
 * The key under which `connect` and the server hand a connection what its
 * handshake agreed. A symbol, not a field of the public options type: a
 * connection built directly has only its `extensions` string.
 */
export const NEGOTIATED_DEFLATE: unique symbol = Symbol("streamsock.negotiatedDeflate");

/** Connection options as the handshake code passes them: with the agreement attached. */
export interface WithNegotiatedDeflate {
  /** What the handshake agreed; null when permessage-deflate was not agreed. */
  [NEGOTIATED_DEFLATE]?: NegotiatedDeflate | null;
}

/** Attaches a handshake's agreement to connection options. */
export function withNegotiatedDeflate<T extends { role: "client" | "server" }>(
  options: T,
  negotiated: NegotiatedDeflate | null,
): T {
  return Object.assign(options, { [NEGOTIATED_DEFLATE]: negotiated });
}

/**
 * A connection's permessage-deflate agreement: the one its handshake
 * attached, else the one its `extensions` string names.
 */
export function negotiatedDeflateOf(
  options: { role: "client" | "server"; extensions?: string },
): NegotiatedDeflate | null {
  const attached = (options as WithNegotiatedDeflate)[NEGOTIATED_DEFLATE];
  return attached !== undefined ? attached : deflateFromExtensions(options.extensions ?? "", options.role);
}
