/**
 * What `streamsock serve --broadcast [--redis URL] [--workers N]` needs
 * beyond a plain server, kept out of the command's main module: the chat page served at
 * every path (and its resume module, src/cli/resume_browser.ts), and the
 * worker processes that share one port.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { currentRuntime } from "../transport/runtime.ts";

/**
 * A chat page in plain HTML and JavaScript, no build step: it joins the room
 * of its own URL path (a durable topic) through the resume module served at
 * `/_streamsock/resume.js`, so a restarted server or a dropped connection
 * costs no line: it shows the room's recent history, then every line once,
 * in the room's order, and sends again what the server did not acknowledge.
 */
export const BROADCAST_PAGE = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>streamsock chat</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  #log, #outbox { list-style: none; padding: 0; } #log { min-height: 12rem; border: 1px solid #ccc; border-radius: 4px; }
  #log li, #outbox li { padding: .2rem .5rem; } #outbox li { color: #888; } #log li.info { color: #888; font-style: italic; }
  form { display: flex; gap: .5rem; } #msg { flex: 1; }
</style>
<h1>streamsock chat <small id="room"></small></h1>
<p id="status">connecting...</p>
<ul id="log"></ul>
<ul id="outbox"></ul>
<form id="form"><input id="name" size="8" placeholder="name"><input id="msg" autocomplete="off" placeholder="message" autofocus><button>Send</button></form>
<script type="module">
  import { ResumingSocket } from "/_streamsock/resume.js";
  const log = document.getElementById("log");
  const outbox = document.getElementById("outbox");
  const status = document.getElementById("status");
  const name = document.getElementById("name");
  const msg = document.getElementById("msg");
  name.value = "guest" + Math.floor(Math.random() * 1000);
  const room = location.pathname;
  document.getElementById("room").textContent = room;
  const show = (list, text, kind) => {
    const li = document.createElement("li");
    li.textContent = text;
    if (kind) li.className = kind;
    list.append(li);
    return li;
  };
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + room;
  const socket = new ResumingSocket(url, {
    onStatus: (text) => { status.textContent = text; },
    onMessage: (_topic, data) => show(log, typeof data === "string" ? data : "[binary message]"),
    onGap: (gap) => show(log, gap.reason === "epoch" ? "(the server lost the room's history: earlier lines may be missing)"
      : "(" + (gap.to - gap.from + 1) + " older lines are no longer kept)", "info"),
  });
  socket.subscribe(room, "start");
  document.getElementById("form").onsubmit = (event) => {
    event.preventDefault();
    if (msg.value === "") return;
    const line = name.value + ": " + msg.value;
    // Shown greyed until the server stored it; it then appears in the log, in the room's order.
    const waiting = show(outbox, line + " (sending...)");
    socket.publish(room, line).then(() => waiting.remove(), (err) => { waiting.textContent = line + " (" + err.message + ")"; });
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
