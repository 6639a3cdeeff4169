/**
 * ws's defaults and how its options map onto streamsock's, shared by the
 * client (`WebSocket`) and the server (`WebSocketServer`) of `streamsock/ws`.
 *
 * @module
 */

import type { CompressionOptions } from "../handshake/deflate_options.ts";
import type { PerMessageDeflateOptions } from "./options.ts";

/** ws's default limit on a message: 100 MiB. */
export const DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024;
/** ws's default limit on the frames of a message: 16384. */
export const DEFAULT_MAX_FRAGMENTS = 16 * 1024;
/** ws's default wait for the closing handshake: 30 s. */
export const DEFAULT_CLOSE_TIMEOUT = 30_000;

/** ws's limits on what it reassembles: bytes and frames per message (0: no limit). */
export interface ReceiveLimits {
  maxPayload: number;
  maxFragments: number;
}

/**
 * ws's `perMessageDeflate` option as streamsock's `compression`.
 *
 * @param option The option as given.
 * @param fallback Whether compression is on when the option is absent (ws: client yes, server no).
 * @returns The compression option.
 */
export function compressionOf(
  option: boolean | PerMessageDeflateOptions | undefined,
  fallback: boolean,
  role: "client" | "server",
): false | CompressionOptions {
  if (option === undefined) option = fallback;
  if (option === false || option === null) return false;
  if (option === true) option = {};
  const bits = (value: unknown) => (typeof value === "number" ? value : undefined);
  // ws compresses every message, and applies its threshold only to an end
  // that starts a fresh window per message (no context takeover). Its zlib
  // defaults (memLevel 8, 15-bit windows, nothing announced) stand in for
  // streamsock's leaner ones, so that this API negotiates what ws does.
  const fresh = role === "server" ? option.serverNoContextTakeover : option.clientNoContextTakeover;
  return {
    threshold: fresh ? (option.threshold ?? 1024) : 0,
    level: option.zlibDeflateOptions?.level,
    memLevel: option.zlibDeflateOptions?.memLevel ?? 8,
    serverNoContextTakeover: option.serverNoContextTakeover,
    clientNoContextTakeover: option.clientNoContextTakeover,
    serverMaxWindowBits: bits(option.serverMaxWindowBits) ?? 15,
    clientMaxWindowBits: bits(option.clientMaxWindowBits) ?? 15,
  };
}
