// Measures the memory of 1,000 idle permessage-deflate connections (issue 7):
// RSS before, with the connections open, after one compressed message each
// way (every zlib context live), and after the idle sweep released them.
// Both ends run in this process, so each figure covers a client and a server.
//
//   node --expose-gc --import tsx tests/deflate_idle_memory.ts [count]
//   deno run -A --v8-flags=--expose-gc tests/deflate_idle_memory.ts [count]
//   bun tests/deflate_idle_memory.ts [count]
import process from "node:process";
import { connect } from "../src/client/connect.ts";
import { requestHandler } from "../src/server/request_handler.ts";
import { serve } from "../src/server/serve.ts";
import type { WebSocketConnection } from "../src/connection/connection.ts";
import { ZlibSweeper } from "../src/extensions/zlib_sweeper.ts";

const count = Number(process.argv[2] ?? 1000);
const MiB = 1024 * 1024;
const message = JSON.stringify({ items: Array.from({ length: 100 }, (_, i) => ({ id: i, name: `item ${i}` })) });

async function rss(): Promise<number> {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  for (let i = 0; i < 3; i++) {
    g.Bun?.gc(true);
    g.gc?.();
    await new Promise((resolve) => setTimeout(resolve, 0)); // a turn for finalizers between collections
  }
  return process.memoryUsage().rss;
}

// One sweeper for both ends, so the script can run what its timer does.
const zlibSweeper = new ZlibSweeper();
const server = serve(
  { port: 0, hostname: "127.0.0.1" },
  requestHandler(async (ws) => {
    for await (const msg of ws) await ws.send(msg);
  }, undefined, { compression: true, pingInterval: 0, zlibSweeper }),
);
await server.ready;
const url = `ws://127.0.0.1:${server.port}/`;

const base = await rss();
const clients: WebSocketConnection[] = [];
for (let i = 0; i < count; i += 50) {
  clients.push(...await Promise.all(Array.from({ length: Math.min(50, count - i) }, () => connect(url, { pingInterval: 0, zlibSweeper }))));
}
const open = await rss();
for (let i = 0; i < count; i += 100) {
  await Promise.all(clients.slice(i, i + 100).map(async (ws) => {
    await ws.send(message);
    const echo = await ws.recv();
    if (echo.data !== message) throw new Error("echo mismatch");
  }));
}
const live = await rss();
zlibSweeper.sweep(Date.now() + 60_000, 0); // what its timer does after 10 s of idleness
const swept = await rss();
// Freed zlib memory may stay in the allocator rather than go back to the
// system; a second round shows whether it is reused (released) or added.
for (let i = 0; i < count; i += 100) {
  await Promise.all(clients.slice(i, i + 100).map(async (ws) => {
    await ws.send(message);
    await ws.recv();
  }));
}
const again = await rss();

const per = (bytes: number) => `${(bytes / count / 1024).toFixed(1)} KiB per connection pair`;
const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
console.log(`${runtime}: ${count} idle compressed connections (client + server ends in one process)`);
console.log(`  baseline RSS            ${(base / MiB).toFixed(1)} MiB`);
console.log(`  open, no message yet    +${((open - base) / MiB).toFixed(1)} MiB  (${per(open - base)})`);
console.log(`  after one message each  +${((live - base) / MiB).toFixed(1)} MiB  (${per(live - base)})`);
console.log(`  after the idle sweep    +${((swept - base) / MiB).toFixed(1)} MiB  (${per(swept - base)})`);
console.log(`  one more message each   +${((again - base) / MiB).toFixed(1)} MiB  (${per(again - base)})`);
await Promise.all(clients.map((ws) => ws.close()));
await server.close();
