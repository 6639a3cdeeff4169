// A real redis-server for the backplane tests (Debian's `redis-server`
// package; .ci/run installs it): started on a free 127.0.0.1 port with
// persistence off (or, given a directory, with `appendonly yes` there), killed
// and restarted by PID, never a shared instance.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import process from "node:process";
import type { Owner } from "./_test.ts";

/** The redis-server binary, or null when it is not installed. */
export function redisServerBinary(): string | null {
  for (const candidate of ["redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server"]) {
    const probe = spawnSync(candidate, ["--version"], { encoding: "utf8" });
    if (probe.status === 0 && /Redis server/.test(probe.stdout)) return candidate;
  }
  return null;
}

/** A free TCP port on 127.0.0.1 (asked of the system, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** One redis-server process of ours. */
export class RedisServer {
  readonly binary: string;
  readonly port: number;
  /** With a directory: the append-only file lives there, and a restart loads it. */
  readonly appendOnlyDir: string | null;
  #child: ChildProcess | null = null;

  private constructor(binary: string, port: number, appendOnlyDir: string | null) {
    this.binary = binary;
    this.port = port;
    this.appendOnlyDir = appendOnlyDir;
  }

  /**
   * Starts a redis-server on a free port and waits until it accepts
   * connections; with `appendOnlyDir`, persistent (`appendonly yes`, fsync
   * every second: what an acknowledged write survives is a process crash).
   */
  static async start(binary: string, options: { appendOnlyDir?: string } = {}): Promise<RedisServer> {
    const server = new RedisServer(binary, await freePort(), options.appendOnlyDir ?? null);
    await server.restart();
    return server;
  }

  /**
   * `start`, with the kill registered on `owner` before the server starts, so
   * that a test failing at any point after this call leaves no redis-server
   * behind (one registered after `await start` misses a failure in between).
   */
  static async startFor(owner: Owner, binary: string, options: { appendOnlyDir?: string } = {}): Promise<RedisServer> {
    const server = new RedisServer(binary, await freePort(), options.appendOnlyDir ?? null);
    owner.after(() => server.kill("SIGTERM"));
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port. */
  async restart(): Promise<void> {
    if (this.#child !== null) throw new Error("redis-server is already running");
    const child = spawn(this.binary, [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      ...(this.appendOnlyDir === null
        ? ["--appendonly", "no"]
        : ["--appendonly", "yes", "--appendfsync", "everysec", "--dir", this.appendOnlyDir]),
      "--protected-mode",
      "no",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${output}`)), 10_000);
      const onData = (chunk: Uint8Array) => {
        output += new TextDecoder().decode(chunk);
        if (/Ready to accept connections/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${output}`));
      });
    });
    child.removeAllListeners("exit");
  }

  /** Kills it by PID (SIGKILL: as abrupt as a crash) and waits for the exit. */
  async kill(signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    this.#child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    process.kill(child.pid!, signal);
    await exited;
  }
}
