// Bun's native server (uWebSockets underneath): Bun.serve({ websocket }).
// deno-lint-ignore no-explicit-any
const Bun = (globalThis as any).Bun;
// deno-lint-ignore no-explicit-any
const process = (globalThis as any).process;
// Scenario (f): BENCH_DEFLATE=1 turns on permessage-deflate (uWS's shared
// compressor and decompressor: no context takeover either way) and asks each
// send to compress; Bun has no size threshold.
const deflate = process.env.BENCH_DEFLATE === "1";
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
    perMessageDeflate: deflate,
    // deno-lint-ignore no-explicit-any
    message(ws: any, msg: string | Uint8Array) {
      ws.send(msg, deflate);
    },
  },
});
console.log(`ready ${server.port}`);
