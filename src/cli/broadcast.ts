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
 * SIGTERM are forwarded to them, by PID.
 *
 * @param count How many workers.
 * @param args The worker's arguments.
 * @returns Resolves with the highest exit code once every worker exited.
 */
export function runWorkers(count: number, args: string[]): Promise<number> {
  const [command, argv] = selfCommand(args);
  const workers: ChildProcess[] = [];
  const exits: Promise<number>[] = [];
  const forward = (signal: "SIGINT" | "SIGTERM") => () => {
    for (const child of workers) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, signal);
      }
    }
  };
  for (let i = 0; i < count; i++) {
    const child = spawn(command, argv, { stdio: ["ignore", "inherit", "inherit"] });
    workers.push(child);
    exits.push(
      new Promise((resolve) =>
        child.once("exit", (code) => {
          // A worker that failed (it could not listen...) stops the others.
          if (code !== 0) forward("SIGTERM")();
          resolve(code ?? 1);
        })
      ),
    );
  }
  process.once("SIGINT", forward("SIGINT"));
  process.once("SIGTERM", forward("SIGTERM"));
  return Promise.all(exits).then((codes) => Math.max(...codes));
}
