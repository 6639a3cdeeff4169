// The ws package's echo server. bench/run.ts sets WS_NO_BUFFER_UTIL=1 for the
// plain variant; without it ws loads bufferutil's native masking.
// BENCH_DEFLATE=1 (scenario (f)) turns on perMessageDeflate with the settings
// every deflate server in the benchmark uses: zlib level 6 (default), memLevel
// 8, 1 KiB threshold, no context takeover either way.
// BENCH_COMPRESSION=W/M (scenario (j)) turns it on with context takeover, a
// W-bit window both ways and zlib memLevel M; "15/8" and "default" are
// `perMessageDeflate: true`, ws's defaults.
import { WebSocketServer } from "ws";

const setting = process.env.BENCH_COMPRESSION;
const match = /^(\d+)\/(\d+)$/.exec(setting ?? "");
const perMessageDeflate = process.env.BENCH_DEFLATE === "1"
  ? { threshold: 1024, serverNoContextTakeover: true, clientNoContextTakeover: true }
  : setting === "default" || setting === "15/8"
  ? true
  : match
  ? {
    serverMaxWindowBits: Number(match[1]),
    clientMaxWindowBits: Number(match[1]),
    zlibDeflateOptions: { memLevel: Number(match[2]) },
  }
  : false;
const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate, maxPayload: 64 * 1024 * 1024 });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on("listening", () => console.log(`ready ${wss.address().port}`));
