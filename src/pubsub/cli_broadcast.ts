/**
 * What `streamsock serve --broadcast [--redis URL] [--workers N]` needs
 * beyond a plain server, kept out of src/cli.ts: the chat page served at
 * every path, and the worker processes that share one port.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { currentRuntime } from "../transport/mod.ts";

/**
 * A chat page in plain HTML and JavaScript, no build step: it connects to
 * the WebSocket at its own URL path (the topic), so two tabs on two server
 * processes that share a Redis backplane chat together.
 */
export const BROADCAST_PAGE = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>streamsock chat</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  #log { list-style: none; padding: 0; min-height: 12rem; border: 1px solid #ccc; border-radius: 4px; }
  #log li { padding: .2rem .5rem; } #log li.me { color: #555; } #log li.info { color: #888; font-style: italic; }
  form { display: flex; gap: .5rem; } #msg { flex: 1; }
</style>
<h1>streamsock chat <small id="room"></small></h1>
<p id="status">connecting...</p>
<ul id="log"></ul>
<form id="form"><input id="name" size="8" placeholder="name"><input id="msg" autocomplete="off" placeholder="message" autofocus><button>Send</button></form>
<script>
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const name = document.getElementById("name");
  const msg = document.getElementById("msg");
  name.value = "guest" + Math.floor(Math.random() * 1000);
  document.getElementById("room").textContent = location.pathname;
  const show = (text, kind) => {
    const li = document.createElement("li");
    li.textContent = text;
    if (kind) li.className = kind;
    log.append(li);
  };
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + location.pathname;
  const ws = new WebSocket(url);
  ws.onopen = () => { status.textContent = "connected to " + url; };
  ws.onclose = (event) => { status.textContent = "closed (" + event.code + ")"; };
  ws.onmessage = (event) => show(typeof event.data === "string" ? event.data : "[binary message]");
  document.getElementById("form").onsubmit = (event) => {
    event.preventDefault();
    if (msg.value === "" || ws.readyState !== WebSocket.OPEN) return;
    const line = name.value + ": " + msg.value;
    ws.send(line);
    show(line, "me");
    msg.value = "";
  };
</script>
</html>
`;

/** The command that runs this same CLI again on the current runtime. */
function selfCommand(args: string[]): [string, string[]] {
  const script = process.argv[1];
  switch (currentRuntime()) {
    case "deno":
      // SO_REUSEPORT is behind --unstable-net on Deno.
      return [process.execPath, ["run", "-A", "--unstable-net", script, ...args]];
    case "bun":
      return [process.execPath, [script, ...args]];
    default:
      return [process.execPath, [...process.execArgv, script, ...args]];
  }
}

/**
 * Starts `count` copies of this CLI (with `args`, which ask for `serve
 * --reuse-port`) sharing one port, their output passed through; SIGINT and
 * SIGTERM are forwarded to them, by PID. SIGHUP restarts them one by one:
 * each gets a replacement that listens on the shared port first, then
 * SIGTERM, on which it drains (upgrades answered 503 with Retry-After, 1001
 * to its connections) and exits, so the port is never without a listener
 * and clients that reconnect find one.
 *
 * @param count How many workers.
 * @param args The worker's arguments.
 * @returns Resolves with the highest exit code once every worker exited.
 */
export function runWorkers(count: number, args: string[]): Promise<number> {
  const [command, argv] = selfCommand(args);
  const live = new Set<ChildProcess>();
  let stopping = false;
  let worst = 0;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  const signal = (child: ChildProcess, name: "SIGINT" | "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, name);
  };
  const stop = (name: "SIGINT" | "SIGTERM") => {
    stopping = true;
    for (const child of live) signal(child, name);
  };
  /** Spawns a worker; resolves true once it listens, false if it exits first. */
  const launch = (): { child: ChildProcess; listening: Promise<boolean> } => {
    const child = spawn(command, argv, { stdio: ["ignore", "pipe", "inherit"] });
    live.add(child);
    let seen: string | null = "";
    const listening = new Promise<boolean>((resolve) => {
      child.stdout!.on("data", (chunk: Uint8Array) => {
        process.stdout.write(chunk);
        if (seen === null) return;
        seen += new TextDecoder().decode(chunk);
        if (/listening on /.test(seen)) {
          seen = null;
          resolve(true);
        }
      });
      child.once("exit", () => resolve(false));
    });
    child.once("exit", (code) => {
      live.delete(child);
      worst = Math.max(worst, code ?? 1);
      // A worker that failed (it could not listen...) stops the others.
      if (code !== 0 && !stopping) stop("SIGTERM");
      if (live.size === 0) {
        process.off("SIGHUP", onHangUp);
        finish(worst);
      }
    });
    return { child, listening };
  };
  let restarting = false;
  const restart = async () => {
    if (restarting || stopping) return;
    restarting = true;
    process.stdout.write(`restarting ${live.size} workers one by one\n`);
    for (const old of [...live]) {
      if (stopping) break;
      const next = launch();
      if (!(await next.listening)) {
        process.stderr.write("streamsock: a new worker did not start; the restart stops there\n");
        break;
      }
      const exited = new Promise((resolve) => old.once("exit", resolve));
      signal(old, "SIGTERM");
      await exited;
    }
    restarting = false;
    if (!stopping) process.stdout.write("workers restarted\n");
  };
  const onHangUp = () => void restart();
  for (let i = 0; i < count; i++) launch();
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGHUP", onHangUp);
  return finished;
}
