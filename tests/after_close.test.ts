// RFC 6455 §5.5.1: nothing after our close frame. Once our close frame is
// decided (our close(), or the connection failing on a peer's violation),
// every way the application can send is refused with ConnectionClosedError
// and writes nothing: send, sendAll (one frame, fragments, a stream), the
// writable stream, ping and pong, a hub's publish, and a message the
// permessage-deflate stage is still compressing. Both roles, with and without
// permessage-deflate, over real TCP; a raw peer reads our bytes with the
// independent parser (tests/_frames.ts) and checks that nothing follows the
// close frame. (tests/conformance/after_close.test.ts runs the echo idioms
// against violations in the same read as valid messages, over HTTP/2 too.)
import assert from "node:assert/strict";
import { connect } from "../src/client/connect.ts";
import type { WebSocketConnection } from "../src/connection/connection.ts";
import { ConnectionClosedError } from "../src/errors.ts";
import { Message } from "../src/message.ts";
import { rawFrame } from "./_helpers.ts";
import { rawServer, switchingProtocols } from "./_raw_http.ts";
import { SAMPLE_ACCEPT, start, upgradeRequest } from "./_server.ts";
import { describe, type Owner, test, withTimeout } from "./_test.ts";
import { closeCodeOf, Wire } from "./_wire.ts";

const MASK = [0x37, 0xfa, 0x21, 0x3d];

/** Our connection (`ws`) opposite a raw peer (`wire`) over real TCP, in the given role. */
interface Opened {
  ws: WebSocketConnection;
  wire: Wire;
  /** A frame as the peer must send it: masked towards our server. */
  frame(first: number, payload: Uint8Array | string): Uint8Array;
  /** The peer's side of the closing handshake after our close frame, then nothing more from us. */
  finish(code: number): Promise<void>;
  /** Our server's `server.publish` (server role only). */
  publish?: (topic: string, data: string) => number;
}

/**
 * Opens the pair; our connection, the raw peer and the server are dropped
 * when `t` ends, in that order (latest first), so the server's close finds
 * no connection whose closing handshake it would wait for.
 */
async function open(t: Owner, role: "client" | "server", deflate: boolean): Promise<Opened> {
  const compression = deflate ? { threshold: 0 } : false;
  const extension = "Sec-WebSocket-Extensions: permessage-deflate";
  if (role === "server") {
    let accepted!: (ws: WebSocketConnection) => void;
    const ready = new Promise<WebSocketConnection>((resolve) => (accepted = resolve));
    const { port, server } = await start(t, "serve", (ws) => {
      accepted(ws);
      return ws.closed.then(() => {});
    }, { compression, pingInterval: 0, closeTimeout: 2000 });
    const wire = await Wire.dial(t, port, false);
    await wire.send(upgradeRequest(deflate ? { "Sec-WebSocket-Extensions": "permessage-deflate" } : {}));
    const head = (await wire.readHead()).text;
    assert.ok(head.includes(SAMPLE_ACCEPT), head);
    assert.equal(head.toLowerCase().includes("permessage-deflate"), deflate, head);
    const ws = await withTimeout(ready, 5000, "the server's connection");
    t.after(() => ws.terminate());
    return {
      ws,
      wire,
      frame: (first, payload) => rawFrame(first, payload, MASK),
      // Our server closes TCP once both close frames were exchanged (at once
      // when it failed the connection); nothing may come before the end.
      finish: async (code) => {
        await wire.send(rawFrame(0x88, [code >> 8, code & 0xff], MASK)).catch(() => {});
        await wire.expectEnd();
      },
      publish: (topic, data) => server!.publish(topic, data),
    };
  }
  let answered!: (wire: Wire) => void;
  const wired = new Promise<Wire>((resolve) => (answered = resolve));
  const raw = await rawServer(t, async (request) => {
    const wire = new Wire(request.socket, true);
    await wire.send(await switchingProtocols(request, deflate ? [extension] : []));
    answered(wire);
  });
  const ws = await connect(raw.base("ws") + "/", { compression, pingInterval: 0, closeTimeout: 2000 });
  t.after(() => ws.terminate());
  const wire = await withTimeout(wired, 5000, "the raw server's 101 answer");
  assert.equal(ws.extensions.includes("permessage-deflate"), deflate);
  return {
    ws,
    wire,
    frame: (first, payload) => rawFrame(first, payload, null),
    // Our client leaves closing TCP to the server (§7.1.1): silence, then the server's close and FIN.
    finish: async (code) => {
      await wire.expectSilence("nothing may follow the client's close frame (RFC 6455 §5.5.1)");
      await wire.send(rawFrame(0x88, [code >> 8, code & 0xff], null));
      wire.end();
      await wire.expectEnd();
    },
  };
}

async function* chunks(): AsyncGenerator<Uint8Array> {
  yield new Uint8Array([1, 2, 3]);
  yield new Uint8Array([4, 5, 6]);
}

/** Asserts a refused send: ConnectionClosedError with the code the connection is closing with. */
async function refused(what: string, sending: Promise<unknown>, code: number): Promise<void> {
  const err = await withTimeout(sending, 5000, what).then(
    () => assert.fail(`${what} resolved after our close frame`),
    (e) => e,
  );
  assert.ok(err instanceof ConnectionClosedError, `${what}: ${err}`);
  assert.equal(err.closeCode, code, `${what}: ${err.message}`);
}

/** Every way to send, each of which must be refused. */
async function everySendRefused(ws: WebSocketConnection, code: number): Promise<void> {
  await refused("send(text)", ws.send("after the close"), code);
  await refused("send(bytes)", ws.send(new Uint8Array([1, 2, 3])), code);
  await refused("send(partial frame)", ws.send(new Message("part", "text", true)), code);
  await refused("sendAll(a message of 3 frames)", ws.sendAll(new Uint8Array(3 * ws.maxFrameSize)), code);
  await refused("sendAll(stream)", ws.sendAll(chunks()), code);
  await refused("send with a signal", ws.send("x", { signal: new AbortController().signal }), code);
  await refused("ping()", ws.ping("p"), code);
  await refused("pong()", ws.pong("p"), code);
  const writer = ws.writable.getWriter();
  await refused("writable.write()", writer.write("through the stream"), code);
  writer.releaseLock();
}

for (const role of ["client", "server"] as const) {
  for (const deflate of [false, true]) {
    const where = `our ${role}${deflate ? ", permessage-deflate" : ""}`;
    describe(`nothing after the close frame of ${where}`, () => {
      test("after failing on the peer's violation, every send path rejects with ConnectionClosedError and writes nothing", async (t) => {
        const opened = await open(t, role, deflate);
        const { ws, wire } = opened;
        // RSV2: no extension defines it (§5.2), permessage-deflate neither.
        await wire.send(opened.frame(0xa1, "bad"));
        assert.equal(closeCodeOf(await wire.readFrame()), 1002, "our close frame");
        await everySendRefused(ws, 1002);
        await opened.finish(1002);
        const info = await withTimeout(ws.closed, 5000, "closed");
        assert.equal(info.code, 1002);
      });

      test("after close(), every send path rejects with ConnectionClosedError and writes nothing", async (t) => {
        const opened = await open(t, role, deflate);
        const { ws, wire } = opened;
        const closing = ws.close(4000, "bye");
        assert.equal(closeCodeOf(await wire.readFrame()), 4000, "our close frame");
        await everySendRefused(ws, 4000);
        await opened.finish(4000);
        assert.equal((await withTimeout(closing, 5000, "close()")).code, 4000);
      });
    });
  }

  describe(`the permessage-deflate stage of our ${role}`, () => {
    test("a message still being compressed when the connection fails is dropped: its send rejects, its bytes never reach the wire", async (t) => {
      const opened = await open(t, role, true);
      const { ws, wire } = opened;
      // A ping and a 2-byte text in one read: once recv() returned the
      // ping, the text waits in the inbox for recvAll below.
      await wire.send(new Uint8Array([...opened.frame(0x89, "p"), ...opened.frame(0x81, "ab")]));
      assert.equal((await withTimeout(ws.recv(), 5000, "the ping")).type, "ping");
      assert.equal((await wire.readFrame())?.opcode, 0x0a, "the automatic pong");
      // 4 MiB of text takes zlib many event-loop turns; the connection
      // fails (1009: recvAll's limit) after one microtask.
      const big = "streamsock ".repeat(400_000);
      const compressing = ws.sendAll(big, { compress: true });
      const failing = ws.recvAll(1).catch((e) => e);
      await refused("the message being compressed", compressing, 1009);
      assert.equal((await failing).code, "ERR_MESSAGE_TOO_BIG");
      assert.equal(closeCodeOf(await wire.readFrame()), 1009, "the close frame, with no data frame before it");
      await opened.finish(1009);
    });

    test("messages compressed before close() go out before the close frame, and a send after it is refused", async (t) => {
      const opened = await open(t, role, true);
      const { ws, wire } = opened;
      const text = "compress me ".repeat(50_000);
      const first = ws.sendAll(text);
      const second = ws.send("and me");
      const closing = ws.close(1000, "done");
      await refused("a send after close()", ws.send("too late"), 1000);
      const frames = [await wire.readFrame(), await wire.readFrame(), await wire.readFrame()];
      assert.deepEqual(frames.map((f) => [f?.opcode, (f!.rsv & 4) !== 0]), [[1, true], [1, true], [8, false]]);
      await withTimeout(Promise.all([first, second]), 5000, "the two sends before close() to resolve");
      await opened.finish(1000);
      assert.equal((await withTimeout(closing, 5000, "close()")).code, 1000);
    });
  });
}

describe("a hub's frames after the close frame", () => {
  test("publish to a subscriber whose connection failed reaches nobody and writes nothing", async (t) => {
    for (const deflate of [false, true]) {
      const opened = await open(t, "server", deflate);
      const { ws, wire } = opened;
      ws.subscribe("news");
      assert.equal(ws.publish("news", "before", { includeSelf: true }), 1);
      const before = await wire.readFrame();
      assert.equal(before?.opcode, 1, "the publish before the failure");
      await wire.send(opened.frame(0xa1, "bad"));
      assert.equal(closeCodeOf(await wire.readFrame()), 1002);
      // Whether or not the connection is gone yet (Bun's server closes TCP at once), nothing is written.
      assert.equal(opened.publish!("news", "after"), 0, "publish after our close frame");
      await opened.finish(1002);
    }
  });
});
