// `npm run bench`: streamsock against ws and the runtimes' native WebSocket
// servers and clients, on 127.0.0.1, server and load generator pinned to
// different cores with taskset. Writes docs/performance.md and
// bench/results.json. Options:
//
//   --rounds N        interleaved rounds per measurement (default 5)
//   --seconds S       measured seconds per run (default 3)
//   --only a,b,...,k  scenarios to run (default all); the tables of the
//                    scenarios not run are kept from bench/results.json
//   --servers x,y     only servers whose name contains one of these
//   --no-write        print the table, leave docs/performance.md and bench/results.json alone
//   --channels        also run streamsock `serve` with a subscriber on the message
//                    diagnostics channels (BENCH_CHANNELS=1), interleaved: with
//                    --before, what stats and unsubscribed channels cost against
//                    REV, and what a subscriber adds
//   --before REV      also run streamsock `serve` as it was at git revision REV
//                    (checked out with git archive), interleaved with today's,
//                    and print today's over REV's median per scenario and
//                    runtime; implies --no-write
//
// The servers are tiny scripts in bench/servers/ (BENCH_DEFLATE=1 turns on
// permessage-deflate for scenario (f)), the clients of scenario (e) one script
// in bench/clients/; the load generator is bench/loadgen.cc, compiled here
// with g++ (and zlib, for (f)). Scenarios (g) fan-out and (h) fan-out across
// two processes through Redis use bench/fanout/ (servers and a Node load
// generator on raw sockets); (h) needs redis-server and is skipped without it.
// The raw TCP ceiling of (c) and (e) bulk is bench/servers/raw_tcp_echo.ts
// (no WebSocket), driven by `loadgen raw` and `client.ts raw`. Scenario (i),
// durable topics, runs (h) with the topic durable (Redis Streams) beside the
// same plain topic, and bench/durable_resume.ts: 1,000 resuming subscribers
// catching up after their server was SIGKILLed and restarted. Scenario (j),
// compression memory, opens 1,000 compressing connections with real `ws` and
// streamsock clients (bench/compression/clients.ts) against servers started
// with BENCH_COMPRESSION=W/M and reads the server's RSS. Each scenario's
// chart is written to docs/charts/<scenario>.svg (bench/chart.ts); a long run
// shows its progress on stderr (bench/progress.ts).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { RedisServer, redisServerBinary } from "../tests/_redis.ts";
import { type Bar, barChart, type BarKind } from "./chart.ts";
import { Progress, type Step } from "./progress.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const DENO = bin("deno");
const BUN = bin("bun");
const NODE = process.execPath;
const SERVER_CORE = "0";
const LOAD_CORE = "1";
const HOST = "127.0.0.1";
const MiB = 1024 * 1024;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const ROUNDS = Number(arg("rounds", "5"));
const SECONDS = Number(arg("seconds", "3"));
const ONLY = arg("only", "a,b,c,d,e,f,g,h,i,j,k").split(",");
const SERVER_FILTER = arg("servers", "").split(",").filter((s) => s !== "");
const BEFORE = arg("before", "");
const WRITE = !process.argv.includes("--no-write") && BEFORE === "";

// ------------------------------------------------------------------ servers

interface ServerSpec {
  name: string;
  runtime: "node" | "deno" | "bun";
  /** raw: the raw TCP ceiling, an echo without WebSocket, measured in (c) only. */
  kind: "streamsock" | "ws" | "native" | "raw";
  cmd: string[];
  env?: Record<string, string>;
  /** Why the server is left out of scenario (f), when it cannot speak permessage-deflate. */
  noDeflate?: string;
}

const srv = (file: string) => join(root, "bench", "servers", file);
const ALL_SERVERS: ServerSpec[] = [
  { name: "node streamsock serve", runtime: "node", kind: "streamsock", cmd: [NODE, "--import", "tsx", srv("streamsock_serve.ts")] },
  {
    name: "node streamsock requestHandler",
    runtime: "node",
    kind: "streamsock",
    cmd: [NODE, "--import", "tsx", srv("streamsock_request_handler.ts")],
  },
  { name: "node ws", runtime: "node", kind: "ws", cmd: [NODE, srv("ws_server.mjs")], env: { WS_NO_BUFFER_UTIL: "1" } },
  { name: "node ws+bufferutil", runtime: "node", kind: "ws", cmd: [NODE, srv("ws_server.mjs")] },
  { name: "node raw TCP ceiling", runtime: "node", kind: "raw", cmd: [NODE, "--import", "tsx", srv("raw_tcp_echo.ts")] },
  { name: "deno streamsock serve", runtime: "deno", kind: "streamsock", cmd: [DENO, "run", "-A", srv("streamsock_serve.ts")] },
  {
    name: "deno streamsock requestHandler",
    runtime: "deno",
    kind: "streamsock",
    cmd: [DENO, "run", "-A", srv("streamsock_request_handler.ts")],
  },
  {
    name: "deno native",
    runtime: "deno",
    kind: "native",
    cmd: [DENO, "run", "-A", srv("deno_native.ts")],
    noDeflate: "not supported: Deno.upgradeWebSocket has no permessage-deflate",
  },
  { name: "deno raw TCP ceiling", runtime: "deno", kind: "raw", cmd: [DENO, "run", "-A", srv("raw_tcp_echo.ts")] },
  { name: "bun streamsock serve", runtime: "bun", kind: "streamsock", cmd: [BUN, srv("streamsock_serve.ts")] },
  { name: "bun streamsock requestHandler", runtime: "bun", kind: "streamsock", cmd: [BUN, srv("streamsock_request_handler.ts")] },
  { name: "bun native", runtime: "bun", kind: "native", cmd: [BUN, srv("bun_native.ts")] },
  { name: "bun raw TCP ceiling", runtime: "bun", kind: "raw", cmd: [BUN, srv("raw_tcp_echo.ts")] },
];
/** With --before: the tree of that revision, extracted once, sharing our node_modules. */
function beforeServers(rev: string): ServerSpec[] {
  const sha = execFileSync("git", ["rev-parse", "--short", rev], { cwd: root, encoding: "utf8" }).trim();
  // Outside node_modules: Deno will not strip types from files under it.
  const dir = join(tmpdir(), `streamsock-bench-before-${sha}`);
  if (!existsSync(join(dir, "mod.ts"))) {
    mkdirSync(dir, { recursive: true });
    execFileSync("sh", ["-c", `git archive ${sha} | tar -x -C '${dir}'`], { cwd: root });
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  }
  const file = join(dir, "bench", "servers", "streamsock_serve.ts");
  return [
    { name: `node streamsock serve @${sha}`, runtime: "node", kind: "streamsock", cmd: [NODE, "--import", "tsx", file] },
    { name: `deno streamsock serve @${sha}`, runtime: "deno", kind: "streamsock", cmd: [DENO, "run", "-A", file] },
    { name: `bun streamsock serve @${sha}`, runtime: "bun", kind: "streamsock", cmd: [BUN, file] },
  ];
}
if (BEFORE !== "") ALL_SERVERS.push(...beforeServers(BEFORE));
if (process.argv.includes("--channels")) {
  for (const runtime of ["node", "deno", "bun"] as const) {
    const today = ALL_SERVERS.find((s) => s.name === `${runtime} streamsock serve`)!;
    ALL_SERVERS.push({ ...today, name: `${runtime} streamsock serve +channels`, env: { BENCH_CHANNELS: "1" } });
  }
}
const SERVERS = ALL_SERVERS.filter((s) => SERVER_FILTER.length === 0 || SERVER_FILTER.some((f) => s.name.includes(f)));

interface Running {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

/** Spawns `cmd` pinned to `core` and waits for its "ready <port>" line. */
function start(cmd: string[], core: string, env: Record<string, string> = {}): Promise<Running> {
  const child = spawn("taskset", ["-c", core, ...cmd], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => fail(new Error(`${cmd.join(" ")}: no "ready" within 30 s\n${err}`)), 30_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      void stop().then(() => reject(e));
    };
    child.stderr!.on("data", (d) => (err += d));
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ pid: child.pid!, port: Number(m[1]), stop });
      }
    });
    child.once("exit", (code) => fail(new Error(`${cmd.join(" ")} exited with ${code}\n${err}`)));
  });
}

/** Runs `cmd` pinned to `core` to completion and parses the JSON line it prints. */
function runJson(cmd: string[], core: string, timeoutMs: number, env: Record<string, string> = {}): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn("taskset", ["-c", core, ...cmd], { cwd: root, env: { ...process.env, ...env } });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").find((l) => l.startsWith("{"));
      if (code === 0 && line !== undefined) resolve(JSON.parse(line));
      else reject(new Error(`${cmd.join(" ")} failed (${code}): ${err.slice(-2000)}`));
    });
  });
}

/**
 * The process's minor page faults so far (/proc/PID/stat, field 10): pages
 * the kernel mapped and zeroed on first touch. Scenario (c) reports them per
 * message, since on the benchmark machine a fresh 16 MiB costs 45-60 ms to
 * touch (bench/first_touch.ts), more than a whole echo at ws's best.
 */
function minorFaults(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- generator

const buildDir = join(root, "node_modules", ".cache", "streamsock-bench");
const LOADGEN = join(buildDir, "loadgen");

function buildLoadgen(): void {
  mkdirSync(buildDir, { recursive: true });
  execFileSync("g++", ["-O2", "-std=c++17", "-Wall", "-o", LOADGEN, join(root, "bench", "loadgen.cc"), "-lz"], { stdio: "inherit" });
}

const loadgen = (...args: (string | number)[]) => [LOADGEN, ...args.map(String)];

// ---------------------------------------------------------------- scenarios

/** results[scenario][server] = one value per round (NaN when a run failed). */
const results: Record<string, Record<string, number[]>> = {};
const extra: Record<string, Record<string, number[]>> = {};
function record(table: Record<string, Record<string, number[]>>, scenario: string, server: string, value: number): void {
  ((table[scenario] ??= {})[server] ??= []).push(value);
}

async function measureServer(spec: ServerSpec): Promise<void> {
  const server = await start(spec.cmd, SERVER_CORE, spec.env);
  try {
    const t = SECONDS * 1000 + 30_000;
    // (c): MB/s, and the server's page faults per message over the same run.
    const bulk = async (cmd: string[]) => {
      const faults = minorFaults(server.pid);
      const r = await runJson(cmd, LOAD_CORE, t);
      record(results, "c", spec.name, r.bytesPerSecond / 1e6);
      record(extra, "c-faults", spec.name, (minorFaults(server.pid) - faults) / Math.max(r.messages, 1));
    };
    if (spec.kind === "raw") {
      // The raw TCP ceiling of (c): the same 16 MiB, one in flight, no WebSocket.
      await bulk(loadgen("raw", HOST, server.port, 1, 1, 16 * MiB, 1, SECONDS));
      return;
    }
    if (ONLY.includes("a")) {
      for (const type of ["binary", "text"]) {
        const r = await runJson(loadgen("pipeline", HOST, server.port, 50, 32, 32, type, 1, SECONDS), LOAD_CORE, t);
        record(results, `a-${type}`, spec.name, r.rate);
        record(extra, `a-${type}-gencpu`, spec.name, r.generatorCpu);
      }
    }
    if (ONLY.includes("b")) {
      const r = await runJson(loadgen("pingpong", HOST, server.port, 32, 0.5, Math.min(SECONDS, 2)), LOAD_CORE, t);
      record(results, "b-p50", spec.name, r.p50);
      record(results, "b-p99", spec.name, r.p99);
    }
    if (ONLY.includes("c")) await bulk(loadgen("pipeline", HOST, server.port, 1, 1, 16 * MiB, "binary", 1, SECONDS));
  } catch (err) {
    warn(`${spec.name}: ${(err as Error).message}`);
  } finally {
    await server.stop();
  }
}

// Scenario (f): 50 connections x 8 messages in flight of a 1,200-byte JSON-like
// text (above the 1 KiB threshold of ws and streamsock), compressed both ways.
const DEFLATE = { conns: 50, window: 8, size: 1200 };

/** Scenario (f): the same echo with permessage-deflate, on a server started with BENCH_DEFLATE=1. */
async function measureDeflate(spec: ServerSpec): Promise<void> {
  if (spec.noDeflate || spec.kind === "raw") return;
  const server = await start(spec.cmd, SERVER_CORE, { ...spec.env, BENCH_DEFLATE: "1" });
  try {
    const { conns, window, size } = DEFLATE;
    const r = await runJson(
      loadgen("deflate", HOST, server.port, conns, window, size, 1, SECONDS),
      LOAD_CORE,
      SECONDS * 1000 + 30_000,
    );
    record(results, "f", spec.name, r.rate);
    record(results, "f-mbps", spec.name, r.bytesPerSecond / 1e6);
    record(extra, "f-gencpu", spec.name, r.generatorCpu);
    record(extra, "f-reply-bytes", spec.name, r.replyBytes);
    record(extra, "f-request-bytes", spec.name, r.requestBytes);
  } catch (err) {
    warn(`${spec.name} (deflate): ${(err as Error).message}`);
    record(results, "f", spec.name, NaN);
    record(results, "f-mbps", spec.name, NaN);
  } finally {
    await server.stop();
  }
}

const IDLE_CONNECTIONS = 5000;

/** Scenario (d): server RSS growth per idle connection, on a fresh server. */
async function measureIdle(spec: ServerSpec): Promise<void> {
  const server = await start(spec.cmd, SERVER_CORE, spec.env);
  const holders: Running[] = [];
  try {
    // Warm up the accept and handshake paths so their code is not counted.
    const warm = await start(loadgen("idle", HOST, server.port, 100), LOAD_CORE);
    await warm.stop();
    await sleep(1000);
    const before = rssBytes(server.pid);
    const t0 = performance.now();
    holders.push(await start(loadgen("idle", HOST, server.port, IDLE_CONNECTIONS), LOAD_CORE));
    // The generator opens them one after another, each waiting for its 101.
    record(results, "d-open", spec.name, performance.now() - t0);
    await sleep(2000);
    const after = rssBytes(server.pid);
    record(results, "d", spec.name, (after - before) / IDLE_CONNECTIONS);
  } catch (err) {
    warn(`${spec.name} (idle): ${(err as Error).message}`);
  } finally {
    for (const h of holders) await h.stop();
    await server.stop();
  }
}

// Scenario (j): compression memory. COMPRESSION.conns connections, half real
// `ws` clients and half streamsock clients, each exchanging COMPRESSION.messages
// different JSON-like texts of about 1,200 B with context takeover both ways;
// the server's RSS growth per connection while they are open ("active"), and
// again once the idle release ran ("swept": streamsock servers run with a
// COMPRESSION.sweepMs sweeper instead of the default 10 s, to keep the run
// short; ws never releases its zlib state). Each server runs every setting:
// "W/M" is a W-bit window both ways (server_max_window_bits, and
// client_max_window_bits when offered, as every client here does) and zlib
// memLevel M; "off" is the same exchange without compression.
const COMPRESSION = { conns: 1000, messages: 5, sweepMs: 3000 };
const COMPRESSION_SETTINGS = ["15/8", "13/6", "12/5", "11/4", "off"];
const COMPRESSION_SERVERS = ["node streamsock serve", "deno streamsock serve", "bun streamsock serve", "node ws"];
const compressionClients = (port: number, conns: number) => [
  NODE,
  "--import",
  "tsx",
  join(root, "bench", "compression", "clients.ts"),
  String(port),
  String(conns),
  String(COMPRESSION.messages),
];

/** Starts scenario (j)'s clients and resolves with the JSON line they print once every exchange is done. */
function startClients(cmd: string[], core: string): Promise<{ report: Record<string, number | string>; stop(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawn("taskset", ["-c", core, ...cmd], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<void>((done) => child.once("exit", () => done()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    };
    let out = "";
    let err = "";
    const timer = setTimeout(() => fail(new Error(`clients: no report within 120 s\n${err}`)), 120_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      void stop().then(() => reject(e));
    };
    child.stderr.on("data", (d) => (err += d));
    child.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n").find((l) => l.startsWith("{") && l.endsWith("}"));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve({ report: JSON.parse(line), stop });
      }
    });
    child.once("exit", (code) => fail(new Error(`clients exited with ${code}\n${err.slice(-2000)}`)));
  });
}

/** Scenario (j) for one server and one setting, on a fresh server. */
async function measureCompressionMemory(spec: ServerSpec, setting: string): Promise<void> {
  const name = `${spec.name} ${setting}`;
  const server = await start(spec.cmd, SERVER_CORE, {
    ...spec.env,
    BENCH_COMPRESSION: setting,
    BENCH_SWEEP_MS: String(COMPRESSION.sweepMs),
  });
  const held: { stop(): Promise<void> }[] = [];
  try {
    // Warm up the handshake, compression and echo paths so their code is not counted.
    const warm = await startClients(compressionClients(server.port, 50), LOAD_CORE);
    await warm.stop();
    await sleep(1000);
    const before = rssBytes(server.pid);
    const clients = await startClients(compressionClients(server.port, COMPRESSION.conns), LOAD_CORE);
    held.push(clients);
    await sleep(1000);
    const active = rssBytes(server.pid);
    // The sweeper runs every sweepMs / 2 and releases what sat unused for sweepMs.
    await sleep(COMPRESSION.sweepMs * 1.5 + 2000);
    const swept = rssBytes(server.pid);
    const r = clients.report;
    record(results, "j-active", name, (active - before) / COMPRESSION.conns);
    record(results, "j-swept", name, (swept - before) / COMPRESSION.conns);
    record(results, "j-wire", name, r.serverToClient as number);
    record(results, "j-wire-up", name, r.clientToServer as number);
  } catch (err) {
    warn(`${name} (compression memory): ${(err as Error).message}`);
    record(results, "j-active", name, NaN);
    record(results, "j-swept", name, NaN);
  } finally {
    for (const h of held) await h.stop();
    await server.stop();
  }
}

/** Scenario (j)'s table: RSS per connection active and swept, and the bytes on the wire, per server and setting. */
function compressionTable(): string[] {
  const { conns, messages } = COMPRESSION;
  const title = `(j) compression memory: server RSS per connection, ${fmt(conns)} connections with context takeover, ${messages} JSON-like texts of 1,200 B each`;
  const lines = [
    `### ${title}`,
    "",
    chartImage("j-active", `${title}, active`),
    "",
    chartImage("j-swept", `${title}, after the idle release`),
    "",
    "| server | setting (window bits / memLevel) | RSS per connection, active (KiB) | after the idle release (KiB) | wire bytes per echo, server to client | vs 15/8 of the same server (same run) | wire bytes per message, client to server |",
    "|---|---|---:|---:|---:|---:|---:|",
  ];
  for (const server of COMPRESSION_SERVERS) {
    for (const setting of COMPRESSION_SETTINGS) {
      const name = `${server} ${setting}`;
      const active = results["j-active"]?.[name];
      if (!active) continue;
      const wire = results["j-wire"]?.[name] ?? [];
      const vs = setting === "15/8" ? "1.000" : fmt(ratio("j-wire", name, `${server} 15/8`), 3);
      lines.push(
        `| ${server} | ${setting} | ${fmt(median(active) / 1024, 1)} | ${fmt(median(results["j-swept"]?.[name] ?? []) / 1024, 1)} | ${
          fmt(median(wire), 1)
        } | ${vs} | ${fmt(median(results["j-wire-up"]?.[name] ?? []), 1)} |`,
      );
    }
  }
  lines.push("");
  return lines;
}

interface ClientSpec {
  name: string;
  runtime: "node" | "deno" | "bun";
  kind: "streamsock" | "ws" | "native" | "raw";
  cmd: string[];
}
const cli = join(root, "bench", "clients", "client.ts");
const CLIENTS: ClientSpec[] = (["node", "deno", "bun"] as const).flatMap((runtime) =>
  (["streamsock", "ws", "native", "raw"] as const).map((kind) => ({
    name: `${runtime} ${kind === "native" ? "native WebSocket" : kind === "raw" ? "raw TCP ceiling" : kind}`,
    runtime,
    kind,
    cmd: runtime === "node"
      ? [NODE, ...(kind === "native" ? ["--experimental-websocket"] : []), "--import", "tsx", cli, kind]
      : runtime === "deno"
      ? [DENO, "run", "-A", cli, kind]
      : [BUN, cli, kind],
  }))
);

/**
 * Scenario (e): each client against Bun's native server; in bulk, the raw TCP
 * ceiling of each runtime against Bun's raw TCP echo (same bytes, no WebSocket).
 */
async function measureClients(round: number, progress: Progress): Promise<void> {
  const server = await start(ALL_SERVERS.find((s) => s.name === "bun native")!.cmd, SERVER_CORE);
  let raw: Running | undefined;
  try {
    raw = await start(ALL_SERVERS.find((s) => s.name === "bun raw TCP ceiling")!.cmd, SERVER_CORE);
    const order = rotate(CLIENTS, round);
    for (const mode of ["small", "bulk"]) {
      for (const c of order) {
        if (c.kind === "raw" && mode !== "bulk") continue;
        progress.detail(`${c.name} (${mode})`);
        const port = c.kind === "raw" ? raw.port : server.port;
        try {
          const r = await runJson([...c.cmd, mode, String(port), "1", String(SECONDS)], LOAD_CORE, SECONDS * 1000 + 30_000);
          record(results, `e-${mode}`, c.name, mode === "bulk" ? r.bytesPerSecond / 1e6 : r.rate);
        } catch (err) {
          warn(`${c.name} (${mode}): ${(err as Error).message}`);
          record(results, `e-${mode}`, c.name, NaN);
        }
      }
    }
  } finally {
    await raw?.stop();
    await server.stop();
  }
}

// Scenarios (g) and (h): one publisher, FANOUT.subscribers subscribers, 32 B
// binary messages, at most FANOUT.window messages ahead of the subscribers.
const FANOUT = { subscribers: 1000, window: 64 };
const fan = (file: string) => join(root, "bench", "fanout", file);
const FANOUT_SERVERS: { name: string; cmd: string[] }[] = [
  { name: "node streamsock server.publish", cmd: [NODE, "--import", "tsx", fan("streamsock_fanout.ts")] },
  { name: "node ws broadcast loop", cmd: [NODE, fan("ws_fanout.mjs")] },
  { name: "deno streamsock server.publish", cmd: [DENO, "run", "-A", fan("streamsock_fanout.ts")] },
  { name: "bun streamsock server.publish", cmd: [BUN, fan("streamsock_fanout.ts")] },
  { name: "bun native server.publish", cmd: [BUN, fan("bun_native_fanout.ts")] },
];
const fanoutClient = (pubPort: number, subPort: number) => [
  NODE,
  fan("client.mjs"),
  String(pubPort),
  String(subPort),
  String(FANOUT.subscribers),
  String(SECONDS),
  String(FANOUT.window),
];

/** Scenario (g): delivered messages per second of one process fanning out. */
async function measureFanout(spec: { name: string; cmd: string[] }): Promise<void> {
  const server = await start(spec.cmd, SERVER_CORE);
  try {
    const r = await runJson(fanoutClient(server.port, server.port), LOAD_CORE, SECONDS * 1000 + 60_000);
    record(results, "g", spec.name, r.rate);
    record(results, "g-p50", spec.name, r.p50 / 1000);
    record(results, "g-p99", spec.name, r.p99 / 1000);
  } catch (err) {
    warn(`${spec.name} (fan-out): ${(err as Error).message}`);
    record(results, "g", spec.name, NaN);
  } finally {
    await server.stop();
  }
}

/**
 * Scenario (h): the publisher on one streamsock process, the subscribers on
 * another, joined by the Redis backplane and a redis-server of our own.
 */
async function measureRedisFanout(
  runtime: "node" | "deno" | "bun",
  redisUrl: string,
  key = "h",
  durable = false,
): Promise<void> {
  const cmd = runtime === "node"
    ? [NODE, "--import", "tsx", fan("streamsock_fanout.ts")]
    : runtime === "deno"
    ? [DENO, "run", "-A", fan("streamsock_fanout.ts")]
    : [BUN, fan("streamsock_fanout.ts")];
  const name = key === "h" ? `${runtime} streamsock + RedisBackplane` : `${runtime} ${durable ? "durable" : "plain"} topic`;
  const env = { BENCH_REDIS: redisUrl, BENCH_DURABLE: durable ? "1" : "0" };
  const servers: Running[] = [];
  try {
    // Both servers share the server core; redis-server is not pinned.
    servers.push(await start(cmd, SERVER_CORE, env));
    servers.push(await start(cmd, SERVER_CORE, env));
    const r = await runJson(fanoutClient(servers[0].port, servers[1].port), LOAD_CORE, SECONDS * 1000 + 60_000);
    record(results, key, name, r.rate);
    record(results, `${key}-p50`, name, r.p50 / 1000);
    record(results, `${key}-p99`, name, r.p99 / 1000);
  } catch (err) {
    warn(`${name}: ${(err as Error).message}`);
    record(results, key, name, NaN);
  } finally {
    for (const server of servers) await server.stop();
  }
}

/**
 * Scenario (i), resume: seconds until 1,000 resuming subscribers of a server
 * on `runtime` have what was published while it was down (bench/durable_resume.ts).
 */
async function measureResume(runtime: "node" | "deno" | "bun", redisUrl: string): Promise<void> {
  const name = `${runtime} serve --broadcast --redis`;
  try {
    const r = await runJson(
      [NODE, "--import", "tsx", join(root, "bench", "durable_resume.ts"), runtime, redisUrl, String(DURABLE.subscribers), String(DURABLE.missed)],
      LOAD_CORE,
      300_000,
    );
    record(results, "i-resume", name, r.seconds);
  } catch (err) {
    warn(`${name} (resume): ${(err as Error).message}`);
    record(results, "i-resume", name, NaN);
  }
}

const DURABLE = { subscribers: 1000, missed: 100 };

/** Scenario (i)'s tables: durable against plain through Redis, and the resume time. */
// Scenario (k): what a server's counters (stats) and its diagnostics
// channels cost on the 32-byte echo. A wire-level run cannot resolve a few
// percent on a shared machine, so bench/telemetry_cost.ts drives one server
// connection over an in-memory transport in one process per runtime, its
// variants interleaved, and counts messages per CPU second against the tree
// before issue 28 (`before`): counters alone, counters with the channels
// checked but unsubscribed (what `serve` pays), and a no-op subscriber.
const TELEMETRY_VARIANTS = ["counters", "telemetry", "subscribed"] as const;

/** One round of scenario (k) on `runtime`: two processes (unsubscribed, subscribed), ratios to `before`. */
function measureTelemetry(runtime: "node" | "deno" | "bun"): Promise<void> {
  const script = join(root, "bench", "telemetry_cost.ts");
  const cmd = runtime === "node"
    ? [NODE, "--import", "tsx", script]
    : runtime === "deno"
    ? [DENO, "run", "-A", script]
    : [BUN, script];
  for (const subscribed of [false, true]) {
    const args = [...cmd, "--runtime", runtime, "--rounds", "3", ...(subscribed ? ["--subscribed"] : [])];
    const result = spawnSync("taskset", ["-c", SERVER_CORE, ...args], { cwd: root, encoding: "utf8", maxBuffer: 1 << 24 });
    if (result.status !== 0) throw new Error(`(k) ${runtime}: ${result.stderr}`);
    const measured: Record<string, number[]> = JSON.parse(result.stdout.trim().split("\n").pop()!);
    for (const type of ["binary", "text"]) {
      const before = median(measured[`${type} before`]);
      for (const variant of subscribed ? ["subscribed"] : ["counters", "telemetry"]) {
        record(results, "k", `${runtime} ${variant} ${type}`, median(measured[`${type} ${variant}`]) / before);
      }
    }
  }
  return Promise.resolve();
}

/** Scenario (k)'s table: each variant's messages per CPU second over `before`'s, median of the rounds. */
function telemetryTable(): string[] {
  const k = results["k"];
  if (!k) return [];
  const label = {
    counters: "counters alone",
    telemetry: "counters + unsubscribed channels (what `serve` pays)",
    subscribed: "a no-op subscriber on the message channels",
  };
  const lines = [
    "### (k) what stats and the diagnostics channels cost on the 32-byte echo (messages per CPU second over the tree before them)",
    "",
    "One server connection over an in-memory transport echoes 32-byte messages, 32 in flight (bench/telemetry_cost.ts),",
    "each variant interleaved with the connection as it was before issue 28 in the same process; the ratio is the",
    "median over the rounds of each round's median. Target: the cost of what `serve` pays under 3% (ratio >= 0.97).",
    "",
    "| variant | node binary / text | deno binary / text | bun binary / text |",
    "|---|---:|---:|---:|",
  ];
  for (const variant of TELEMETRY_VARIANTS) {
    const cells = (["node", "deno", "bun"] as const).map((runtime) =>
      ["binary", "text"].map((type) => fmt(median(k[`${runtime} ${variant} ${type}`] ?? []), 3)).join(" / ")
    );
    lines.push(`| ${label[variant]} | ${cells.join(" | ")} |`);
  }
  lines.push("");
  return lines;
}

function durableTables(): string[] {
  const lines: string[] = [];
  if (results["i"]) {
    lines.push(
      `### (i) durable topics: fan-out through Redis, publisher on one process, ${fmt(FANOUT.subscribers)} subscribers on the other (delivered msgs/s)`,
      "",
      "The same load as (h), with the topic plain (Redis pub/sub) and durable (Redis Streams: one Lua script per",
      "message, delivered from the log's notification), interleaved in each round. Latency is publish to receive",
      "at one subscriber, with 64 messages in flight.",
      "",
      "| runtime | plain msgs/s median | durable msgs/s median | durable / plain (same run) | plain p50 / p99 ms | durable p50 / p99 ms |",
      "|---|---:|---:|---:|---:|---:|",
    );
    for (const runtime of ["node", "deno", "bun"]) {
      const plain = `${runtime} plain topic`;
      const durable = `${runtime} durable topic`;
      if (!results.i[plain] || !results.i[durable]) continue;
      lines.push(
        `| ${runtime} | ${fmt(median(results.i[plain]))} | ${fmt(median(results.i[durable]))} | ${fmt(ratio("i", durable, plain), 2)} | ${
          fmt(median(results["i-p50"]?.[plain] ?? []), 1)
        } / ${fmt(median(results["i-p99"]?.[plain] ?? []), 1)} | ${fmt(median(results["i-p50"]?.[durable] ?? []), 1)} / ${
          fmt(median(results["i-p99"]?.[durable] ?? []), 1)
        } |`,
      );
    }
    lines.push("");
  }
  if (results["i-resume"]) {
    lines.push(
      `### (i) resume: ${fmt(DURABLE.subscribers)} subscribers catch up on ${DURABLE.missed} messages after their server was SIGKILLed and restarted`,
      "",
      "Seconds from the restarted server's \"listening\" line until every subscriber has every message it missed;",
      "the clients (`reconnecting(url, { resume: true })`, Node, one process) retry with `initialDelay` 50 ms and",
      "`maxDelay` 500 ms, full jitter, so part of it is their backoff.",
      "",
      "| server | seconds median | spread |",
      "|---|---:|---:|",
    );
    for (const [name, xs] of Object.entries(results["i-resume"])) lines.push(`| ${name} | ${fmt(median(xs), 2)} | ±${fmt(spread(xs) / 2)}% |`);
    lines.push("");
  }
  return lines;
}

function fanoutTables(): string[] {
  const lines: string[] = [];
  const { subscribers, window } = FANOUT;
  const row = (key: string, name: string, ref: string | null) => {
    const xs = results[key][name];
    if (!xs) return;
    const vs = ref === null ? "" : ` ${name === ref ? "1.00" : fmt(ratio(key, name, ref), 2)} |`;
    lines.push(
      `| ${name} | ${fmt(median(xs))} | ±${fmt(spread(xs) / 2)}% | ${fmt(median(results[`${key}-p50`]?.[name] ?? []), 1)} | ${
        fmt(median(results[`${key}-p99`]?.[name] ?? []), 1)
      } |${vs}`,
    );
  };
  if (results["g"]) {
    const title = `(g) fan-out: 1 publisher, ${fmt(subscribers)} subscribers, 32 B binary, ${window} messages in flight (delivered msgs/s)`;
    lines.push(
      `### ${title}`,
      "",
      chartImage("g", title),
      "",
      "| server | delivered msgs/s median | spread | p50 ms | p99 ms | vs node ws broadcast loop (same run) | vs bun native (same run) |",
      "|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const spec of FANOUT_SERVERS) {
      if (!results.g[spec.name]) continue;
      const before = lines.length;
      row("g", spec.name, "node ws broadcast loop");
      lines[before] += ` ${spec.name === "bun native server.publish" ? "1.00" : fmt(ratio("g", spec.name, "bun native server.publish"), 2)} |`;
    }
    lines.push("");
  }
  if (results["h"]) {
    const title = `(h) fan-out across two processes through Redis: publisher on one, ${
      fmt(subscribers)
    } subscribers on the other (delivered msgs/s)`;
    lines.push(
      `### ${title}`,
      "",
      chartImage("h", title),
      "",
      "| server | delivered msgs/s median | spread | p50 publish-to-receive ms | p99 ms |",
      "|---|---:|---:|---:|---:|",
    );
    for (const name of Object.keys(results.h)) row("h", name, null);
    lines.push("");
  }
  return lines;
}

function rotate<T>(list: T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

// ------------------------------------------------------------------ report

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Spread: (max - min) / median, in percent. */
function spread(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x));
  return ((Math.max(...s) - Math.min(...s)) / median(s)) * 100;
}

/** The median over rounds of value / reference in the same round. */
function ratio(scenario: string, server: string, reference: string): number {
  const a = results[scenario]?.[server];
  const b = results[scenario]?.[reference];
  if (!a || !b) return NaN;
  return median(a.map((x, i) => x / b[i]));
}

function fmt(x: number, digits = 0): string {
  if (Number.isNaN(x)) return "–";
  return x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

const SCENARIOS: { key: string; title: string; unit: string; digits: number; lowerIsBetter?: boolean }[] = [
  { key: "a-binary", title: "(a) 50 conns x 32 in flight, 32 B binary", unit: "msgs/s", digits: 0 },
  { key: "a-text", title: "(a) 50 conns x 32 in flight, 32 B text", unit: "msgs/s", digits: 0 },
  { key: "b-p50", title: "(b) ping-pong p50", unit: "µs", digits: 1, lowerIsBetter: true },
  { key: "b-p99", title: "(b) ping-pong p99", unit: "µs", digits: 1, lowerIsBetter: true },
  { key: "c", title: "(c) 16 MiB echo", unit: "MB/s", digits: 0 },
  { key: "d", title: "(d) RSS per idle connection (5,000)", unit: "bytes", digits: 0, lowerIsBetter: true },
  { key: "d-open", title: "(d) time to open the 5,000 connections, one after another", unit: "ms", digits: 0, lowerIsBetter: true },
];

/** The reference a server is compared with: ws (fastest variant) on Node, the native server elsewhere. */
function referenceFor(spec: ServerSpec, scenario: string): string {
  if (spec.runtime === "node") {
    const lower = SCENARIOS.find((s) => s.key === scenario)?.lowerIsBetter;
    const a = median(results[scenario]?.["node ws"] ?? []);
    const b = median(results[scenario]?.["node ws+bufferutil"] ?? []);
    return (lower ? a <= b : a >= b) || Number.isNaN(b) ? "node ws" : "node ws+bufferutil";
  }
  return `${spec.runtime} native`;
}

/** The raw TCP ceiling row of a runtime in a scenario, when the run measured it. */
function ceilingFor(scenario: string, runtime: string): string | undefined {
  const name = `${runtime} raw TCP ceiling`;
  return results[scenario]?.[name] ? name : undefined;
}

/** The chart of a scenario, shown above its table (written by writeCharts()). */
const chartImage = (key: string, title: string) => `![${title}](charts/${key}.svg)`;

function table(): string {
  const lines: string[] = [];
  for (const sc of SCENARIOS) {
    if (!results[sc.key]) continue;
    const ceilings = ALL_SERVERS.some((s) => s.kind === "raw" && results[sc.key][s.name]);
    const faults = extra[`${sc.key}-faults`];
    lines.push(`### ${sc.title} (${sc.unit}${sc.lowerIsBetter ? ", lower is better" : ""})`, "");
    lines.push(chartImage(sc.key, sc.title), "");
    if (faults) {
      lines.push(
        "Page faults: the server's minor faults during the run (`/proc/PID/stat`) per message echoed, the pages it touched fresh; `node --import tsx bench/first_touch.ts` prints what a fresh 16 MiB costs on the machine.",
        "",
      );
    }
    lines.push(
      `| server | median | spread | vs ws plain (same run) | vs best ws / native (same run) |${
        ceilings ? " vs raw TCP ceiling on its runtime (same run) |" : ""
      }${faults ? " page faults per message (median) |" : ""}`,
      `|---|---:|---:|---:|---:|${ceilings ? "---:|" : ""}${faults ? "---:|" : ""}`,
    );
    for (const spec of ALL_SERVERS) {
      const xs = results[sc.key][spec.name];
      if (!xs) continue;
      const ref = referenceFor(spec, sc.key);
      const vsWs = ratio(sc.key, spec.name, "node ws");
      const vsRef = spec.name === ref ? "1.00" : `${fmt(ratio(sc.key, spec.name, ref), 2)} (${ref})`;
      const ceiling = ceilingFor(sc.key, spec.runtime);
      const vsCeiling = !ceilings ? "" : ` ${ceiling === undefined ? "–" : fmt(ratio(sc.key, spec.name, ceiling), 2)} |`;
      const faultCell = !faults ? "" : ` ${faults[spec.name] ? fmt(median(faults[spec.name]), 0) : "–"} |`;
      lines.push(`| ${spec.name} | ${fmt(median(xs), sc.digits)} | ±${fmt(spread(xs) / 2, 0)}% | ${fmt(vsWs, 2)} | ${vsRef} |${vsCeiling}${faultCell}`);
    }
    lines.push("");
  }
  for (const mode of ["small", "bulk"]) {
    const key = `e-${mode}`;
    const data = results[key];
    if (!data) continue;
    const title = `(e) clients against Bun's native server, ${
      mode === "small" ? "1 conn x 32 in flight, 32 B binary (msgs/s)" : "16 MiB echo (MB/s)"
    }`;
    const ceilings = CLIENTS.some((c) => c.kind === "raw" && data[c.name]);
    lines.push(`### ${title}`, "", chartImage(key, title), "");
    if (ceilings) {
      lines.push(
        "The raw TCP ceiling rows are a raw TCP client of the same bytes (no WebSocket) on each runtime against Bun's raw TCP echo (`bench/servers/raw_tcp_echo.ts` on `Bun.listen`).",
        "",
      );
    }
    lines.push(
      `| client | median | spread | vs fastest native client on its runtime (same run) |${
        ceilings ? " vs raw TCP ceiling on its runtime (same run) |" : ""
      }`,
      `|---|---:|---:|---:|${ceilings ? "---:|" : ""}`,
    );
    for (const c of CLIENTS) {
      const xs = data[c.name];
      if (!xs) continue;
      const best = fastestNativeClient(key, c.runtime);
      const ceiling = ceilingFor(key, c.runtime);
      const vsCeiling = !ceilings ? "" : ` ${ceiling === undefined ? "–" : fmt(ratio(key, c.name, ceiling), 2)} |`;
      lines.push(`| ${c.name} | ${fmt(median(xs), 0)} | ±${fmt(spread(xs) / 2, 0)}% | ${fmt(ratio(key, c.name, best), 2)} |${vsCeiling}`);
    }
    lines.push("");
  }
  if (results["f"]) lines.push(...deflateTable());
  lines.push(...fanoutTables());
  lines.push(...durableTables());
  lines.push(...telemetryTable());
  if (results["j-active"]) lines.push(...compressionTable());
  return lines.join("\n");
}

/** The native client of `runtime` with the highest median in `key` (the reference of (e)). */
function fastestNativeClient(key: string, runtime: string): string {
  const data = results[key] ?? {};
  const natives = CLIENTS.filter((o) => o.runtime === runtime && o.kind === "native").map((o) => o.name);
  return natives.sort((x, y) => median(data[y] ?? []) - median(data[x] ?? []))[0];
}

/** Scenario (f)'s table: msgs/s, the payload's MB/s, bytes on the wire, ratios to ws with perMessageDeflate. */
function deflateTable(): string[] {
  const { conns, window, size } = DEFLATE;
  const title = `(f) permessage-deflate, ${conns} conns x ${window} in flight, ${fmt(size)} B JSON-like text, compressed both ways (msgs/s)`;
  const lines = [
    `### ${title}`,
    "",
    chartImage("f", title),
    "",
    "| server | msgs/s median | spread | MB/s (uncompressed payload) | bytes on the wire per echo | vs ws plain + deflate (same run) | vs best ws / native (same run) |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const spec of ALL_SERVERS) {
    if (spec.kind === "raw") continue;
    if (spec.noDeflate) {
      lines.push(`| ${spec.name} | ${spec.noDeflate} | | | | | |`);
      continue;
    }
    const xs = results.f[spec.name];
    if (!xs) continue;
    const ref = deflateReference(spec);
    const vsRef = spec.name === ref ? "1.00" : `${fmt(ratio("f", spec.name, ref), 2)} (${ref})`;
    const wire = median(extra["f-reply-bytes"]?.[spec.name] ?? []);
    lines.push(
      `| ${spec.name} | ${fmt(median(xs))} | ±${fmt(spread(xs) / 2)}% | ${
        fmt(median(results["f-mbps"]?.[spec.name] ?? []), 1)
      } | ${fmt(wire)} | ${fmt(ratio("f", spec.name, "node ws"), 2)} | ${vsRef} |`,
    );
  }
  lines.push("");
  return lines;
}

/** (f)'s reference: Bun's native server on Bun, the faster ws (with the same deflate settings) elsewhere. */
function deflateReference(spec: ServerSpec): string {
  if (spec.runtime === "bun") return "bun native";
  const f = results.f ?? {};
  return median(f["node ws"] ?? []) >= median(f["node ws+bufferutil"] ?? []) || !f["node ws+bufferutil"] ? "node ws" : "node ws+bufferutil";
}

function machine(): string {
  const version = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: "utf8" }).split("\n")[0].trim();
    } catch {
      return "unknown";
    }
  };
  const load = loadavg();
  return [
    `- CPU: ${cpus().length} x ${cpuModel()}; ${Math.round(totalmem() / 2 ** 30)} GiB; Linux ${release()}`,
    `- Node ${process.version}, ${version(DENO, ["--version"])}, Bun ${version(BUN, ["--version"])}, ws ${
      JSON.parse(readFileSync(join(root, "node_modules/ws/package.json"), "utf8")).version
    }, bufferutil ${JSON.parse(readFileSync(join(root, "node_modules/bufferutil/package.json"), "utf8")).version}`,
    `- Server pinned to core ${SERVER_CORE}, load generator / client to core ${LOAD_CORE} (taskset); 127.0.0.1`,
    `- ${ROUNDS} interleaved rounds, ${SECONDS} s measured per run after a 1 s warm-up (ping-pong: 0.5 s + ${Math.min(SECONDS, 2)} s)`,
    `- Load average when the run started: ${load.map((x) => x.toFixed(2)).join(", ")}`,
    ...(load[0] > cpus().length
      ? [
        `- **Loaded machine:** the 1-minute load average (${load[0].toFixed(1)}) was above the ${cpus().length} cores: other work shared them, so read the ratios (taken within each round), not the absolute figures`,
      ]
      : []),
  ].join("\n");
}

/** The CPU's model name from /proc/cpuinfo (what the kernel reports), else from os.cpus(). */
function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) return m[1].trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? "unknown";
}

// ------------------------------------------------------------------- charts

/** The scenarios that get a chart: key, title, unit, digits, lower is better. */
function chartScenarios(): { key: string; title: string; unit: string; digits: number; lowerIsBetter?: boolean }[] {
  const { subscribers, window } = FANOUT;
  const { conns, window: inFlight, size } = DEFLATE;
  return [
    ...SCENARIOS,
    { key: "e-small", title: "(e) clients against Bun's native server, 1 conn x 32 in flight, 32 B binary", unit: "msgs/s", digits: 0 },
    { key: "e-bulk", title: "(e) clients against Bun's native server, 16 MiB echo", unit: "MB/s", digits: 0 },
    {
      key: "f",
      title: `(f) permessage-deflate, ${conns} conns x ${inFlight} in flight, ${fmt(size)} B JSON-like text`,
      unit: "msgs/s",
      digits: 0,
    },
    { key: "g", title: `(g) fan-out: 1 publisher, ${fmt(subscribers)} subscribers, 32 B, ${window} in flight`, unit: "delivered msgs/s", digits: 0 },
    { key: "h", title: `(h) fan-out through Redis, ${fmt(subscribers)} subscribers on a second process`, unit: "delivered msgs/s", digits: 0 },
    {
      key: "j-active",
      title: `(j) server RSS per compressing connection, ${fmt(COMPRESSION.conns)} active, by window bits / memLevel`,
      unit: "bytes",
      digits: 0,
      lowerIsBetter: true,
    },
    {
      key: "j-swept",
      title: `(j) server RSS per compressing connection after the idle release, by window bits / memLevel`,
      unit: "bytes",
      digits: 0,
      lowerIsBetter: true,
    },
  ];
}

/** A bar's note: its ratio to `ref` in the same rounds, or "reference". */
function ratioNote(key: string, name: string, ref: string | undefined): string | undefined {
  if (ref === undefined) return undefined;
  if (name === ref) return "reference";
  const r = ratio(key, name, ref);
  return Number.isNaN(r) ? undefined : `${fmt(r, 2)}x ${ref}`;
}

/** The bars of one scenario, in the tables' order, with their kind and ratio notes. */
function chartBars(key: string): Bar[] {
  const data = results[key];
  const bars: Bar[] = [];
  let runtime = "";
  const push = (name: string, rt: string, kind: BarKind, note: string | undefined) => {
    if (!data[name]) return;
    bars.push({ label: name, value: median(data[name]), kind, note, groupStart: rt !== runtime });
    runtime = rt;
  };
  const withCeiling = (note: string | undefined, name: string, rt: string) => {
    const ceiling = ceilingFor(key, rt);
    if (ceiling === undefined || ceiling === name) return note;
    const r = ratio(key, name, ceiling);
    return Number.isNaN(r) ? note : `${note ?? ""}${note ? " · " : ""}${fmt(r, 2)}x ceiling`;
  };
  if (key.startsWith("e-")) {
    for (const c of CLIENTS) {
      const ref = fastestNativeClient(key, c.runtime);
      const kind: BarKind = c.kind === "raw" ? "ceiling" : c.kind === "streamsock" ? "streamsock" : c.name === ref ? "reference" : "other";
      push(c.name, c.runtime, kind, c.kind === "raw" ? "raw TCP, no WebSocket" : withCeiling(ratioNote(key, c.name, ref), c.name, c.runtime));
    }
  } else if (key === "g") {
    for (const spec of FANOUT_SERVERS) {
      const rt = spec.name.split(" ")[0];
      const ref = rt === "bun" ? "bun native server.publish" : "node ws broadcast loop";
      const kind: BarKind = spec.name.includes("streamsock") ? "streamsock" : spec.name === ref ? "reference" : "other";
      push(spec.name, rt, kind, ratioNote(key, spec.name, ref));
    }
  } else if (key === "h") {
    for (const name of Object.keys(data)) push(name, name.split(" ")[0], "streamsock", undefined);
  } else if (key.startsWith("j-")) {
    // Grouped by server; each setting's bar against ws at the same setting.
    for (const server of COMPRESSION_SERVERS) {
      for (const setting of COMPRESSION_SETTINGS) {
        const name = `${server} ${setting}`;
        const ref = `node ws ${setting}`;
        const kind: BarKind = server === "node ws" ? (setting === "15/8" ? "reference" : "other") : "streamsock";
        push(name, server, kind, name === ref ? undefined : ratioNote(key, name, ref));
      }
    }
  } else {
    for (const spec of ALL_SERVERS) {
      if (key === "f" && (spec.kind === "raw" || spec.noDeflate)) continue;
      const ref = key === "f" ? deflateReference(spec) : referenceFor(spec, key);
      const kind: BarKind = spec.kind === "raw"
        ? "ceiling"
        : spec.kind === "streamsock"
        ? "streamsock"
        : spec.name === ref
        ? "reference"
        : "other";
      const note = spec.kind === "raw" ? "raw TCP, no WebSocket" : withCeiling(ratioNote(key, spec.name, ref), spec.name, spec.runtime);
      push(spec.name, spec.runtime, kind, note);
    }
  }
  return bars;
}

/** Caption lines from a run's description (machine, versions, rounds, load, date). */
function chartCaption(description: string, key: string): string[] {
  const line = (prefix: string) =>
    description.split("\n").find((l) => l.startsWith(`- ${prefix}`))?.slice(2).replace(/\*\*/g, "") ?? "";
  const took = /\((\d{4}-\d\d-\d\dT\d\d:\d\d) UTC\)/.exec(description)?.[1]?.replace("T", " ");
  const ratioText = key === "h"
    ? "no ratio: no other implementation has a Redis backplane"
    : "ratios: median of per-round ratios against the reference run in the same round";
  return [
    line("CPU"),
    line("Node"),
    `${line("Load average when the run started")}${
      line("Load average when the run ended") ? `; ${line("Load average when the run ended").replace(/^Load average/, "load average")}` : ""
    }${took ? `; run finished ${took} UTC` : ""}`,
    `${/\d+ interleaved rounds, \d+ s measured per run/.exec(description)?.[0] ?? ""}; ${ratioText}. Generated by npm run bench.`,
  ].filter((l) => l.trim() !== "");
}

/** Writes docs/charts/<scenario>.svg for every scenario with results, from the medians and per-round ratios. */
function writeCharts(provenance: Record<string, string>): string[] {
  const dir = join(root, "docs", "charts");
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const sc of chartScenarios()) {
    if (!results[sc.key]) continue;
    const svg = barChart({
      title: sc.title,
      unit: sc.unit,
      lowerIsBetter: sc.lowerIsBetter,
      digits: sc.digits,
      bars: chartBars(sc.key),
      caption: chartCaption(provenance[sc.key] ?? "", sc.key),
    });
    writeFileSync(join(dir, `${sc.key}.svg`), svg);
    written.push(`docs/charts/${sc.key}.svg`);
  }
  return written;
}

// -------------------------------------------------------------------- main

/**
 * Keeps the results of the scenarios this run did not measure (`--only`) from
 * bench/results.json, so a partial run does not drop the other tables. A
 * scenario measured now replaces its earlier table whole: ratios are only
 * taken within one run. Returns the run description of every scenario key.
 */
function mergeEarlierResults(thisRun: string): Record<string, string> {
  const provenance: Record<string, string> = {};
  for (const key of Object.keys(results)) provenance[key] = thisRun;
  const path = join(root, "bench", "results.json");
  if (!existsSync(path)) return provenance;
  const old = JSON.parse(readFileSync(path, "utf8"));
  const oldRun = (key: string): string => old.provenance?.[key] ?? old.machine;
  for (const [key, byServer] of Object.entries(old.results ?? {}) as [string, Record<string, number[]>][]) {
    if (results[key] || ONLY.includes(key[0])) continue;
    results[key] = byServer;
    provenance[key] = oldRun(key);
    for (const [xkey, values] of Object.entries(old.generatorCpu ?? {}) as [string, Record<string, number[]>][]) {
      if (xkey.startsWith(`${key}-`) && !extra[xkey]) extra[xkey] = values;
    }
  }
  return provenance;
}

/** The run, as a list of steps in order, so that its progress and time left can be shown. */
function plan(progress: () => Progress): (Step & { run: () => Promise<void> })[] {
  const steps: (Step & { run: () => Promise<void> })[] = [];
  const add = (label: string, round: number, rounds: number, estimate: number, run: () => Promise<void>) =>
    steps.push({ label, round: round + 1, rounds, estimate, run });
  // Estimates in seconds: measured time plus about 2 s to start a server.
  const run = SECONDS + 1;
  const abc = ["a", "b", "c"].filter((l) => ONLY.includes(l));
  for (let round = 0; round < ROUNDS; round++) {
    if (abc.length > 0) {
      for (const spec of rotate(SERVERS, round)) {
        if (spec.kind === "raw" && !ONLY.includes("c")) continue;
        const estimate = 2 + (spec.kind === "raw"
          ? run
          : (ONLY.includes("a") ? 2 * run : 0) + (ONLY.includes("b") ? 0.5 + Math.min(SECONDS, 2) : 0) + (ONLY.includes("c") ? run : 0));
        add(`(${spec.kind === "raw" ? "c" : abc.join(", ")}) ${spec.name}`, round, ROUNDS, estimate, () => measureServer(spec));
      }
    }
    if (ONLY.includes("d") && round < 2) {
      for (const spec of rotate(SERVERS, round)) {
        if (spec.kind === "raw") continue;
        add(`(d) ${spec.name}, idle connections`, round, Math.min(ROUNDS, 2), 7, () => measureIdle(spec));
      }
    }
    if (ONLY.includes("e")) {
      const clients = CLIENTS.length * 2 - CLIENTS.filter((c) => c.kind === "raw").length;
      add("(e) clients", round, ROUNDS, 4 + clients * (run + 1), () => measureClients(round, progress()));
    }
    if (ONLY.includes("f")) {
      for (const spec of rotate(SERVERS, round)) {
        if (spec.noDeflate || spec.kind === "raw") continue;
        add(`(f) ${spec.name}, permessage-deflate`, round, ROUNDS, 2 + run, () => measureDeflate(spec));
      }
    }
  }
  if (ONLY.includes("j")) {
    for (let round = 0; round < ROUNDS; round++) {
      for (const server of rotate(COMPRESSION_SERVERS, round)) {
        const spec = ALL_SERVERS.find((s) => s.name === server);
        if (spec === undefined || !SERVERS.includes(spec)) continue;
        for (const setting of rotate(COMPRESSION_SETTINGS, round)) {
          add(`(j) ${server}, compression memory ${setting}`, round, ROUNDS, 14, () => measureCompressionMemory(spec, setting));
        }
      }
    }
  }
  if (ONLY.includes("g")) {
    for (let round = 0; round < ROUNDS; round++) {
      for (const spec of rotate(FANOUT_SERVERS, round)) {
        add(`(g) ${spec.name}, fan-out`, round, ROUNDS, 8 + SECONDS, () => measureFanout(spec));
      }
    }
  }
  if (ONLY.includes("h")) {
    const binary = redisServerBinary();
    if (binary === null) {
      console.error("!!! scenario (h) SKIPPED: redis-server is not installed (apt-get install redis-server)");
    } else {
      for (let round = 0; round < ROUNDS; round++) {
        for (const runtime of rotate(["node", "deno", "bun"] as const, round)) {
          add(`(h) ${runtime} through Redis`, round, ROUNDS, 12 + SECONDS, async () => {
            redis ??= await RedisServer.start(binary);
            await measureRedisFanout(runtime, redis.url);
          });
        }
      }
    }
  }
  if (ONLY.includes("i")) {
    const binary = redisServerBinary();
    if (binary === null) {
      console.error("!!! scenario (i) SKIPPED: redis-server is not installed (apt-get install redis-server)");
    } else {
      for (let round = 0; round < ROUNDS; round++) {
        for (const runtime of rotate(["node", "deno", "bun"] as const, round)) {
          for (const durable of round % 2 === 0 ? [false, true] : [true, false]) {
            add(`(i) ${runtime} ${durable ? "durable" : "plain"} topic through Redis`, round, ROUNDS, 12 + SECONDS, async () => {
              redis ??= await RedisServer.start(binary);
              await measureRedisFanout(runtime, redis.url, "i", durable);
            });
          }
          add(`(i) ${runtime} resume of ${DURABLE.subscribers} subscribers`, round, ROUNDS, 20, async () => {
            redis ??= await RedisServer.start(binary);
            await measureResume(runtime, redis.url);
          });
        }
      }
    }
  }
  if (ONLY.includes("k")) {
    for (let round = 0; round < ROUNDS; round++) {
      for (const runtime of rotate(["node", "deno", "bun"] as const, round)) {
        add(`(k) ${runtime} stats and channels' cost`, round, ROUNDS, 25, () => measureTelemetry(runtime));
      }
    }
  }
  return steps;
}

/** With --before: today's `serve` over REV's, the ratio of medians, per scenario and runtime. */
function beforeAfter(): string {
  const befores = ALL_SERVERS.filter((s) => s.name.includes(" @"));
  const lines = [`### Today's \`serve\` over ${befores[0].name.split(" @")[1]}'s (ratio of medians; for lower-is-better rows, below 1 is better)`, ""];
  lines.push("| scenario | node | deno | bun |", "|---|---:|---:|---:|");
  for (const [key, byServer] of Object.entries(results)) {
    const cells = (["node", "deno", "bun"] as const).map((rt) => {
      const before = befores.find((s) => s.runtime === rt);
      const now = byServer[`${rt} streamsock serve`];
      const then = before && byServer[before.name];
      if (!now || !then) return "";
      return `${(median(now) / median(then)).toFixed(2)}x (${fmt(median(now), 1)} / ${fmt(median(then), 1)})`;
    });
    if (cells.some((c) => c !== "")) lines.push(`| ${key} | ${cells.join(" | ")} |`);
  }
  lines.push("", "Every round, in the order run:", "");
  for (const [key, byServer] of Object.entries(results)) {
    if (!befores.some((b) => byServer[b.name])) continue;
    for (const s of ALL_SERVERS.filter((s) => s.kind === "streamsock" && s.name.includes("serve") && byServer[s.name])) {
      lines.push(`- ${key} ${s.name}: ${byServer[s.name].map((x) => fmt(x, 1)).join(", ")}`);
    }
  }
  return lines.join("\n") + "\n";
}

let progressBar: Progress | undefined;
/** Scenario (h)'s redis-server, started by its first step and stopped at the end of the run. */
let redis: RedisServer | undefined;

/** A failed measurement, printed above the progress line. */
function warn(message: string): void {
  if (progressBar) progressBar.warn(message);
  else console.error(message);
}

async function main(): Promise<void> {
  buildLoadgen();
  const startedLoad = machine();
  const t0 = Date.now();
  const steps = plan(() => progressBar!);
  const progress = progressBar = new Progress(steps);
  try {
    for (const [i, step] of steps.entries()) {
      progress.begin(i);
      await step.run();
    }
  } finally {
    progress.finish();
    progressBar = undefined;
    await redis?.kill("SIGTERM");
  }
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  const thisRun = `${startedLoad}\n- Load average when the run ended: ${loadavg().map((x) => x.toFixed(2)).join(", ")}\n- Took ${minutes} minutes (${
    new Date().toISOString().slice(0, 16)
  } UTC)`;
  const provenance = mergeEarlierResults(thisRun);
  const report = table();
  console.log(report);
  if (BEFORE !== "") console.log(beforeAfter());
  const json = { machine: startedLoad, rounds: ROUNDS, seconds: SECONDS, results, generatorCpu: extra, provenance };
  if (WRITE) {
    writeFileSync(join(root, "bench", "results.json"), JSON.stringify(json, null, 1) + "\n");
    const docPath = join(root, "docs", "performance.md");
    const doc = existsSync(docPath) ? readFileSync(docPath, "utf8") : "# Performance\n";
    const begin = "<!-- bench:begin -->";
    const end = "<!-- bench:end -->";
    // One machine description per run that produced some of the tables.
    const runs = new Map<string, string[]>();
    for (const [key, text] of Object.entries(provenance)) {
      const letter = key[0];
      const letters = runs.get(text) ?? [];
      if (!letters.includes(letter)) letters.push(letter);
      runs.set(text, letters);
    }
    const described = [...runs]
      .map(([text, letters]) => ({ text, letters: letters.sort() }))
      .sort((x, y) => x.letters[0].localeCompare(y.letters[0]))
      .map(({ text, letters }) => `Scenario${letters.length > 1 ? "s" : ""} ${letters.map((l) => `(${l})`).join(", ")}:\n\n${text}`);
    const body = `${begin}\n_Generated by \`npm run bench\`._\n\n${described.join("\n\n")}\n\n${report}\n${end}`;
    const at = doc.indexOf(begin);
    const stop = doc.indexOf(end);
    const next = at >= 0 && stop > at ? doc.slice(0, at) + body + doc.slice(stop + end.length) : `${doc}\n${body}\n`;
    writeFileSync(docPath, next);
    const charts = writeCharts(provenance);
    console.error(`wrote docs/performance.md, bench/results.json and ${charts.length} charts in docs/charts/`);
  }
}

await main();
