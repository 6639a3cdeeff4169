// The small APIs people reach for in their first hour: ping and pong,
// readyState, the client's url, and a clear error for a second for-await
// loop, over real sockets on every runtime.
import assert from "node:assert/strict";
import { connect } from "../src/client/connect.ts";
import { WebSocketConnection } from "../src/connection/connection.ts";
import { serve } from "../src/server/serve.ts";
import type { TracedFrame } from "../src/transport/trace.ts";
import { assertBytesEqual, describe, eventually, type Owner, test, withTimeout } from "./_test.ts";

/** Runs `body` against a server, then closes it (and if the test fails first, the test's end does). */
async function withServer(
  t: Owner,
  onSocket: (ws: WebSocketConnection) => Promise<void> | void,
  body: (url: string) => Promise<void>,
): Promise<void> {
  const server = serve({ hostname: "127.0.0.1", port: 0 }, onSocket);
  t.after(() => server.close());
  await server.ready;
  await body(`ws://127.0.0.1:${server.port}/room?x=1`);
  await server.close();
}

describe("ping, pong, readyState and url", () => {
  test("ws.ping(data) reaches the peer as a ping and its pong comes back with the same data", async (t) => {
    let serverSaw: string | null = null;
    await withServer(t, async (ws) => {
      const msg = await ws.recv();
      serverSaw = `${msg.type} ${new TextDecoder().decode(msg.data as Uint8Array)}`;
      await ws.closed;
    }, async (url) => {
      const ws = await connect(url, { pingInterval: 0 });
      await ws.ping("are you there?");
      const pong = await withTimeout(ws.recv(), 5000, "the pong");
      assert.equal(pong.type, "pong");
      assert.equal(new TextDecoder().decode(pong.data as Uint8Array), "are you there?");
      await ws.pong(new Uint8Array([1, 2]));
      await assert.rejects(ws.ping("x".repeat(126)), RangeError);
      await ws.close();
      assert.equal(serverSaw, "ping are you there?");
    });
  });

  test("ws.pong() sends an unsolicited pong the peer can read", async (t) => {
    const seen: string[] = [];
    await withServer(t, async (ws) => {
      const msg = await ws.recv();
      seen.push(msg.type, String((msg.data as Uint8Array).length));
      await ws.closed;
    }, async (url) => {
      const ws = await connect(url, { pingInterval: 0 });
      await ws.pong();
      await eventually(() => seen.length > 0, 5000, "the pong at the server");
      await ws.close();
      assert.deepEqual(seen, ["pong", "0"]);
    });
  });

  test("readyState is OPEN, then CLOSING during the closing handshake, then CLOSED, with WHATWG's numbers", async (t) => {
    assert.deepEqual(
      [WebSocketConnection.CONNECTING, WebSocketConnection.OPEN, WebSocketConnection.CLOSING, WebSocketConnection.CLOSED],
      [0, 1, 2, 3],
    );
    let serverStates: number[] = [];
    await withServer(t, async (ws) => {
      serverStates.push(ws.readyState);
      await ws.closed;
      serverStates.push(ws.readyState);
    }, async (url) => {
      const ws = await connect(url, { pingInterval: 0 });
      assert.equal(ws.readyState, WebSocketConnection.OPEN);
      const closing = ws.close(1000);
      assert.equal(ws.readyState, WebSocketConnection.CLOSING);
      await closing;
      assert.equal(ws.readyState, WebSocketConnection.CLOSED);
    });
    assert.deepEqual(serverStates, [1, 3]);
    serverStates = [];
  });

  test("ws.url is the URL the client connected to, and null on the server's end", async (t) => {
    let serverUrl: string | null | undefined;
    await withServer(t, (ws) => {
      serverUrl = ws.url;
    }, async (url) => {
      const ws = await connect(url, { pingInterval: 0 });
      assert.equal(ws.url, url);
      await ws.closed;
    });
    assert.equal(serverUrl, null);
  });
});

describe("remoteAddress and remotePort", () => {
  test("both ends know the peer's address and port", async (t) => {
    let seen: [string | undefined, number | undefined] = [undefined, undefined];
    await withServer(t, (ws) => {
      seen = [ws.remoteAddress, ws.remotePort];
    }, async (url) => {
      const ws = await connect(url, { pingInterval: 0 });
      assert.equal(ws.remoteAddress, "127.0.0.1");
      assert.equal(ws.remotePort, Number(new URL(url).port));
      await ws.closed;
    });
    assert.equal(seen[0], "127.0.0.1");
    assert.ok(typeof seen[1] === "number" && seen[1] > 0, `server saw port ${seen[1]}`);
  });
});

describe("two for await loops on one connection", () => {
  test("the second throws a clear error instead of starving; after the first ends, a new loop reads", async (t) => {
    await withServer(t, async (ws) => {
      for await (const msg of ws) await ws.sendAll(msg);
    }, async (url) => {
      const ws = await connect(url, { pingInterval: 0 });
      await ws.send("one");
      await ws.send("two");
      const first = ws[Symbol.asyncIterator]();
      assert.equal((await first.next()).value?.data, "one");
      assert.throws(
        () => {
          for (const _ of [ws[Symbol.asyncIterator]()]) break;
        },
        /Another for await loop is already reading this connection/,
      );
      await first.return!();
      for await (const msg of ws) {
        assert.equal(msg.data, "two");
        break;
      }
      await ws.close();
    });
  });
});

describe("send options", () => {
  test("compress: false on a deflate connection: the server gets an uncompressed frame, the others compressed", async (t) => {
    const { requestHandler } = await import("../src/server/request_handler.ts");
    const sent: TracedFrame[] = [];
    const server = serve(
      { hostname: "127.0.0.1", port: 0 },
      requestHandler(async (ws) => {
        for await (const msg of ws) await ws.sendAll(msg);
      }, undefined, { compression: true }),
    );
    t.after(() => server.close());
    await server.ready;
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, {
      pingInterval: 0,
      compression: true,
      trace: (frame) => {
        if (frame.direction === "send" && (frame.opcode === 1 || frame.opcode === 2)) sent.push(frame);
      },
    });
    assert.match(ws.extensions, /permessage-deflate/);
    const big = "compressible ".repeat(1000);
    await ws.sendAll(big);
    await ws.sendAll(big, { compress: false });
    await ws.send("tiny", { compress: true });
    const echoes = [];
    for (let i = 0; i < 3; i++) echoes.push((await withTimeout(ws.recv(), 5000, "an echo")).data);
    assertBytesEqual(echoes[0], big, "the compressed echo");
    assertBytesEqual(echoes[1], big, "the echo of the message sent uncompressed");
    assert.equal(echoes[2], "tiny");
    assert.deepEqual(sent.map((f) => f.rsv & 4), [4, 0, 4]);
    assert.ok(sent[0].length < big.length / 5 && sent[1].length === big.length, `lengths ${sent.map((f) => f.length)}`);
    await ws.close();
  });

  test("a signal that aborts a send stuck behind a peer that never reads rejects it and drops the connection", async (t) => {
    const server = serve({ hostname: "127.0.0.1", port: 0 }, async (ws) => {
      await ws.closed; // never reads: the server stops reading its socket once its inbox is full
    });
    t.after(() => server.close());
    await server.ready;
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { pingInterval: 0, maxBackpressure: Infinity });
    await assert.rejects(ws.send("x", { signal: AbortSignal.abort(new Error("already")) }), /already/);
    assert.equal(ws.readyState, WebSocketConnection.OPEN, "an already-aborted signal sends nothing and keeps the connection");
    const chunk = new Uint8Array(1024 * 1024);
    let rejected: unknown = null;
    for (let i = 0; i < 256 && rejected === null; i++) {
      await ws.sendAll(chunk, { signal: AbortSignal.timeout(300) }).catch((err) => (rejected = err));
    }
    assert.ok(rejected instanceof Error && (rejected.name === "TimeoutError" || rejected.name === "AbortError"), String(rejected));
    const info = await withTimeout(ws.closed, 5000, "the drop");
    assert.equal(info.code, 1006);
    assert.equal((info.error?.cause as { code?: string } | undefined)?.code, "ERR_SEND_ABORTED");
  });
});
