// `npm run bench:telemetry`: what a server's counters (stats) and its
// diagnostics channels cost on the 32-byte echo, in one process so that the
// variants share the CPU the same way, interleaved round by round. A server
// connection over an in-memory transport echoes 32-byte messages (`for
// await` + `await send`) fed as batches of 32 masked frames (32 in flight);
// only the server's side runs, which is where the counting is. Variants:
//
//   before      the connection as it was at REV (default e25f0c8, before
//               issue 28), extracted with git archive: no counters at all
//   counters    today's connection, not joined to a server: the counters alone
//   telemetry   today's, counted by a hub's telemetry as serve's connections
//               are: counters, and the channels checked but not subscribed
//   subscribed  the same with a no-op subscriber on the message channels
//
// Runs itself under node, deno and bun (`--runtime X` runs one) and prints
// each variant's median messages per CPU second (process.cpuUsage: a shared
// machine deschedules rounds unevenly, which wall time would count) and its
// ratio to `before`. Options:
// --rounds N (default 15), --messages N per round (default 320000), --before REV.
import { execFileSync, spawnSync } from "node:child_process";
import { subscribe } from "node:diagnostics_channel";
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { WebSocketConnection } from "../src/connection/connection.ts";
import { shellOf } from "../src/connection/connection.ts";
import { Hub, telemetryOf } from "../src/pubsub/hub.ts";
import type { Transport, TransportSink } from "../src/transport/types.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const ROUNDS = Number(arg("rounds", "15"));
const MESSAGES = Number(arg("messages", "320000"));
const BEFORE = arg("before", "e25f0c8");
const RUNTIME = arg("runtime", "");
const SUBSCRIBED = process.argv.includes("--subscribed");
const IN_FLIGHT = 32;

/** REV's tree, extracted once beside the one `npm run bench --before` uses. */
function beforeTree(rev: string): string {
  const sha = execFileSync("git", ["rev-parse", "--short", rev], { cwd: root, encoding: "utf8" }).trim();
  const dir = join(tmpdir(), `streamsock-bench-before-${sha}`);
  if (!existsSync(join(dir, "mod.ts"))) {
    mkdirSync(dir, { recursive: true });
    execFileSync("sh", ["-c", `git archive ${sha} | tar -x -C '${dir}'`], { cwd: root });
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  }
  return dir;
}

/** A transport in memory: the bench feeds the sink, and counts what the connection writes. */
class MemoryTransport implements Transport {
  readonly mutableChunks = true;
  readonly bufferedAmount = 0;
  sink: TransportSink | null = null;
  written = 0;
  #target = 0;
  #reached: (() => void) | null = null;

  start(sink: TransportSink): void {
    this.sink = sink;
  }
  write(chunk: Uint8Array): boolean {
    this.#add(chunk.length);
    return true;
  }
  writev(chunks: Uint8Array[]): boolean {
    for (const chunk of chunks) this.#add(chunk.length);
    return true;
  }
  #add(n: number): void {
    this.written += n;
    if (this.#reached !== null && this.written >= this.#target) {
      const reached = this.#reached;
      this.#reached = null;
      reached();
    }
  }
  /** Resolves once `bytes` in all were written. */
  until(bytes: number): Promise<void> {
    if (this.written >= bytes) return Promise.resolve();
    this.#target = bytes;
    return new Promise((resolve) => (this.#reached = resolve));
  }
  pause(): void {}
  resume(): void {}
  end(): void {}
  destroy(): void {}
}

/** 32 masked client frames of 32 bytes, binary or text. */
function batch(text: boolean): Uint8Array {
  const frame = new Uint8Array(2 + 4 + 32);
  frame[0] = text ? 0x81 : 0x82;
  frame[1] = 0x80 | 32;
  frame.set([1, 2, 3, 4], 2);
  for (let i = 0; i < 32; i++) frame[6 + i] = (0x61 + (i % 26)) ^ [1, 2, 3, 4][i & 3];
  const out = new Uint8Array(frame.length * IN_FLIGHT);
  for (let i = 0; i < IN_FLIGHT; i++) out.set(frame, i * frame.length);
  return out;
}

type Connection = { send(msg: unknown): Promise<void>; close(): Promise<unknown> } & AsyncIterable<unknown>;
type Make = (transport: MemoryTransport) => Connection;

/** Echoes MESSAGES messages through one connection; messages per CPU second. */
async function round(make: Make, text: boolean): Promise<number> {
  const transport = new MemoryTransport();
  const ws = make(transport);
  void (async () => {
    for await (const msg of ws) await ws.send(msg);
  })().catch(() => {});
  const bytes = batch(text);
  const echoed = (2 + 32) * IN_FLIGHT;
  const batches = MESSAGES / IN_FLIGHT;
  // CPU time, not wall time: on a shared machine the rounds are descheduled unevenly.
  const started = process.cpuUsage();
  for (let i = 1; i <= batches; i++) {
    transport.sink!.data(bytes.slice());
    await transport.until(echoed * i);
  }
  const used = process.cpuUsage(started);
  const seconds = (used.user + used.system) / 1e6;
  transport.sink!.end();
  return MESSAGES / seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function runHere(): Promise<void> {
  const before = await import(pathToFileURL(join(beforeTree(BEFORE), "src", "connection.ts")).href);
  const Before = before.WebSocketConnection as new (t: Transport, o: { role: "server" }) => Connection;
  const hub = new Hub();
  const telemetry = telemetryOf(hub);
  const request = { method: "GET", url: "/", headers: new Headers(), protocols: [] };
  const counted = (transport: MemoryTransport) => {
    const ws = new WebSocketConnection(transport, { role: "server" });
    telemetry.opened(shellOf(ws), request, false, undefined, Date.now());
    return ws as unknown as Connection;
  };
  const beforeVariant: [string, Make] = ["before", (t) => new Before(t, { role: "server" })];
  // A subscriber changes a channel object's shape for good: the subscribed
  // variant runs in a process of its own, subscribed from the start.
  const variants: [string, Make][] = SUBSCRIBED ? [beforeVariant, ["subscribed", counted]] : [
    beforeVariant,
    ["counters", (t) => new WebSocketConnection(t, { role: "server" }) as unknown as Connection],
    ["telemetry", counted],
  ];
  if (SUBSCRIBED) {
    for (const name of ["streamsock:message.received", "streamsock:message.sent"]) subscribe(name, () => {});
  }
  const results: Record<string, number[]> = {};
  for (const text of [false, true]) {
    for (const [name] of variants) results[`${text ? "text" : "binary"} ${name}`] = [];
    // A warm-up round of each, not counted.
    for (const [, make] of variants) await round(make, text);
    for (let r = 0; r < ROUNDS; r++) {
      // The order turns every round, so no variant always runs first.
      for (let v = 0; v < variants.length; v++) {
        const [name, make] = variants[(v + r) % variants.length];
        results[`${text ? "text" : "binary"} ${name}`].push(await round(make, text));
      }
    }
  }
  console.log(JSON.stringify(results));
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function drive(): void {
  const bin = (name: string) => join(root, "node_modules", ".bin", name);
  const self = fileURLToPath(import.meta.url);
  const extra = ["--rounds", String(ROUNDS), "--messages", String(MESSAGES), "--before", BEFORE];
  const commands: [string, string, string[]][] = [
    ["node", process.execPath, ["--import", "tsx", self, "--runtime", "node", ...extra]],
    ["deno", bin("deno"), ["run", "-A", self, "--runtime", "deno", ...extra]],
    ["bun", bin("bun"), [self, "--runtime", "bun", ...extra]],
  ];
  const table: Record<string, Record<string, number[]>> = {};
  for (const [runtime, command, args] of commands) {
    table[runtime] = {};
    for (const subscribed of [false, true]) {
      // Pinned to one core, like the servers of `npm run bench`.
      const result = spawnSync("taskset", ["-c", "0", command, ...args, ...(subscribed ? ["--subscribed"] : [])], {
        cwd: root,
        encoding: "utf8",
        maxBuffer: 1 << 24,
      });
      if (result.status !== 0) throw new Error(`${runtime} failed: ${result.stderr}`);
      const measured: Record<string, number[]> = JSON.parse(result.stdout.trim().split("\n").pop()!);
      for (const [key, values] of Object.entries(measured)) {
        table[runtime][subscribed && key.endsWith(" before") ? `${key} (subscribed run)` : key] = values;
      }
    }
  }
  const lines = [
    `32-byte echo through one server connection in memory, 32 in flight, ${fmt(MESSAGES)} messages a round, ` +
    `${ROUNDS} interleaved rounds; median messages per CPU second (user + system), and the ratio to \`before\` (${BEFORE}):`,
    "",
    "| variant | node | deno | bun |",
    "|---|---:|---:|---:|",
  ];
  for (const key of Object.keys(table.node).sort()) {
    const cells = ["node", "deno", "bun"].map((runtime) => {
      const now = median(table[runtime][key]);
      // Each variant against the `before` rounds of its own process.
      const own = key.endsWith("subscribed") || key.endsWith("(subscribed run)") ? " (subscribed run)" : "";
      const base = median(table[runtime][`${key.split(" ")[0]} before${own}`]);
      return `${fmt(now)} (${(now / base).toFixed(3)}x)`;
    });
    lines.push(`| ${key} | ${cells.join(" | ")} |`);
  }
  console.log(lines.join("\n"));
}

if (RUNTIME === "") drive();
else await runHere();
