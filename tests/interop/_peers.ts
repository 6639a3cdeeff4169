// Test-only plumbing for the interop matrix: the programs nobody here wrote
// (found, or loudly reported missing), child processes that serve or run an
// exchange, and the checks both directions share.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Owner, withTimeout } from "../_test.ts";

export const MiB = 1024 * 1024;

/** A path inside the repository. */
export function repoPath(relative: string): string {
  return fileURLToPath(new URL(`../../${relative}`, import.meta.url));
}

export const fixture = (name: string): string => repoPath(`tests/interop/fixtures/${name}`);
export const DENO = repoPath("node_modules/.bin/deno");
export const BUN = repoPath("node_modules/.bin/bun");

function loudSkip(what: string, fix: string): string {
  const message = `SKIPPING tests that need ${what}: ${fix}`;
  console.warn(`\n${"!".repeat(78)}\n!!! ${message}\n${"!".repeat(78)}\n`);
  return message;
}

/** A Python 3 that can import `websockets` (Debian's python3-websockets), or a loud reason why not. */
export function findPython(): { python: string } | { skip: string } {
  for (const candidate of ["/usr/bin/python3", "python3"]) {
    try {
      execFileSync(candidate, ["-c", "import websockets"], { stdio: "ignore", timeout: 20_000 });
      return { python: candidate };
    } catch {
      // Not there, or without websockets: try the next.
    }
  }
  return { skip: loudSkip("Python websockets", "no python3 with `websockets`; run `apt-get install -y python3-websockets` (.ci/run does)") };
}

/** Debian's Chromium (which tests/fixtures/chromium.mjs launches), or a loud reason why not. */
export function findChromium(): { chromium: string } | { skip: string } {
  if (existsSync("/usr/bin/chromium")) return { chromium: "/usr/bin/chromium" };
  return { skip: loudSkip("headless Chromium", "/usr/bin/chromium is missing; run `apt-get install -y chromium` (.ci/run does)") };
}

export interface PeerServer {
  port: number;
  /** Ends the child process we started, by its PID. */
  stop(): void;
}

/**
 * Starts a server fixture that prints its port on its first line and exits
 * when its stdin closes; stopped when `t` ends.
 */
export async function startServer(t: Owner, command: string, args: string[]): Promise<PeerServer> {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += String(chunk)));
  const stop = () => {
    child.stdin!.destroy();
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid);
      } catch {
        // Already gone.
      }
    }
    child.stdout!.destroy();
    child.stderr!.destroy();
  };
  t.after(stop);
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (chunk) => {
        out += String(chunk);
        const line = out.split("\n")[0];
        if (out.includes("\n")) resolve(Number(line.trim()));
      });
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`${command} exited with ${code}: ${stderr}`)));
    }),
    30_000,
    `starting ${command} ${args.join(" ")}`,
  );
  assert.ok(port > 0, `a port from ${command}`);
  return { port, stop };
}

/** Runs a client fixture to its end and parses the JSON line it prints last. */
export function runClient(command: string, args: string[], ms = 90_000): Promise<ExchangeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk) => (stdout += String(chunk)));
    child.stderr!.on("data", (chunk) => (stderr += String(chunk)));
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid);
      reject(new Error(`${command} ${args.join(" ")} took over ${ms} ms\n${stdout}\n${stderr}`));
    }, ms);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`${command} exited with ${code} without a JSON result\n${stdout}\n${stderr}`));
      }
    });
  });
}

/**
 * A fresh Chromium profile directory, removed by the returned function. The
 * removal retries: Chromium's helper processes may still be writing into the
 * profile for a moment after the browser itself has exited.
 */
export function freshProfile(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "streamsock-chromium-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }) };
}

/** What a client fixture reports; see tests/interop/fixtures/exchange.mjs. */
export interface ExchangeResult {
  error?: string;
  protocol: string | null;
  messages: { type: string; length: number; gotType: string; intact: boolean }[];
  ping: string | null;
  ownPing?: string;
  clientClose: { code: number; reason: string; wasClean: boolean } | null;
  serverClose: { code: number; reason: string; wasClean: boolean } | null;
}

/** The UTF-8 lengths of the messages in exchange.mjs, in order. */
const EXPECTED_MESSAGES = [
  ["text", 19],
  ["binary", 256],
  ["text", 0],
  ["binary", 0],
  ["text", 125],
  ["binary", 126],
  ["text", 65535],
  ["binary", 65536],
  ["binary", MiB],
  ["text", MiB],
];

/** Checks a client's report of its exchange with our server. */
export function assertExchange(result: ExchangeResult): void {
  assert.equal(result.error, undefined, `the client failed: ${result.error}`);
  assert.equal(result.protocol, "interop.v1", "negotiated subprotocol");
  assert.deepEqual(result.messages.map((m) => [m.type, m.length]), EXPECTED_MESSAGES, "messages sent");
  for (const m of result.messages) {
    assert.equal(m.gotType, m.type, `the ${m.length}-byte ${m.type} message came back as ${m.gotType}`);
    assert.ok(m.intact, `the ${m.length}-byte ${m.type} message came back changed`);
  }
  assert.equal(result.ping, "pong:interop ✓", "our server's ping was answered with the same payload");
  assert.deepEqual(
    [result.clientClose?.code, result.clientClose?.wasClean],
    [4001, true],
    "the client's close (4001) was answered with 4001",
  );
  assert.deepEqual(
    [result.serverClose?.code, result.serverClose?.reason, result.serverClose?.wasClean],
    [4002, "server bye ✓", true],
    "our server's close reached the client with its code and reason",
  );
}
