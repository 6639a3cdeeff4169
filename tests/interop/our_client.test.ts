// Interop, our client -> servers nobody here wrote: the `ws` package (Node),
// Deno's native server (Deno.upgradeWebSocket), Bun's native server
// (Bun.serve) and Python's `websockets`, each in its own process. connect()
// on this runtime exchanges multi-byte text, binary, empty, 125/126/65535/
// 65536-byte and 1 MiB messages, negotiates a subprotocol, pings and is
// pinged, and closes with code and reason from either end.
import { assertBytesEqual, describe, type Owner, test, withTimeout } from "../_test.ts";
import assert from "node:assert/strict";
import { connect } from "../../src/client/connect.ts";
import { Message } from "../../src/message.ts";
import { randomBytes } from "../_helpers.ts";
import { BUN, DENO, findPython, fixture, MiB, repoPath, startServer } from "./_peers.ts";

const python = findPython();

interface ServerPeer {
  name: string;
  /** How to start it; `deflate` asks it to accept permessage-deflate where it can. */
  command: (deflate: boolean) => [string, string[]];
  /** The subprotocol the server picks. */
  protocol: string;
  /** Whether its API can send a ping (Deno's cannot). */
  pings: boolean;
  /**
   * Whether it accepts permessage-deflate when started with `deflate` (ws
   * and Bun need it turned on, Python's websockets has it on by default), or
   * why it cannot.
   */
  deflate: true | { cannot: string };
  skip?: string;
}

const SERVERS: ServerPeer[] = [
  {
    name: "ws server (Node)",
    command: (deflate) => ["node", [repoPath("tests/fixtures/ws_echo_server.mjs"), ...(deflate ? ["--deflate"] : [])]],
    protocol: "echo.v2",
    pings: true,
    deflate: true,
  },
  {
    name: "Deno native server",
    command: () => [DENO, ["run", "-A", fixture("deno_server.mjs")]],
    protocol: "interop.v1",
    pings: false,
    deflate: { cannot: "Deno.upgradeWebSocket does not implement permessage-deflate" },
  },
  {
    name: "Bun native server",
    command: (deflate) => [BUN, [fixture("bun_server.mjs"), ...(deflate ? ["--deflate"] : [])]],
    protocol: "interop.v1",
    pings: true,
    deflate: true,
  },
  {
    name: "Python websockets server",
    command: () => [(python as { python: string }).python, [fixture("python_server.py")]],
    protocol: "interop.v1",
    pings: true,
    deflate: true,
    skip: "skip" in python ? python.skip : undefined,
  },
];

const text = (bytes: number) => "aé✓𝄞".repeat(Math.floor(bytes / 10)) + "x".repeat(bytes % 10);
const MESSAGES: (string | Uint8Array)[] = [
  "héllo ✓ 𝄞 語",
  randomBytes(256, 1),
  "",
  new Uint8Array(0),
  text(125),
  randomBytes(126, 2),
  text(65535),
  randomBytes(65536, 3),
  randomBytes(MiB, 4),
  text(MiB),
];

async function exchange(
  t: Owner,
  url: string,
  peer: ServerPeer,
  compression: boolean | { threshold: number } = true,
): Promise<void> {
  const ws = await connect(url, { protocol: [peer.protocol, "other"], maxFrameSize: 2 * MiB, pingInterval: 0, compression });
  t.after(() => ws.terminate());
  assert.equal(ws.protocol, peer.protocol, "negotiated subprotocol");
  if (typeof compression === "object") {
    // The compressing run: every message is compressed, so the peer must have accepted.
    assert.match(ws.extensions, /^permessage-deflate/, `${peer.name} negotiated permessage-deflate`);
  }
  for (const sent of MESSAGES) {
    await ws.send(sent);
    const got = await ws.recvAll();
    const what = `the ${typeof sent === "string" ? "text" : "binary"} message of ${sent.length} units`;
    assert.equal(got.type, typeof sent === "string" ? "text" : "binary", what);
    // On Node a payload may be a view of the socket's Buffer: compare bytes, not prototypes.
    const data = got.data instanceof Uint8Array ? new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.length) : got.data;
    assertBytesEqual(data, sent, `${what}, back from the peer`);
  }

  await ws.send(new Message(new TextEncoder().encode("ours ✓"), "ping"));
  const pong = await ws.recv();
  assert.deepEqual([pong.type, new TextDecoder().decode(pong.data as Uint8Array)], ["pong", "ours ✓"], "our ping's pong");
  if (peer.pings) {
    await ws.send("ping:theirs ✓");
    const ping = await ws.recv();
    assert.deepEqual([ping.type, new TextDecoder().decode(ping.data as Uint8Array)], ["ping", "theirs ✓"], "their ping");
    assert.equal((await ws.recv()).data, "pong:theirs ✓", "the server saw our automatic pong");
  }

  const info = await withTimeout(ws.close(4001, "bye ✓"), 10_000, "our close");
  assert.deepEqual([info.code, info.wasClean], [4001, true], "the server answered our 4001");

  const second = await connect(url, { protocol: peer.protocol, pingInterval: 0 });
  t.after(() => second.terminate());
  await second.send("close:4002:server bye ✓");
  const close = await second.recv();
  assert.deepEqual([close.type, close.code, close.data], ["close", 4002, "server bye ✓"], "the server's close frame");
  const closed = await withTimeout(second.closed, 10_000, "their close");
  assert.deepEqual([closed.code, closed.reason, closed.wasClean], [4002, "server bye ✓", true]);
}

describe("interop: our client -> real servers", () => {
  for (const peer of SERVERS) {
    test(`[interop] our client -> ${peer.name}`, { skip: peer.skip ?? false }, async (t) => {
      const [command, args] = peer.command(false);
      const server = await startServer(t, command, args);
      await withTimeout(exchange(t, `ws://127.0.0.1:${server.port}/interop`, peer), 90_000, `exchange with ${peer.name}`);
    });
  }
});

describe("interop: our client compressing every message -> real servers", () => {
  for (const peer of SERVERS) {
    const skip = peer.skip ?? (peer.deflate === true ? false : peer.deflate.cannot);
    test(`[interop] our client (compression threshold 0) -> ${peer.name}`, { skip }, async (t) => {
      const [command, args] = peer.command(true);
      const server = await startServer(t, command, args);
      await withTimeout(exchange(t, `ws://127.0.0.1:${server.port}/interop`, peer, { threshold: 0 }), 90_000, `exchange with ${peer.name}`);
    });
  }
});
