// The frame/message size trap: `send` is one frame (at most maxFrameSize,
// 1 MiB by default), `for await`/`recvAll` yield whole messages (up to
// maxMessageSize, 64 MiB). An echo must use sendAll, and the 1009 a server
// sends for a frame over its limit names the option to raise.
import { assertBytesEqual, describe, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { connect, Message, MessageTooBigError, requestHandler, serve, type WebSocketConnection } from "../mod.ts";
import { randomBytes } from "./_helpers.ts";

const MiB = 1024 * 1024;

describe("the README quickstart echo", () => {
  test("echoes a 5 MiB binary and a 5 MiB text message on this runtime", async (t) => {
    // The quickstart, as the README has it.
    const server = serve({ port: 0, hostname: "127.0.0.1" }, async (ws) => {
      for await (const msg of ws) await ws.sendAll(msg); // whole text and binary messages, until the peer closes
    });
    t.after(() => server.close());
    await server.ready;
    const ws = await connect(`ws://127.0.0.1:${server.port}/`);
    const bytes = randomBytes(5 * MiB, 7);
    const text = "é✓a".repeat(Math.ceil(5 * MiB / 6));
    const sending = ws.sendAll(bytes).then(() => ws.sendAll(text));
    const back = await withTimeout(ws.recvAll(), 30_000, "the 5 MiB binary echo");
    assert.equal(back.type, "binary");
    assertBytesEqual(back.data, bytes, "the 5 MiB binary echo");
    const backText = await withTimeout(ws.recvAll(), 30_000, "the 5 MiB text echo");
    assertBytesEqual(backText.data, text, "the 5 MiB text echo");
    await sending;
    assert.deepEqual(await ws.close(1000, "bye"), { code: 1000, reason: "", wasClean: true });
  });

  test("README and examples/ echo and forward whole messages with sendAll, never send", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const quickstart = readme.slice(readme.indexOf("## Quickstart"), readme.indexOf("## The command line"));
    assert.match(quickstart, /for await \(const msg of ws\) await ws\.sendAll\(msg\)/);
    const sources: [string, string][] = [["README.md", readme]];
    for (const name of readdirSync(new URL("../examples/", import.meta.url))) {
      sources.push([`examples/${name}`, readFileSync(new URL(`../examples/${name}`, import.meta.url), "utf8")]);
    }
    for (const [name, source] of sources) {
      // A message from `for await` handed to send(...) is the trap: it may be
      // larger than one frame.
      assert.doesNotMatch(source, /for await \(const (\w+) of \w+\)[^\n]*\.send\(\1\b/, name);
      assert.doesNotMatch(source, /\.send\((msg|message)(\.data)?\)/, name);
    }
  });
});

describe("maxFrameSize, by default 1 MiB", () => {
  test("send of a payload over it rejects with a RangeError that points to sendAll, and sends nothing", async (t) => {
    const server = serve({ port: 0, hostname: "127.0.0.1" }, async (ws) => {
      for await (const msg of ws) await ws.sendAll(msg);
    });
    t.after(() => server.close());
    await server.ready;
    const ws = await connect(`ws://127.0.0.1:${server.port}/`);
    const big = new Uint8Array(MiB + 1);
    await assert.rejects(ws.send(big), (err: Error) => {
      assert.ok(err instanceof RangeError);
      assert.match(err.message, /exceeds maxFrameSize 1048576; use sendAll to send it in fragments/);
      return true;
    });
    await assert.rejects(ws.send("x".repeat(MiB + 1)), /use sendAll to send it in fragments/);
    await ws.send("still open");
    assert.equal((await ws.recvAll()).data, "still open");
    await ws.sendAll(big);
    assert.equal((await withTimeout(ws.recvAll(), 20_000, "echo")).data.length, MiB + 1);
    await ws.close();
  });

  test("a server refuses a single 2 MB frame with 1009, and the reason names maxFrameSize and how to raise it", async (t) => {
    let serverSide: Promise<unknown> = Promise.resolve();
    const server = serve({ port: 0, hostname: "127.0.0.1" }, async (ws) => {
      serverSide = (async () => {
        try {
          for await (const msg of ws) await ws.sendAll(msg);
        } catch (err) {
          return err;
        }
        return null;
      })();
      await serverSide;
    });
    t.after(() => server.close());
    await server.ready;
    // A client that sends the whole message as one frame, as browsers and ws do.
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { maxFrameSize: 4 * MiB });
    await ws.send(new Uint8Array(2_000_000)).catch(() => {}); // the server may close before it is all written
    const info = await withTimeout(ws.closed, 20_000, "the 1009");
    assert.equal(info.code, 1009);
    assert.equal(
      info.reason,
      "Frame of 2000000 bytes exceeds the receiver's maxFrameSize 1048576; raise that option to accept larger frames",
    );
    const err = await serverSide;
    assert.ok(err instanceof MessageTooBigError);
    assert.equal(err.closeCode, 1009);
    assert.match(err.message, /maxFrameSize 1048576; raise that option/);
  });

  test("the same frame is accepted once the server raises maxFrameSize", async (t) => {
    const server = serve(
      { port: 0, hostname: "127.0.0.1" },
      requestHandler(
        async (ws) => {
          for await (const msg of ws) await ws.send(new Message(`got ${(msg.data as Uint8Array).length}`, "text"));
        },
        undefined,
        { maxFrameSize: 4 * MiB },
      ),
    );
    t.after(() => server.close());
    await server.ready;
    const ws: WebSocketConnection = await connect(`ws://127.0.0.1:${server.port}/`, { maxFrameSize: 4 * MiB });
    await ws.send(new Uint8Array(2_000_000));
    assert.equal((await withTimeout(ws.recvAll(), 20_000, "the answer")).data, "got 2000000");
    await ws.close();
  });
});
