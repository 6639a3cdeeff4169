// An echo server: every message goes back to its sender.
//
//   deno run -A examples/echo_server.ts      (Deno's node:net underneath)
//   bun examples/echo_server.ts              (Bun.listen)
//   npx tsx examples/echo_server.ts          (node:net)
//
// PORT (default 8080; 0 picks a free one) and HOST (default 127.0.0.1) come
// from the environment. In your own project import from
// "@streamsock/streamsock" (Deno) or "streamsock" (npm) instead of "../mod.ts".
import process from "node:process";
import { serve, type WebSocketConnection } from "../mod.ts";

async function echo(ws: WebSocketConnection): Promise<void> {
  // sendAll, not send: a whole message may be larger than one frame (maxFrameSize).
  for await (const msg of ws) await ws.sendAll(msg); // whole text and binary messages
}

const server = serve({ port: Number(process.env.PORT ?? 8080), hostname: process.env.HOST ?? "127.0.0.1" }, echo);
await server.ready;
console.log(`listening on ws://${server.addr.hostname}:${server.port}/`);

// Ctrl-C or SIGTERM: close every connection with 1001 (Going Away), then exit.
const stop = () => void server.close();
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
await server.finished;
console.log("stopped");
