// Promises the README makes that no other test held it to: requiring a
// subprotocol with verify (selectProtocol alone cannot, Gerbil's rule), what
// recv returns after a close, the defaults it states, http: URLs, and the
// command line's exit code for a close without error.
import { describe, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import {
  connect,
  ConnectionClosedError,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_COMPRESSION_THRESHOLD,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_MAX_MESSAGE_SIZE,
  HandshakeError,
  Message,
} from "../mod.ts";
import { DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT } from "../src/connection.ts";
import { createServer as createTcpServer, type Socket } from "node:net";
import { RawPeer } from "./_helpers.ts";
import { run } from "./_spawn.ts";
import { exchange, KINDS, start, type StartOptions } from "./_server.ts";

for (const kind of KINDS) {
  describe(`requiring a subprotocol, the README's recipe (${kind})`, () => {
    test("a client that offers none is refused by verify with 400; selectProtocol is never asked", async (t) => {
      const asked: string[][] = [];
      // The README's recipe, as written there.
      const options: StartOptions = {
        selectProtocol: (offered) => {
          asked.push(offered);
          return offered.includes("chat.v1") ? "chat.v1" : null;
        },
        verify: (request) => request.protocols.length > 0 || { status: 400, body: "Offer the chat.v1 subprotocol" },
      };
      const running = await start(t, kind, async (ws) => {
        for await (const msg of ws) await ws.sendAll(msg);
      }, options);
      const url = `ws://127.0.0.1:${running.port}/`;
      const none = await connect(url).then(() => null, (e: unknown) => e);
      assert.ok(none instanceof HandshakeError, String(none));
      assert.equal(none.status, 400);
      assert.equal(new TextDecoder().decode(none.body).trim(), "Offer the chat.v1 subprotocol");
      assert.match(none.message, /400 Bad Request \(Offer the chat\.v1 subprotocol\)$/);
      assert.deepEqual(asked, [], "selectProtocol is not called when the client offers none");

      await assert.rejects(connect(url, { protocol: "chat.v0" }), { name: "HandshakeError", status: 400 });
      const ws = await connect(url, { protocol: ["chat.v2", "chat.v1"] });
      assert.equal(ws.protocol, "chat.v1");
      await ws.send("hi");
      assert.equal((await ws.recvAll()).data, "hi");
      await ws.close();
      assert.deepEqual(asked, [["chat.v0"], ["chat.v2", "chat.v1"]]);
    });

    test("without verify, selectProtocol alone lets a client that offers none in", async (t) => {
      const running = await start(t, kind, (ws) => ws.closed.then(() => {}), {
        selectProtocol: (offered) => offered.includes("chat.v1") ? "chat.v1" : null,
      });
      const ws = await connect(`ws://127.0.0.1:${running.port}/`);
      assert.equal(ws.protocol, null);
      await ws.close();
    });
  });
}

describe("recv after close", () => {
  test("after our close(): the unread frames, the peer's close frame once, then ConnectionClosedError", async (t) => {
    const running = await start(t, "serve", async (ws) => {
      for await (const msg of ws) await ws.sendAll(msg);
    });
    const ws = await connect(`ws://127.0.0.1:${running.port}/`);
    await ws.send("unread");
    // Let the echo arrive before the close: it stays unread in the inbox.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(await withTimeout(ws.close(1000, "bye"), 10_000, "close"), {
      code: 1000,
      reason: "",
      wasClean: true,
    });
    assert.equal((await ws.recv()).data, "unread");
    const close = await ws.recv();
    assert.equal(close.type, "close");
    assert.equal(close.code, 1000); // the peer's answer echoes our code
    await assert.rejects(ws.recv(), (err: unknown) => err instanceof ConnectionClosedError && err.closeCode === 1000);
    await assert.rejects(ws.recv(), ConnectionClosedError);
    await assert.rejects(ws.send("late"), ConnectionClosedError);
  });

  test("after the peer's close: its close frame once, then ConnectionClosedError", async (t) => {
    const running = await start(t, "serve", (ws) => ws.close(4000, "server done").then(() => {}));
    const ws = await connect(`ws://127.0.0.1:${running.port}/`);
    const close = await withTimeout(ws.recv(), 10_000, "recv");
    assert.equal(close.type, "close");
    assert.equal(close.code, 4000);
    assert.equal(close.data, "server done");
    await assert.rejects(ws.recv(), (err: unknown) => err instanceof ConnectionClosedError && err.closeCode === 4000);
    assert.equal((await ws.closed).code, 4000);
  });

  test("when the peer never answers our close: no close frame, recv rejects with 1006", async (t) => {
    const peer = new RawPeer(t, "server", { closeTimeout: 100 });
    const info = await withTimeout(peer.ws.close(1000), 5000, "close");
    assert.equal(info.code, 1006);
    await assert.rejects(
      peer.ws.recv(),
      (err: unknown) => err instanceof ConnectionClosedError && err.closeCode === 1006,
    );
  });
});

describe("the defaults the README states", () => {
  test("maxFrameSize 1 MiB, maxMessageSize 64 MiB, closeTimeout 5 s, keepalive 20 s + 20 s, handshakeTimeout 10 s, threshold 1 KiB", async (t) => {
    assert.equal(DEFAULT_MAX_FRAME_SIZE, 1024 * 1024);
    assert.equal(DEFAULT_PING_INTERVAL, 20_000);
    assert.equal(DEFAULT_PING_TIMEOUT, 20_000);
    assert.equal(DEFAULT_MAX_MESSAGE_SIZE, 64 * 1024 * 1024);
    assert.equal(DEFAULT_CLOSE_TIMEOUT, 5000);
    assert.equal(DEFAULT_HANDSHAKE_TIMEOUT, 10_000);
    assert.equal(DEFAULT_COMPRESSION_THRESHOLD, 1024);
    let serverSide = 0;
    const running = await start(t, "serve", (ws) => {
      serverSide = ws.maxFrameSize;
      return ws.closed.then(() => {});
    });
    const ws = await connect(`ws://127.0.0.1:${running.port}/`);
    assert.equal(ws.maxFrameSize, 1048576);
    await ws.close();
    assert.equal(serverSide, 1048576);
  });
});

describe("connect takes http: URLs as ws:", () => {
  test("http://127.0.0.1:port/ opens a WebSocket connection", async (t) => {
    const running = await start(t, "serve", async (ws) => {
      for await (const msg of ws) await ws.sendAll(msg);
    });
    const ws = await connect(`http://127.0.0.1:${running.port}/`);
    await ws.send("over http:");
    assert.equal((await ws.recvAll()).data, "over http:");
    await ws.close();
  });
});

describe("the command line's exit codes", () => {
  test("a close with 1001 or with no status code exits 0", async (t) => {
    const running = await start(t, "serve", async (ws, request) => {
      await ws.recv(); // the client's first line
      if (request.url === "/going-away") await ws.close(1001, "shutting down");
      else await ws.send(new Message("", "close")); // an empty close payload: no status code (1005)
      await ws.closed;
    });
    for (const [path, code] of [["/going-away", 1001], ["/no-status", 1005]] as const) {
      const result = await run("src/cli.ts", ["connect", `ws://127.0.0.1:${running.port}${path}`], { input: "x\n" });
      assert.equal(result.code, 0, `${path}: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`^< close ${code}`, "m"));
    }
  });
});

describe("connect holds the response head to 16 KiB and 100 fields", () => {
  for (
    const [what, head] of [
      ["a head over 16 KiB", `HTTP/1.1 101 Switching Protocols\r\nX-Filler: ${"a".repeat(17 * 1024)}\r\n`],
      ["more than 100 fields", `HTTP/1.1 101 Switching Protocols\r\n${"X-F: 1\r\n".repeat(101)}`],
    ]
  ) {
    test(`${what} fails the handshake at once, without waiting for the head's end`, async (t) => {
      const sockets = new Set<Socket>();
      const server = createTcpServer((socket) => {
        sockets.add(socket);
        socket.on("error", () => {});
        socket.once("data", () => socket.write(head)); // and never ends the head
      });
      t.after(() => {
        for (const socket of sockets) socket.destroy();
        server.close();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as { port: number };
      const err = await withTimeout(
        connect(`ws://127.0.0.1:${port}/`, { timeout: 20_000 }).then(() => null, (e: unknown) => e),
        10_000,
        "connect",
      );
      assert.ok(err instanceof HandshakeError, String(err));
      assert.equal(err.code, "ERR_HANDSHAKE_MALFORMED");
    });
  }
});

describe("serve answers more than maxHeaders fields with 431 as soon as the limit is crossed", () => {
  test("101 field lines of a head that never ends", async (t) => {
    const running = await start(t, "serve", () => {});
    const head = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n${"X-F: 1\r\n".repeat(100)}`; // no blank line
    const response = await withTimeout(exchange(running.port, head), 5000, "the answer");
    assert.equal(response.startLine, "HTTP/1.1 431 Request Header Fields Too Large");
  });
});
