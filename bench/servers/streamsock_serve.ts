// streamsock's standalone server (Deno.listen / Bun.listen / node:net), echoing
// with the idiom the README teaches: `for await` over messages + `await send`.
import { requestHandler, serve, type WebSocketConnection } from "../../mod.ts";

const MAX = 64 * 1024 * 1024;

async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const msg of ws) await ws.send(msg);
}

const server = serve({ port: 0, hostname: "127.0.0.1" }, requestHandler(echo, undefined, { maxFrameSize: MAX }));
await server.ready;
console.log(`ready ${server.port}`);
