// A chat room: every text message is broadcast, prefixed with its author's
// name, to everybody else in the room; arrivals and departures are announced.
// Connect with ws://127.0.0.1:8080/?name=alice, for instance with
// `streamsock connect "ws://127.0.0.1:8080/?name=alice"` in two terminals.
//
//   deno run -A examples/chat.ts   |   bun examples/chat.ts   |   npx tsx examples/chat.ts
import process from "node:process";
import { serve, type UpgradeRequest, type WebSocketConnection } from "../mod.ts";

const room = new Map<WebSocketConnection, string>();

function broadcast(text: string, except?: WebSocketConnection): void {
  for (const member of room.keys()) {
    // One slow member must not hold up the others: don't await each send.
    if (member !== except) member.sendAll(text).catch(() => {}); // a member that left meanwhile
  }
}

async function join(ws: WebSocketConnection, request: UpgradeRequest): Promise<void> {
  const name = new URL(request.url, "ws://chat/").searchParams.get("name") ?? `guest${room.size + 1}`;
  broadcast(`* ${name} joined`);
  room.set(ws, name);
  await ws.send(`* welcome, ${name}; ${room.size - 1} other(s) here`);
  try {
    for await (const msg of ws) {
      if (msg.type === "text") broadcast(`${name}: ${msg.data}`, ws);
    }
  } finally {
    room.delete(ws);
    broadcast(`* ${name} left`);
  }
}

const server = serve({ port: Number(process.env.PORT ?? 8080), hostname: process.env.HOST ?? "127.0.0.1" }, join);
await server.ready;
console.log(`chat on ws://${server.addr.hostname}:${server.port}/?name=...`);
const stop = () => void server.close();
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
await server.finished;
