// What a compressor shared without context takeover (one per server or
// thread, as uWS offers) would cost in size, against what streamsock does
// (each message starts from the connection's kept history): 50 different
// 1,200-byte JSON-like texts, raw DEFLATE with a sync flush, trailer removed.
//
//   node --import tsx bench/compression/context_ratio.ts   (or bun; Deno ignores
//   zlib dictionaries, so there both columns come out the same)
import { constants, deflateRawSync } from "node:zlib";
import { jsonMessageText } from "./message.ts";

const N = 50;
for (const [windowBits, memLevel] of [[15, 8], [12, 5]]) {
  let withHistory = 0;
  let without = 0;
  let history = new Uint8Array(0);
  const options = { finishFlush: constants.Z_SYNC_FLUSH, windowBits, memLevel };
  for (let i = 0; i < N; i++) {
    const payload = new TextEncoder().encode(jsonMessageText(i));
    withHistory += deflateRawSync(payload, history.length > 0 ? { ...options, dictionary: history } : options).length - 4;
    without += deflateRawSync(payload, options).length - 4;
    const all = new Uint8Array(history.length + payload.length);
    all.set(history);
    all.set(payload, history.length);
    history = all.slice(Math.max(0, all.length - (1 << windowBits)));
  }
  console.log(
    `${windowBits}/${memLevel}: ${N} texts of 1,200 B: from the kept history ${(withHistory / N).toFixed(1)} B each, ` +
      `with no context (a shared compressor) ${(without / N).toFixed(1)} B, +${((without / withHistory - 1) * 100).toFixed(0)}%`,
  );
}
