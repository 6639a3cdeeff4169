// A chat room per URL path, on topics: every text message is published,
// prefixed with its author's name, to everybody else in the same room;
// arrivals and departures are announced. The hub frames each message once for
// all members, and a member that stops reading is closed with 1013 once 1 MiB
// waits for it (maxBackpressure) instead of growing the server's memory.
// Connect with ws://127.0.0.1:8080/lobby?name=alice, for instance with
// `streamsock connect "ws://127.0.0.1:8080/lobby?name=alice"` in two terminals.
//
//   deno run -A examples/chat.ts   |   bun examples/chat.ts   |   npx tsx examples/chat.ts
import process from "node:process";
import { serve, type UpgradeRequest, type WebSocketConnection } from "../mod.ts";

async function join(ws: WebSocketConnection, request: UpgradeRequest): Promise<void> {
  const url = new URL(request.url, "ws://chat/");
  const room = url.pathname;
  const name = url.searchParams.get("name") ?? `guest${server.subscriberCount(room) + 1}`;
  server.publish(room, `* ${name} joined`);
  ws.subscribe(room);
  await ws.send(`* welcome to ${room}, ${name}; ${server.subscriberCount(room) - 1} other(s) here`);
  try {
    for await (const msg of ws) {
      if (msg.type === "text") ws.publish(room, `${name}: ${msg.data}`);
    }
  } finally {
    // Closed connections leave their topics by themselves.
    server.publish(room, `* ${name} left`);
  }
}

const server = serve({ port: Number(process.env.PORT ?? 8080), hostname: process.env.HOST ?? "127.0.0.1" }, join);
await server.ready;
console.log(`chat on ws://${server.addr.hostname}:${server.port}/<room>?name=...`);
const stop = () => void server.close();
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
await server.finished;
