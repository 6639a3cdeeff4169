// WebSockets inside an existing node:http server: requestHandler() is a
// listener for its "upgrade" event, so the same port serves HTTP routes and
// WebSocket connections. This is how streamsock joins Express, Fastify or Koa
// (pass their underlying http.Server). Runs unchanged on Node, Deno and Bun.
//
//   npx tsx examples/node_http.ts   |   deno run -A examples/node_http.ts   |   bun examples/node_http.ts
import { createServer } from "node:http";
import process from "node:process";
import { Hub, requestHandler } from "../mod.ts";

const http = createServer((req, res) => {
  if (req.url === "/health") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ ok: true }));
    return;
  }
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("Not found; WebSocket clients connect to /upper\n");
});

// Every WebSocket joins the hub: the set of open connections (hub.clients),
// topics, and a graceful close() for shutdown.
const hub = new Hub();

// Only /upper upgrades; on any other path the socket is refused with 404.
const upper = requestHandler(async (ws) => {
  for await (const msg of ws) {
    await ws.sendAll(typeof msg.data === "string" ? msg.data.toUpperCase() : msg.data);
  }
}, undefined, { hub });
http.on("upgrade", (req, socket, head) => {
  if (new URL(req.url ?? "/", "http://x").pathname === "/upper") return upper(req, socket, head);
  socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
});

http.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? "127.0.0.1", () => {
  const { address, port } = http.address() as { address: string; port: number };
  console.log(`http://${address}:${port}/health and ws://${address}:${port}/upper`);
});
// Graceful stop: no new connections, 1001 (Going Away) to every WebSocket,
// wait for their closing handshakes, then let the process end.
const stop = async () => {
  console.log(`stopping: closing ${hub.clients.size} WebSocket connection(s)`);
  http.close();
  await hub.close();
  http.closeAllConnections?.();
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
