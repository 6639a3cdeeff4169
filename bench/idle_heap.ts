// In-process companion to scenario (d): what one idle `serve` connection
// keeps, as heap and RSS deltas after a full GC, with the same echo handler
// as bench/servers/streamsock_serve.ts and real TCP connections opened by the
// C load generator (built by `npm run bench`). Figures go in docs/performance.md.
//
//   node --expose-gc --import tsx bench/idle_heap.ts [N]
//   deno run -A --v8-flags=--expose-gc bench/idle_heap.ts [N]
//   bun bench/idle_heap.ts [N]
//
// HEAP_SNAPSHOT=path (Node, Deno) also writes heap snapshots before (path.0)
// and after, to diff by constructor.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { serve, type WebSocketConnection } from "../mod.ts";

const N = Number(process.argv[2] ?? 5000);
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const LOADGEN = join(root, "node_modules", ".cache", "streamsock-bench", "loadgen");
if (!existsSync(LOADGEN)) throw new Error(`${LOADGEN} is missing: run \`npm run bench -- --only d\` once to build it`);

type Globals = { gc?: () => void; Bun?: { gc(full: boolean): void }; Deno?: unknown };
const g = globalThis as unknown as Globals;
const gc = () => (g.gc !== undefined ? g.gc() : g.Bun?.gc(true));
if (g.gc === undefined && g.Bun === undefined) console.warn("no gc(): run Node and Deno with --expose-gc");
const runtime = g.Bun !== undefined ? "bun" : g.Deno !== undefined ? "deno" : "node";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const msg of ws) await ws.send(msg);
}
const server = serve({ port: 0, hostname: "127.0.0.1" }, echo);
await server.ready;

/** Opens `n` idle connections; resolves once all are open, with how long that took. */
function open(n: number): Promise<{ stop(): void; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(LOADGEN, ["idle", "127.0.0.1", String(server.port), String(n)], { stdio: ["pipe", "pipe", "inherit"] });
    child.once("error", reject);
    child.stdout!.on("data", (d) => {
      if (String(d).includes("ready")) resolve({ stop: () => child.kill("SIGKILL"), ms: performance.now() - t0 });
    });
  });
}

async function snapshot(path: string): Promise<void> {
  if (runtime === "bun") return;
  const v8 = await import("node:v8");
  v8.writeHeapSnapshot(path);
}

// Warm up the accept and handshake paths first, as scenario (d) does.
const warm = await open(100);
await sleep(300);
warm.stop();
await sleep(1000);
gc();
const before = process.memoryUsage();
const snapshotPath = process.env.HEAP_SNAPSHOT;
if (snapshotPath !== undefined) await snapshot(`${snapshotPath}.0`);
const held = await open(N);
await sleep(2000);
gc();
const after = process.memoryUsage();
const per = (key: "rss" | "heapUsed" | "external") => Math.round((after[key] - before[key]) / N);
console.log(
  `${runtime}: ${N} idle connections opened in ${Math.round(held.ms)} ms; per connection: ` +
    `RSS ${per("rss")} B, heap used ${per("heapUsed")} B, external ${per("external")} B`,
);
if (snapshotPath !== undefined) await snapshot(snapshotPath);
held.stop();
await server.close();
process.exit(0);
