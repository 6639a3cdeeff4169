// streamsock's standalone server (Bun.listen on Bun, node:net on Node and Deno), echoing
// with `for await` over messages + `await send`; maxFrameSize is raised so that
// every message fits one frame (figures in docs/performance.md were measured so).
import process from "node:process";
import { subscribe } from "node:diagnostics_channel";
import { requestHandler, serve, type WebSocketConnection, ZlibSweeper } from "../../mod.ts";
import { compressionSetting } from "../compression/settings.ts";

const MAX = 64 * 1024 * 1024;
// Scenario (f): BENCH_DEFLATE=1 turns on permessage-deflate with the settings
// every deflate server in the benchmark uses (ws's defaults: zlib level 6,
// memLevel 8, 15-bit windows, 1 KiB threshold; the generator asks for no
// context takeover).
// Scenario (j): BENCH_COMPRESSION=W/M (or "default", or "off") turns it on with
// context takeover, a W-bit window both ways and zlib memLevel M, and
// BENCH_SWEEP_MS shortens the idle release of zlib state (10 s by default).
// BENCH_THRESHOLD (bench/compression/small_messages.ts) sets the threshold.
const setting = compressionSetting(process.env.BENCH_COMPRESSION);
const threshold = process.env.BENCH_THRESHOLD ? { threshold: Number(process.env.BENCH_THRESHOLD) } : {};
const compression = process.env.BENCH_DEFLATE === "1"
  ? {
    threshold: 1024,
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    memLevel: 8,
  }
  : setting === undefined
  ? false
  : setting === "default"
  ? { ...threshold }
  : setting === "off"
  ? false
  : { serverMaxWindowBits: setting.windowBits, clientMaxWindowBits: setting.windowBits, memLevel: setting.memLevel, ...threshold };
const zlibSweeper = process.env.BENCH_SWEEP_MS ? new ZlibSweeper(Number(process.env.BENCH_SWEEP_MS)) : undefined;

// `npm run bench -- --channels`: BENCH_CHANNELS=1 subscribes to the message
// channels (what tracing every message costs); without it none is subscribed.
if (process.env.BENCH_CHANNELS === "1") {
  for (const name of ["streamsock:message.received", "streamsock:message.sent"]) subscribe(name, () => {});
}

async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const msg of ws) await ws.send(msg);
}

const server = serve(
  { port: 0, hostname: "127.0.0.1" },
  requestHandler(echo, undefined, { maxFrameSize: MAX, compression, ...(zlibSweeper ? { zlibSweeper } : {}) }),
);
await server.ready;
console.log(`ready ${server.port}`);
