// Compares the socket shims a runtime could use for the client, against the
// `ws` package's echo server running under Node (tests/fixtures/ws_echo_server.mjs):
//
//   node --import tsx scripts/bench_transports.ts
//   deno run -A scripts/bench_transports.ts
//   bun scripts/bench_transports.ts
//   (add --tls to any of them for wss://, with the test certificate)
//
// Workloads: many small text messages pipelined (round trips per second) and
// bulk binary echo (MB/s). The Node server is usually the bottleneck, so the
// client process's own CPU time per message / per MB is printed too: it is
// what the shim costs. Each variant runs ROUNDS times, interleaved; medians
// are printed. This is how src/transport/runtime.ts's choices were made.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process, { cpuUsage } from "node:process";
import { testCertificate } from "../tests/_tls.ts";
import { WebSocketConnection } from "../src/connection/connection.ts";
import { buildRequestHead, validateResponse } from "../src/handshake/client.ts";
import { HttpHeadParser } from "../src/handshake/http.ts";
import { computeAccept, generateKey } from "../src/handshake/key.ts";
import { currentRuntime } from "../src/transport/runtime.ts";
import { dialNode } from "../src/transport/node.ts";
import { streamTransport } from "../src/transport/streams.ts";
import type { DialOptions, Transport } from "../src/transport/types.ts";

const ROUNDS = 5;
const SMALL_COUNT = 100_000;
const SMALL_WINDOW = 500;
const BULK_BYTES = 128 * 1024 * 1024;
const BULK_MESSAGE = 64 * 1024;

type Dial = (options: DialOptions) => Promise<Transport>;

const secure = process.argv.includes("--tls");

async function variants(): Promise<[string, Dial][]> {
  const list: [string, Dial][] = [];
  switch (currentRuntime()) {
    case "deno": {
      const { denoConnTransport, dialDeno } = await import("../src/transport/deno.ts");
      list.push([
        secure ? "Deno.startTls, read loop (denoConnTransport)" : "Deno.connect, read loop (denoConnTransport)",
        secure ? (options) => dialDenoTls(options, denoConnTransport) : dialDeno,
      ]);
      if (!secure) list.push(["Deno.connect, conn.readable/writable (streamTransport)", async ({ hostname, port }) => {
        // deno-lint-ignore no-explicit-any
        const conn = await (globalThis as any).Deno.connect({ hostname, port });
        conn.setNoDelay(true);
        return streamTransport({ readable: conn.readable, writable: conn.writable, close: () => conn.close() });
      }]);
      break;
    }
    case "bun": {
      const { bunSocketTransport, dialBun } = await import("../src/transport/bun.ts");
      list.push([
        secure ? "Bun.connect with tls (bunSocketTransport)" : "Bun.connect (bunSocketTransport)",
        secure ? (options) => dialBunTls(options, bunSocketTransport) : dialBun,
      ]);
      break;
    }
  }
  list.push([secure ? "node:tls (nodeSocketTransport)" : "node:net (nodeSocketTransport)", dialNode]);
  return list;
}

// The runtimes' native TLS clients, kept here rather than in src/transport/
// (which sends wss:// through node:tls on every runtime) so that choice can be
// re-measured as Deno and Bun evolve. No abort handling: the bench never aborts.
async function dialDenoTls(
  { hostname, port, tls }: DialOptions,
  wrap: (conn: never) => Transport,
): Promise<Transport> {
  // deno-lint-ignore no-explicit-any
  const deno = (globalThis as any).Deno;
  const tcp = await deno.connect({ hostname, port });
  tcp.setNoDelay(true);
  const conn = await deno.startTls(tcp, { hostname, caCerts: tls?.ca === undefined ? undefined : [tls.ca].flat() });
  await conn.handshake();
  return wrap(conn as never);
}

async function dialBunTls(
  { hostname, port, tls }: DialOptions,
  makeTransport: () => { handler: object; attach(socket: never): void } & Transport,
): Promise<Transport> {
  const transport = makeTransport();
  // Bun.connect with tls resolves once the TLS handshake is done.
  // deno-lint-ignore no-explicit-any
  const socket = await (globalThis as any).Bun.connect({
    hostname,
    port,
    socket: transport.handler,
    tls: { ca: tls?.ca, rejectUnauthorized: true },
  });
  transport.attach(socket as never);
  return transport;
}

async function open(dial: Dial, port: number): Promise<WebSocketConnection> {
  const key = generateKey();
  const accept = await computeAccept(key);
  const transport = await dial({ hostname: "127.0.0.1", port, tls: tlsOptions });
  return new Promise((resolve, reject) => {
    const parser = new HttpHeadParser();
    transport.start({
      data(chunk) {
        const head = parser.push(chunk);
        if (head === null) return;
        const { protocol } = validateResponse(head, { accept, protocols: [] });
        resolve(new WebSocketConnection(transport, { role: "client", protocol, head: head.rest }));
      },
      end: () => reject(new Error("closed during handshake")),
      error: reject,
      drain() {},
    });
    transport.write(buildRequestHead({ url: new URL(`ws://127.0.0.1:${port}/`), key, protocols: [] }));
  });
}

interface Result {
  rate: number;
  /** Client CPU microseconds per message (small) or per MB (bulk). */
  cpu: number;
}

function cpuMicros(): number {
  const { user, system } = cpuUsage();
  return user + system;
}

async function small(ws: WebSocketConnection): Promise<Result> {
  const cpuStart = cpuMicros();
  const started = performance.now();
  let received = 0;
  const receiving = (async () => {
    while (received < SMALL_COUNT) {
      await ws.recv();
      received++;
    }
  })();
  for (let i = 0; i < SMALL_COUNT; i++) {
    while (i - received >= SMALL_WINDOW) await new Promise((resolve) => setTimeout(resolve, 0));
    await ws.send("0123456789abcdef");
  }
  await receiving;
  return { rate: SMALL_COUNT / ((performance.now() - started) / 1000), cpu: (cpuMicros() - cpuStart) / SMALL_COUNT };
}

async function bulk(ws: WebSocketConnection): Promise<Result> {
  const cpuStart = cpuMicros();
  const payload = new Uint8Array(BULK_MESSAGE).fill(7);
  const count = BULK_BYTES / BULK_MESSAGE;
  const started = performance.now();
  const receiving = (async () => {
    for (let i = 0; i < count; i++) await ws.recv();
  })();
  for (let i = 0; i < count; i++) await ws.send(payload);
  await receiving;
  return { rate: BULK_BYTES / 1e6 / ((performance.now() - started) / 1000), cpu: (cpuMicros() - cpuStart) / (BULK_BYTES / 1e6) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const fixture = decodeURIComponent(new URL("../tests/fixtures/ws_echo_server.mjs", import.meta.url).pathname);
let tlsOptions: DialOptions["tls"];
const args = [fixture];
if (secure) {
  const { cert, key } = await testCertificate();
  const dir = mkdtempSync(join(tmpdir(), "streamsock-bench-"));
  writeFileSync(join(dir, "cert.pem"), cert);
  writeFileSync(join(dir, "key.pem"), key);
  args.push("--tls", join(dir, "cert.pem"), join(dir, "key.pem"));
  tlsOptions = { ca: cert };
}
const child = spawn("node", args, { stdio: ["pipe", "pipe", "inherit"] });
const port = await new Promise<number>((resolve) => child.stdout!.once("data", (d) => resolve(Number(String(d).trim()))));
try {
  const list = await variants();
  const results = new Map<string, { small: Result[]; bulk: Result[] }>(list.map(([name]) => [name, { small: [], bulk: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, dial] of list) {
      const ws = await open(dial, port);
      results.get(name)!.small.push(await small(ws));
      results.get(name)!.bulk.push(await bulk(ws));
      await ws.close();
    }
  }
  console.log(`${currentRuntime()}: median of ${ROUNDS} rounds against ws (Node) over ${secure ? "wss" : "ws"}:// on 127.0.0.1`);
  for (const [name, r] of results) {
    const m = (xs: Result[], key: keyof Result) => median(xs.map((x) => x[key]));
    console.log(`  ${name}`);
    console.log(
      `    small: ${Math.round(m(r.small, "rate"))} msgs/s, ${m(r.small, "cpu").toFixed(2)} µs client CPU/msg;` +
        ` bulk: ${m(r.bulk, "rate").toFixed(0)} MB/s, ${m(r.bulk, "cpu").toFixed(0)} µs client CPU/MB`,
    );
  }
} finally {
  child.kill();
}
