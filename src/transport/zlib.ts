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

import { constants, createDeflateRaw, createInflateRaw } from "node:zlib";
import { setImmediate } from "node:timers";
import type { Zlib, ZlibStream } from "../extensions/zlib.ts";

/** node:zlib as a permessage-deflate stage uses it. */
export const nodeZlib: Zlib = {
  rawDeflate: (options) => createDeflateRaw(options) as unknown as ZlibStream,
  rawInflate: (options) => createInflateRaw(options) as unknown as ZlibStream,
  syncFlush: constants.Z_SYNC_FLUSH,
  yieldToEventLoop: () => new Promise((resolve) => setImmediate(resolve)),
};
