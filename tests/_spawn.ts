// Runs TypeScript programs (the CLI, the examples, the demo) as child
// processes of the runtime running the tests: `deno run -A` under `deno test`,
// `bun` under `bun test`, `node --import tsx` under `node --test`. `npm test`
// runs every test file on all three, so each runtime is covered once.
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { currentRuntime } from "../src/transport/runtime.ts";
import { nodeBinary } from "./_node_versions.ts";
import type { Owner } from "./_test.ts";

export const root = fileURLToPath(new URL("../", import.meta.url));

/** The command and arguments that run `script` (relative to the repository root) on this runtime. */
export function runtimeCommand(script: string, args: string[] = []): [string, string[]] {
  switch (currentRuntime()) {
    case "deno":
      return [process.execPath, ["run", "-A", script, ...args]];
    case "bun":
      return [process.execPath, [script, ...args]];
    default:
      return [process.execPath, ["--import", "tsx", script, ...args]];
  }
}

export interface Finished {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to stdin, which is then closed. Without it stdin is closed at once. */
  input?: string | Uint8Array;
  env?: Record<string, string>;
  /** Killed (and the test failed by the caller) after this many ms. */
  timeout?: number;
}

/** Runs a program to completion, bounded by `timeout` (it is killed then), and collects its output. */
export function run(script: string, args: string[], options: RunOptions = {}): Promise<Finished> {
  const child = new Started(spawnChild(script, args, options.env ?? {}));
  child.process.stdin!.end(options.input ?? "");
  return child.finished(options.timeout ?? 30_000);
}

/** A program that runs while a test talks to it. */
export class Started {
  readonly process: ChildProcess;
  stdout = "";
  stderr = "";
  #exit: Promise<{ code: number | null; signal: string | null }>;
  #waiters: (() => void)[] = [];

  constructor(child: ChildProcess) {
    this.process = child;
    child.stdout!.setEncoding("utf8");
    child.stderr!.setEncoding("utf8");
    child.stdout!.on("data", (text: string) => {
      this.stdout += text;
      this.#wake();
    });
    child.stderr!.on("data", (text: string) => {
      this.stderr += text;
      this.#wake();
    });
    this.#exit = new Promise((resolve) => {
      child.once("close", (code, signal) => {
        resolve({ code, signal });
        this.#wake();
      });
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves with the first match of `pattern` in stdout (or stderr), waiting up to `timeout` ms for it. */
  async waitFor(pattern: RegExp, timeout = 20_000, stream: "stdout" | "stderr" = "stdout"): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeout;
    let exited = false;
    void this.#exit.then(() => (exited = true));
    for (;;) {
      const match = this[stream].match(pattern);
      if (match !== null) return match;
      if (exited) throw new Error(`exited before printing ${pattern}:\n${this.stdout}\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${pattern} within ${timeout} ms:\n${this.stdout}\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the program to exit on its own, killing it after `timeout` ms. */
  async finished(timeout: number): Promise<Finished> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.process.kill("SIGKILL");
        resolve();
      }, timeout);
    });
    const { code, signal } = await Promise.race([this.#exit, killed.then(() => this.#exit)]);
    clearTimeout(timer);
    if (signal === "SIGKILL") throw new Error(`still running after ${timeout} ms:\n${this.stdout}\n${this.stderr}`);
    return { code, signal, stdout: this.stdout, stderr: this.stderr };
  }

  /** Kills this process with SIGKILL (by its PID), as a crash would, and resolves once it is gone. */
  async kill(): Promise<{ code: number | null; signal: string | null }> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill("SIGKILL");
    return await this.#exit;
  }

  /** Sends `signal` to this process (by its PID) and waits for it to exit; SIGKILL after `timeout` ms. */
  stop(signal: "SIGTERM" | "SIGINT" | "SIGKILL" = "SIGTERM", timeout = 10_000): Promise<Finished> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
    return this.finished(timeout);
  }
}

/**
 * Starts a program (stdin, stdout and stderr piped) and returns it running;
 * stopped when the test ends (SIGTERM, then SIGKILL after 3 s: a test that
 * cares how it stops stops it itself).
 */
export function start(t: Owner, script: string, args: string[], env: Record<string, string> = {}): Started {
  return owned(t, spawnChild(script, args, env));
}

/** A start of the `streamsock` command with these arguments, owned by `t`. */
export type CommandStart = (t: Owner, args: string[]) => Started;

/**
 * How to start the `streamsock` command so that `--workers` can share a port
 * (SO_REUSEPORT, Linux): on this runtime, or, on a Node older than 22.12,
 * on the Node 24 of tests/node-versions. A string is why it cannot run here.
 */
export function workersCommand(): CommandStart | string {
  const cli = "src/cli/main.ts";
  if (process.platform !== "linux") return "SO_REUSEPORT workers are tested on Linux only";
  const onThisRuntime: CommandStart = (t, args) => start(t, cli, args);
  // Deno (with --unstable-net, which the CLI passes its workers) and Bun share a port.
  if (currentRuntime() !== "node") return onThisRuntime;
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12)) return onThisRuntime;
  const node = nodeBinary(24);
  if (node === null) {
    return `--workers needs Node >= 22.12 for SO_REUSEPORT; this is Node ${process.versions.node} and Node 24 is not installed`;
  }
  return (t, args) => owned(t, spawnCommand(node, ["--import", "tsx", cli, ...args], {}));
}

/** A child that `t` stops (SIGTERM, then SIGKILL) when it ends. */
function owned(t: Owner, child: ChildProcess): Started {
  const started = new Started(child);
  t.after(() => started.stop("SIGTERM", 3000).catch(() => {}));
  return started;
}

function spawnChild(script: string, args: string[], env: Record<string, string>): ChildProcess {
  return spawnCommand(...runtimeCommand(script, args), env);
}

function spawnCommand(command: string, argv: string[], env: Record<string, string>): ChildProcess {
  return spawn(command, argv, {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
}
