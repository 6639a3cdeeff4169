// connect() against a real peer: the `ws` package's server, running under
// Node in a child process, while the client under test runs in Deno, Bun or
// Node.
import { after, assertBytesEqual, before, describe, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "../src/client/connect.ts";
import type { ConnectOptions } from "../src/client/options.ts";
import { Message } from "../src/message.ts";
import { randomBytes } from "./_helpers.ts";

const MiB = 1024 * 1024;

let child: ChildProcess | null = null;
let url = "";

/** Starts the fixture under Node and reads its port from the first line it prints. */
async function startWsServer(): Promise<void> {
  const fixture = new URL("./fixtures/ws_echo_server.mjs", import.meta.url);
  const proc = spawn("node", [decodeURIComponent(fixture.pathname)], { stdio: ["pipe", "pipe", "inherit"] });
  child = proc;
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      let out = "";
      proc.stdout!.on("data", (chunk) => {
        out += String(chunk);
        if (out.includes("\n")) resolve(Number(out.trim()));
      });
      proc.once("error", reject);
      proc.once("exit", (code) => reject(new Error(`ws fixture exited with ${code}`)));
    }),
    20_000,
    "starting the ws fixture",
  );
  url = `ws://127.0.0.1:${port}`;
}

/** A connection to the ws fixture (`path` after its origin), dropped when `t` ends. */
async function open(t: Owner, path = "", options?: ConnectOptions) {
  const ws = await connect(url + path, options);
  t.after(() => ws.terminate());
  return ws;
}

/** Sends one command to the ws fixture on a connection of its own and returns its answer. */
async function askWs(command: string): Promise<string | Uint8Array> {
  const ws = await connect(url);
  await ws.send(command);
  const answer = await ws.recv();
  await ws.close();
  return answer.data;
}

describe("connect against the ws package's server", () => {
  before(startWsServer);
  after(() => {
    // Ours, by its PID; closing its stdin would also end it.
    if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid);
    child?.stdin?.destroy();
    child?.stdout?.destroy();
  });

  test("text and binary messages of every length class come back intact", async (t) => {
    const ws = await open(t, "", { maxFrameSize: 2 * MiB });
    for (const length of [0, 1, 125, 126, 65535, 65536, MiB + 1]) {
      const bytes = randomBytes(length, length + 7);
      const text = "aé✓𝄞".repeat(Math.ceil(length / 8)).slice(0, length);
      await ws.send(bytes);
      const gotBytes = await ws.recvAll();
      assert.equal(gotBytes.type, "binary");
      assertBytesEqual(gotBytes.data, bytes, `binary of ${length}`);
      await ws.send(text);
      const gotText = await ws.recvAll();
      assert.equal(gotText.type, "text");
      assertBytesEqual(gotText.data, text, `text of ${length}`);
    }
    assert.equal((await ws.close()).code, 1000);
  });

  test("a message the client fragments is reassembled by ws and echoed whole", async (t) => {
    const ws = await open(t);
    await ws.send(new Message("frag", "text", true));
    await ws.send(new Message("men", "text", true));
    await ws.send(new Message("ted ✓", "text"));
    const echoed = await ws.recv();
    assert.equal(echoed.partial, false);
    assert.equal(echoed.data, "fragmented ✓");
    await ws.close();
  });

  test("a message ws fragments arrives as partial frames, and recvAll reassembles it", async (t) => {
    const ws = await open(t);
    await ws.send("fragments:3:abcdefghi");
    const frames = [await ws.recv(), await ws.recv(), await ws.recv()];
    assert.deepEqual(frames.map((f) => [f.type, f.partial, f.data]), [
      ["text", true, "abc"],
      ["text", true, "def"],
      ["text", false, "ghi"],
    ]);
    await ws.send("fragments:4:Grüße aus 𝄞 Köln");
    assert.equal((await ws.recvAll()).data, "Grüße aus 𝄞 Köln");
    await ws.close();
  });

  test("16 MiB of binary in 1 MiB frames both ways, and 4 MiB of multi-byte text", async (t) => {
    const ws = await open(t, "", { maxFrameSize: MiB });
    const big = randomBytes(16 * MiB, 16);
    const sending = ws.sendAll(big);
    const back = await ws.recvAll(32 * MiB);
    await sending;
    assert.equal(back.type, "binary");
    assertBytesEqual(back.data, big, "16 MiB of binary");
    // ws cuts the echo at byte boundaries, splitting characters across frames.
    const text = "é✓𝄞x".repeat(MiB / 2);
    const sendingText = ws.sendAll(text);
    const textBack = await ws.recvAll(32 * MiB);
    await sendingText;
    assertBytesEqual(textBack.data, text, "4 MiB of multi-byte text");
    await ws.close();
  });

  test("pings: ws answers ours, and ours answers its", async (t) => {
    const ws = await open(t);
    await ws.send(new Message(new Uint8Array([1, 2, 3]), "ping"));
    const pong = await ws.recv();
    assert.equal(pong.type, "pong");
    assert.deepEqual(pong.data, new Uint8Array([1, 2, 3]));
    await ws.send("ping:are you there");
    const ping = await ws.recv();
    assert.equal(ping.type, "ping");
    assert.equal(new TextDecoder().decode(ping.data as Uint8Array), "are you there");
    // ws reports the pong our connection sent automatically.
    assert.equal((await ws.recv()).data, "pong:are you there");
    await ws.close();
  });

  test("close codes: ours is echoed by ws, and ws's reaches recv and closed", async (t) => {
    const ours = await open(t);
    const info = await withTimeout(ours.close(4001, "client done"), 5000, "client close");
    assert.deepEqual([info.code, info.reason, info.wasClean], [4001, "client done", true]);

    const theirs = await open(t);
    await theirs.send("close:4002:server done");
    const close = await theirs.recv();
    assert.equal(close.type, "close");
    assert.equal(close.code, 4002);
    assert.equal(close.data, "server done");
    const closed = await withTimeout(theirs.closed, 5000, "server close");
    assert.deepEqual([closed.code, closed.reason, closed.wasClean], [4002, "server done", true]);

    const normal = await open(t);
    await normal.send("close:1000:");
    assert.equal((await withTimeout(normal.closed, 5000, "close")).code, 1000);
  });

  test("closing (RFC 6455 §7.1.1): the client waits for ws to close TCP first, when it closes and when it fails", async (t) => {
    const before = JSON.parse((await askWs("tcp-closes")) as string) as string[];
    // A close the client starts.
    const polite = await open(t, "/late-tcp-close");
    const closedPolitely = await withTimeout(polite.close(4000, "bye"), 10_000, "the close");
    assert.deepEqual([closedPolitely.code, closedPolitely.wasClean], [4000, true]);
    // A failure: a message over the size recvAll allows fails the connection with 1009.
    const failing = await open(t, "/late-tcp-close");
    await failing.send("x".repeat(100));
    await assert.rejects(failing.recvAll(10), { name: "MessageTooBigError" });
    const failed = await withTimeout(failing.closed, 10_000, "closed after the failure");
    assert.deepEqual([failed.code, failed.wasClean], [1009, false]);
    const after = JSON.parse((await askWs("tcp-closes")) as string) as string[];
    // closed resolved only once TCP was closed, so the connections are in ws's
    // record: the one that asked before, the polite close and the failure.
    assert.deepEqual(after.slice(before.length), ["server", "server", "server"], "ws, not our client, sent the first FIN");
  });

  test("ws sees the subprotocol and options, and the negotiated protocol is ws.protocol", async (t) => {
    const ws = await open(t, "/path?q=1#nope", {
      protocol: "echo.v1, echo.v2",
      origin: "https://app.example",
      cookies: { a: "1" },
      auth: { bearer: "t" },
      params: { p: "2" },
    });
    assert.equal(ws.protocol, "echo.v2");
    await ws.send("headers");
    const headers = JSON.parse((await ws.recv()).data as string);
    assert.equal(headers["sec-websocket-protocol"], "echo.v1, echo.v2");
    assert.equal(headers.origin, "https://app.example");
    assert.equal(headers.cookie, "a=1");
    assert.equal(headers.authorization, "Bearer t");
    await ws.close();
    const plain = await open(t, "", { protocol: "other" });
    assert.equal(plain.protocol, null);
    await plain.close();
  });

  test("many small messages in flight at once arrive in order", async (t) => {
    const ws = await open(t);
    const count = 5000;
    const receiving = (async () => {
      for (let i = 0; i < count; i++) assert.equal((await ws.recv()).data, `m${i}`);
    })();
    for (let i = 0; i < count; i++) await ws.send(`m${i}`);
    await withTimeout(receiving, 30_000, "receiving 5000 echoes");
    await ws.close();
  });
});
