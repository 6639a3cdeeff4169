// Bun's native server (uWebSockets underneath): Bun.serve({ websocket }).
// deno-lint-ignore no-explicit-any
const Bun = (globalThis as any).Bun;
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  // deno-lint-ignore no-explicit-any
  fetch(req: Request, server: any) {
    if (server.upgrade(req)) return;
    return new Response("WebSocket only", { status: 400 });
  },
  websocket: {
    maxPayloadLength: 64 * 1024 * 1024,
    idleTimeout: 0,
    perMessageDeflate: false,
    // deno-lint-ignore no-explicit-any
    message(ws: any, msg: string | Uint8Array) {
      ws.send(msg);
    },
  },
});
console.log(`ready ${server.port}`);
