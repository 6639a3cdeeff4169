/**
 * The one place streamsock imports `node:zlib` (and `node:timers` for the
 * yield that goes with it): the {@link Zlib} a connection injects into its
 * permessage-deflate stage.
 *
 * Why node:zlib: permessage-deflate needs raw DEFLATE with a sync flush and
 * a window that carries over between messages (context takeover). The Web
 * Platform's `CompressionStream` has neither a sync flush nor raw window
 * control, while node:zlib's streams have both and exist on Deno, Bun and
 * Node alike.
 *
 * @module
 */

import { constants, createDeflateRaw, createInflateRaw, deflateRawSync, inflateRawSync } from "node:zlib";
import { setImmediate } from "node:timers";
import type { DeflateOptions, Zlib, ZlibStream } from "../extensions/zlib.ts";

/** node:zlib's options: the dictionary only when there is one. */
function zlibOptions({ windowBits, level, memLevel, dictionary }: DeflateOptions) {
  return dictionary !== undefined && dictionary.length > 0 ? { windowBits, level, memLevel, dictionary } : { windowBits, level, memLevel };
}

/**
 * Whether this runtime's node:zlib honours a raw compressor's preset
 * dictionary: 64 distinct bytes compressed with themselves as the
 * dictionary shrink to a back-reference. Node and Bun do; Deno ignores the
 * option and compresses them as new.
 */
function honoursDictionaries(): boolean {
  const probe = new Uint8Array(64).map((_, i) => (i * 37 + 11) & 0xff);
  try {
    return deflateRawSync(probe, { dictionary: probe, finishFlush: constants.Z_SYNC_FLUSH }).length < 32;
  } catch {
    return false;
  }
}

/** node:zlib as a permessage-deflate stage uses it. */
export const nodeZlib: Zlib = {
  rawDeflate: (options) => createDeflateRaw(zlibOptions(options)) as unknown as ZlibStream,
  deflateSync: (payload, options) => {
    const out = deflateRawSync(payload, { ...zlibOptions(options), finishFlush: constants.Z_SYNC_FLUSH });
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  },
  inflateSync: (payload, { windowBits, dictionary, limit }) => {
    const options = { windowBits, finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: Math.max(1, Math.min(limit, 2 ** 31 - 1)) };
    try {
      const out = inflateRawSync(payload, dictionary !== undefined && dictionary.length > 0 ? { ...options, dictionary } : options);
      return out.length > limit ? null : new Uint8Array(out.buffer, out.byteOffset, out.length);
    } catch (err) {
      if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") return null;
      throw err;
    }
  },
  dictionaries: honoursDictionaries(),
  rawInflate: ({ windowBits, dictionary }) =>
    createInflateRaw(dictionary !== undefined && dictionary.length > 0 ? { windowBits, dictionary } : { windowBits }) as unknown as ZlibStream,
  syncFlush: constants.Z_SYNC_FLUSH,
  yieldToEventLoop: () => new Promise((resolve) => setImmediate(resolve)),
};
