// The main job: `npm run demo` (add `-- --runtime deno|bun|node`; node by default).
//
// A server and two clients on 127.0.0.1 exchange every kind of message over
// real sockets, through the public API only, and print what happened: text,
// binary, a message sent as partial frames, ping and pong, a message larger
// than a frame, a broadcast between the clients, and a close with a code.
//
// npm runs this under Node (tsx); for Deno or Bun it runs itself again with
// that runtime, which npm installed into node_modules/.bin.
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect, Message, serve, type WebSocketConnection } from "../mod.ts";
import { currentRuntime, type Runtime } from "../src/transport/runtime.ts";

const { values } = parseArgs({ args: process.argv.slice(2), options: { runtime: { type: "string" } } });
const wanted = (values.runtime ?? currentRuntime()) as Runtime;
if (!["deno", "bun", "node"].includes(wanted)) {
  console.error(`demo: --runtime must be deno, bun or node, not ${JSON.stringify(values.runtime)}`);
  process.exit(2);
}
if (wanted !== currentRuntime()) {
  const root = fileURLToPath(new URL("../", import.meta.url));
  const bin = (name: string) => `${root}node_modules/.bin/${name}`;
  const script = fileURLToPath(import.meta.url);
  const [command, args] = wanted === "deno"
    ? [bin("deno"), ["run", "-A", script]]
    : wanted === "bun"
    ? [bin("bun"), [script]]
    : [process.execPath, ["--import", "tsx", script]];
  const child = spawnSync(command, args, { stdio: "inherit", cwd: root });
  if (child.error) console.error(`demo: cannot start ${wanted}: ${child.error.message}`);
  process.exit(child.status ?? 1);
}

const started = performance.now();
const version = wanted === "deno"
  ? (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno
  : wanted === "bun"
  ? (globalThis as unknown as { Bun: { version: string } }).Bun.version
  : process.versions.node;

function show(data: string | Uint8Array): string {
  if (typeof data === "string") return JSON.stringify(data.length > 48 ? data.slice(0, 48) + "…" : data);
  if (data.length > 16) return `${data.length} bytes`;
  return `[${Array.from(data, (b) => b.toString(16).padStart(2, "0")).join(" ")}]`;
}

function say(who: string, text: string): void {
  console.log(`${who.padEnd(8)}${text}`);
}

// The server reads frame by frame (Gerbil's WebSocket-recv) and echoes each
// frame as it came, so fragmented messages go back fragmented. On /chat it
// broadcasts whole messages to the other chat clients instead.
const chatRoom = new Set<WebSocketConnection>();

async function onSocket(ws: WebSocketConnection, request: { url: string }): Promise<void> {
  if (request.url === "/chat") {
    chatRoom.add(ws);
    for await (const msg of ws) {
      for (const other of chatRoom) if (other !== ws) await other.sendAll(msg);
    }
    chatRoom.delete(ws);
    return;
  }
  for (;;) {
    const frame = await ws.recv();
    if (frame.type === "close") {
      say("server", `<- close ${frame.code} ${show(frame.data)}; the connection answered with ${frame.code}`);
      return;
    }
    if (frame.type === "ping" || frame.type === "pong") {
      const text = new TextDecoder().decode(frame.data as Uint8Array);
      say("server", `<- ${frame.type} ${show(text)}${frame.type === "ping" ? "; the pong went out automatically" : ""}`);
      continue;
    }
    if (frame.partial || frame.data.length > 1024) {
      say("server", `<- ${frame.type} frame ${show(frame.data)}${frame.partial ? " (partial)" : " (final)"}`);
    } else {
      say("server", `<- ${frame.type} ${show(frame.data)}`);
    }
    await ws.send(frame);
  }
}

const server = serve({ port: 0, hostname: "127.0.0.1" }, onSocket);
await server.ready;
const url = `ws://127.0.0.1:${server.port}`;
console.log(`streamsock demo on ${wanted} ${version}: a server and two clients on 127.0.0.1\n`);
say("server", `listening on ${url}/`);

const ws = await connect(`${url}/echo`);
say("client", `connected to ${url}/echo`);

await ws.send("hello, streamsock ✓");
say("client", `-> text ${show("hello, streamsock ✓")}`);
say("client", `<- text ${show((await ws.recvAll()).data)}`);

await ws.send(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
say("client", `-> binary [de ad be ef]`);
say("client", `<- binary ${show((await ws.recvAll()).data)}`);

say("client", `-> text in 3 frames: send(new Message("frag", "text", true)), then "men" partial, then "ted"`);
await ws.send(new Message("frag", "text", true));
await ws.send(new Message("men", "text", true));
await ws.send(new Message("ted", "text"));
say("client", `<- text ${show((await ws.recvAll()).data)} (recvAll reassembled the echoed frames)`);

await ws.send(new Message(new TextEncoder().encode("are you there?"), "ping"));
say("client", `-> ping "are you there?"`);
const pong = await ws.recv();
say("client", `<- ${pong.type} ${show(new TextDecoder().decode(pong.data as Uint8Array))}`);

const big = new Uint8Array(2.5 * 1024 * 1024).fill(7);
await ws.sendAll(big);
say("client", `-> binary of 2.5 MiB with sendAll: frames of at most maxFrameSize (${ws.maxFrameSize} bytes)`);
const back = await ws.recvAll(8 * 1024 * 1024);
const intact = back.data instanceof Uint8Array && back.data.length === big.length && back.data.every((b) => b === 7);
say("client", `<- binary of ${(back.data.length / 1024 / 1024).toFixed(1)} MiB, ${intact ? "intact" : "CORRUPTED"}`);

const alice = await connect(`${url}/chat`);
const bob = await connect(`${url}/chat`);
say("alice", `connected to ${url}/chat, and so did bob`);
await alice.send("hi bob");
say("alice", `-> text "hi bob"`);
say("bob", `<- text ${show((await bob.recvAll()).data)} (broadcast by the server)`);
await Promise.all([alice.close(), bob.close()]);
say("chat", `alice and bob closed with 1000`);

say("client", `-> close 4000 "demo done"`);
const info = await ws.close(4000, "demo done");
say("client", `closed: the server answered ${info.code}, ${info.wasClean ? "a clean closing handshake" : "NOT CLEAN"}`);
await server.close();
say("server", `stopped after ${Math.round(performance.now() - started)} ms`);
if (!intact || !info.wasClean) process.exit(1);
