// streamsock's requestHandler on a node:http server's "upgrade" event, same echo.
import { createServer } from "node:http";
import process from "node:process";
import { requestHandler, type WebSocketConnection } from "../../mod.ts";

const MAX = 64 * 1024 * 1024;
// Scenario (f): BENCH_DEFLATE=1 turns on permessage-deflate with the settings
// every deflate server in the benchmark uses (ws's defaults: zlib level 6,
// memLevel 8, 1 KiB threshold; the generator asks for no context takeover).
const compression = process.env.BENCH_DEFLATE === "1"
  ? { threshold: 1024, serverNoContextTakeover: true, clientNoContextTakeover: true }
  : false;

async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const msg of ws) await ws.send(msg);
}

const http = createServer((_req, res) => res.end("WebSocket only\n"));
http.on("upgrade", requestHandler(echo, undefined, { maxFrameSize: MAX, compression }));
http.listen(0, "127.0.0.1", () => console.log(`ready ${(http.address() as { port: number }).port}`));
