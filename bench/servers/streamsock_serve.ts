// streamsock's standalone server (Bun.listen on Bun, node:net on Node and Deno), echoing
// with `for await` over messages + `await send`; maxFrameSize is raised so that
// every message fits one frame (figures in docs/performance.md were measured so).
import process from "node:process";
import { subscribe } from "node:diagnostics_channel";
import { requestHandler, serve, type WebSocketConnection } from "../../mod.ts";

const MAX = 64 * 1024 * 1024;
// Scenario (f): BENCH_DEFLATE=1 turns on permessage-deflate with the settings
// every deflate server in the benchmark uses (ws's defaults: zlib level 6,
// memLevel 8, 1 KiB threshold; the generator asks for no context takeover).
const compression = process.env.BENCH_DEFLATE === "1"
  ? { threshold: 1024, serverNoContextTakeover: true, clientNoContextTakeover: true }
  : false;

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
  requestHandler(echo, undefined, { maxFrameSize: MAX, compression }),
);
await server.ready;
console.log(`ready ${server.port}`);
