// What node:zlib's raw streams cost in RSS on each runtime, without any
// WebSocket: N deflate + inflate pairs, each given one 1,200-byte JSON-like
// text (compressed with a sync flush, then inflated), RSS per pair while they
// are open and after they are closed, with a forced GC. The companion of
// scenario (j) in docs/performance.md: it separates zlib's own state from the
// rest of a connection.
//
//   node --expose-gc --import tsx bench/compression/zlib_memory.ts W M [N] [chunkSize]
//   deno run -A --v8-flags=--expose-gc bench/compression/zlib_memory.ts W M [N] [chunkSize]
//   bun bench/compression/zlib_memory.ts W M [N] [chunkSize]
import process from "node:process";
import { constants, createDeflateRaw, createInflateRaw } from "node:zlib";
import { jsonMessageText } from "./message.ts";

const [w, m, n, chunk] = process.argv.slice(2);
const windowBits = Number(w ?? 15);
const memLevel = Number(m ?? 8);
const N = Number(n ?? 1000);
const chunkSize = chunk === undefined ? undefined : Number(chunk);
const text = new TextEncoder().encode(jsonMessageText(0));

type G = { gc?: () => void; Bun?: { gc(full: boolean): void }; Deno?: unknown };
const g = globalThis as unknown as G;
async function rss(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    g.gc?.();
    g.Bun?.gc(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return process.memoryUsage().rss;
}

type Stream = ReturnType<typeof createDeflateRaw> | ReturnType<typeof createInflateRaw>;
function run(stream: Stream, input: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const out: Uint8Array[] = [];
    const onData = (c: Uint8Array) => out.push(c);
    stream.on("data", onData);
    stream.once("error", reject);
    stream.write(input);
    stream.flush(constants.Z_SYNC_FLUSH, () => {
      stream.off("data", onData);
      const bytes = new Uint8Array(out.reduce((k, c) => k + c.length, 0));
      let at = 0;
      for (const c of out) {
        bytes.set(c, at);
        at += c.length;
      }
      resolve(bytes);
    });
  });
}

const base = await rss();
const pairs: Stream[][] = [];
let compressed = 0;
for (let i = 0; i < N; i++) {
  const options = chunkSize === undefined ? {} : { chunkSize };
  const d = createDeflateRaw({ windowBits: Math.max(9, windowBits), memLevel, ...options });
  const f = createInflateRaw({ windowBits, ...options });
  const out = await run(d, text);
  compressed += out.length;
  await run(f, out);
  pairs.push([d, f]);
}
const open = await rss();
for (const [d, f] of pairs) {
  d.close();
  f.close();
}
pairs.length = 0;
await new Promise((resolve) => setTimeout(resolve, 200));
const closed = await rss();
const runtime = g.Bun !== undefined ? "bun" : g.Deno !== undefined ? "deno" : "node";
const kib = (x: number) => (x / N / 1024).toFixed(1);
console.log(
  `${runtime} ${windowBits}/${memLevel}${chunkSize ? ` chunkSize ${chunkSize}` : ""}: ${N} pairs, ` +
    `${kib(open - base)} KiB per pair open, ${kib(closed - base)} KiB after close; ${(compressed / N).toFixed(0)} B compressed`,
);
