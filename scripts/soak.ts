// Soak test (not in CI): N clients exchange traffic with a serve() echo server
// for M minutes in this one process, and the process's memory is printed
// every few seconds, to show that it stays flat.
//
//   npx tsx scripts/soak.ts [connections=200] [minutes=3]
//   deno run -A scripts/soak.ts 200 3
//   bun scripts/soak.ts 200 3
//
// Each client loops: send a message (mostly small, sometimes up to 64 KiB,
// text or binary), wait for its echo and check it, and every ~200 round trips
// close and reconnect, so connection setup and teardown are soaked too.
//
// Churn mode opens and closes connections continuously instead (50 at a
// time, each one echo and a clean close), and prints the process's open
// descriptors and RSS every 5 s, to show neither grows:
//
//   npx tsx scripts/soak.ts churn [connections=100000]
import { existsSync, readdirSync } from "node:fs";
import process from "node:process";
import { connect } from "../src/client/connect.ts";
import type { WebSocketConnection } from "../src/connection/connection.ts";
import { serve } from "../src/server/serve.ts";

const churnMode = process.argv[2] === "churn";
const connections = Number((churnMode ? process.argv[3] : process.argv[2]) ?? (churnMode ? 100_000 : 200));
const minutes = Number(process.argv[3] ?? 3);
const REPORT_EVERY = 10_000;

const MiB = 1024 * 1024;
const mib = (n: number) => (n / MiB).toFixed(1).padStart(7);

let roundTrips = 0;
let bytes = 0;
let reconnects = 0;
let failures = 0;

const server = serve({ hostname: "127.0.0.1", port: 0 }, async (ws: WebSocketConnection) => {
  for await (const msg of ws) await ws.sendAll(msg);
});
await server.ready;
const url = `ws://127.0.0.1:${server.port}/`;
const deadline = Date.now() + minutes * 60_000;

function payload(n: number): string | Uint8Array {
  const size = n % 100 === 0 ? 1 + (n * 7919) % (64 * 1024) : (n * 31) % 512;
  if (n % 2 === 0) return "x".repeat(size);
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 64) bytes[i] = (n + i) & 0xff;
  return bytes;
}

function same(a: string | Uint8Array, b: string | Uint8Array): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function client(id: number): Promise<void> {
  let n = id * 1000;
  while (Date.now() < deadline) {
    let ws: WebSocketConnection;
    try {
      ws = await connect(url, { timeout: 10_000 });
    } catch (err) {
      failures++;
      console.error(`client ${id}: connect failed:`, err);
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    try {
      const trips = 150 + (id % 100);
      for (let i = 0; i < trips && Date.now() < deadline; i++) {
        const data = payload(n++);
        await ws.send(data);
        const echo = await ws.recvAll();
        if (!same(echo.data, data)) throw new Error(`client ${id}: echo ${n} differs`);
        roundTrips++;
        bytes += typeof data === "string" ? data.length : data.byteLength;
      }
      await ws.close(1000);
      reconnects++;
    } catch (err) {
      failures++;
      console.error(`client ${id}:`, err);
      await ws.close(1011).catch(() => {});
    }
  }
}

function report(elapsed: number): void {
  const usage = process.memoryUsage();
  console.log(
    `${(elapsed / 1000).toFixed(0).padStart(5)} s  rss ${mib(usage.rss)} MiB  heap ${mib(usage.heapUsed)} MiB  ` +
      `open ${String(server.connections).padStart(4)}  round trips ${roundTrips}  ` +
      `${mib(bytes)} MiB echoed  reconnects ${reconnects}  failures ${failures}`,
  );
}

const runtimeName = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
  ? "Deno"
  : typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
  ? "Bun"
  : `Node ${process.version}`;

const descriptors = (): string => existsSync("/proc/self/fd") ? String(readdirSync("/proc/self/fd").length) : "n/a";

/** Churn: connections opened, used once and closed, CHURN_CONCURRENCY at a time. */
async function churn(total: number): Promise<void> {
  const concurrency = 50;
  let opened = 0;
  let closed = 0;
  const started = Date.now();
  const line = () => {
    const usage = process.memoryUsage();
    console.log(
      `${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s  connections ${String(closed).padStart(7)}  ` +
        `open fds ${descriptors().padStart(5)}  rss ${mib(usage.rss)} MiB  heap ${mib(usage.heapUsed)} MiB  failures ${failures}`,
    );
  };
  console.log(`churn: ${total} connections, ${concurrency} at a time, against ${url} on ${runtimeName}`);
  line();
  const timer = setInterval(line, 5000);
  const worker = async () => {
    while (opened < total) {
      opened++;
      try {
        const ws = await connect(url, { timeout: 10_000, pingInterval: 0 });
        await ws.send("churn");
        await ws.recv();
        const info = await ws.close(1000);
        if (info.code !== 1000) throw new Error(`closed with ${info.code}`);
      } catch (err) {
        failures++;
        if (failures <= 10) console.error("churn:", err);
      }
      closed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearInterval(timer);
  line();
}

if (churnMode) {
  await churn(connections);
  await server.close();
  console.log(`done: ${connections} connections, ${failures} failures, open fds ${descriptors()}`);
  process.exit(failures === 0 ? 0 : 1);
}

const started = Date.now();
console.log(`soak: ${connections} connections for ${minutes} min against ${url} on ${
  typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
    ? "Deno"
    : typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
    ? "Bun"
    : `Node ${process.version}`
}`);
report(0);
const timer = setInterval(() => report(Date.now() - started), REPORT_EVERY);
await Promise.all(Array.from({ length: connections }, (_, id) => client(id)));
clearInterval(timer);
report(Date.now() - started);
await server.close();
console.log(`done: ${roundTrips} round trips, ${reconnects} reconnects, ${failures} failures`);
process.exitCode = failures === 0 ? 0 : 1;
