// Fan-out on Bun's native server (uWebSockets topics): /sub subscribes to
// "t", each message from /pub is published with ws.publish (the sender is
// excluded, as in streamsock).
// deno-lint-ignore no-explicit-any
const Bun = (globalThis as any).Bun;
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  // deno-lint-ignore no-explicit-any
  fetch(req: Request, server: any) {
    if (server.upgrade(req, { data: { sub: new URL(req.url).pathname.startsWith("/sub") } })) return;
    return new Response("WebSocket only", { status: 400 });
  },
  websocket: {
    idleTimeout: 0,
    // deno-lint-ignore no-explicit-any
    open(ws: any) {
      if (ws.data.sub) ws.subscribe("t");
    },
    // deno-lint-ignore no-explicit-any
    message(ws: any, msg: string | Uint8Array) {
      ws.publish("t", msg);
    },
  },
});
console.log(`ready ${server.port}`);
