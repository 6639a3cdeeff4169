/**
 * What `streamsock serve --broadcast [--redis URL] [--workers N]` needs
 * beyond a plain server, kept out of the command's main module: the chat page served at
 * every path, and the worker processes that share one port.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { currentRuntime } from "../transport/runtime.ts";

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
