import { describe, test } from "./_test.ts";
import assert from "node:assert/strict";
import { Opcode } from "../src/codec/frame.ts";
import { TimeoutError } from "../src/errors.ts";
import { RawPeer, rawFrame, socketPair } from "./_helpers.ts";
import { ManualClock } from "./_clock.ts";
import { WebSocketConnection } from "../src/connection/connection.ts";
import { nodeSocketTransport } from "../src/transport/node.ts";

/** Asserts nothing went out before now: the next frame is the marker `ws` sends after this call. */
async function assertNothingSent(peer: RawPeer, what: string): Promise<void> {
  await peer.ws.send("marker");
  const frame = await peer.readFrame();
  assert.equal(frame?.opcode, Opcode.Text, `${what}: got opcode ${frame?.opcode} before the marker`);
  assert.equal(new TextDecoder().decode(frame!.payload), "marker");
}

/** Reads `ws`'s messages until a pong, skipping the peer's pings. */
async function recvPong(ws: WebSocketConnection): Promise<void> {
  for (;;) {
    const msg = await ws.recv();
    if (msg.type === "pong") return;
    assert.equal(msg.type, "ping", `expected only pings and pongs, got ${msg.type}`);
  }
}

// Every timer below runs on a ManualClock: the tests move time by hand and
// assert the bytes on the wire at each step, so a loaded machine cannot make
// a ping or a timeout come early or late.
describe("keepalive", () => {
  test("a silent connection is pinged after pingInterval, and a pong keeps it open", async (t) => {
    const clock = new ManualClock();
    const peer = new RawPeer(t, "server", { pingInterval: 100, pingTimeout: 200, clock });
    await clock.advance(99);
    await assertNothingSent(peer, "99 ms of silence");
    await clock.advance(1);
    const ping = await peer.readFrame();
    assert.equal(ping?.opcode, Opcode.Ping, "a ping after 100 ms of silence");
    await peer.write(rawFrame(0x8a, ping!.payload));
    assert.equal((await peer.ws.recv()).type, "pong");
    // Past pingTimeout: the pong proved the peer alive, so no close.
    await clock.advance(200);
    await assertNothingSent(peer, "pingTimeout after an answered ping");
    // The next silent interval brings the next ping.
    await clock.advance(1);
    assert.equal((await peer.readFrame())?.opcode, Opcode.Ping, "the next keepalive ping");
    assert.equal(peer.ws.readyState, 1, "still OPEN");
    await peer.write(rawFrame(0x88, [0x03, 0xe8]));
    assert.equal(await peer.readCloseCode(), 1000, "the close echoed");
    await peer.end();
    assert.equal((await peer.ws.closed).wasClean, true);
  });

  test("a peer that never answers is dropped after pingTimeout with 1011 and a TimeoutError", async (t) => {
    const clock = new ManualClock();
    const peer = new RawPeer(t, "server", { pingInterval: 50, pingTimeout: 100, closeTimeout: 10000, clock });
    await clock.advance(50);
    assert.equal((await peer.readFrame())?.opcode, Opcode.Ping);
    await clock.advance(99);
    await assertNothingSent(peer, "99 ms after an unanswered ping");
    await clock.advance(1);
    const info = await peer.ws.closed;
    assert.equal(info.code, 1011);
    assert.equal(info.wasClean, false);
    assert.ok(info.error instanceof TimeoutError, String(info.error));
    // No closing handshake with a dead peer: the transport is cut at once
    // (the in-memory one discards what was queued, so the 1011 frame may or
    // may not get out before the cut).
    const last = await peer.readFrame().catch(() => null);
    if (last !== null) {
      assert.equal(last.opcode, Opcode.Close);
      assert.equal((last.payload[0] << 8) | last.payload[1], 1011);
    }
  });

  test("traffic from the peer counts as a sign of life: no ping while data flows", async (t) => {
    const clock = new ManualClock();
    const peer = new RawPeer(t, "server", { pingInterval: 150, pingTimeout: 150, clock });
    // 400 ms in steps of 50, a message in each: never 150 ms of silence.
    for (let i = 0; i < 8; i++) {
      await peer.write(rawFrame(0x81, `tick ${i}`));
      assert.equal((await peer.ws.recv()).data, `tick ${i}`);
      await clock.advance(50);
    }
    const closing = peer.ws.close();
    const opcodes: number[] = [];
    for (let f = await peer.readFrame(); f !== null; f = await peer.readFrame()) {
      opcodes.push(f.opcode);
      if (f.opcode === Opcode.Close) break;
    }
    assert.deepEqual(opcodes, [Opcode.Close], "a ping was sent although the peer kept talking");
    await peer.write(rawFrame(0x88, [0x03, 0xe8]));
    await peer.end();
    assert.equal((await closing).wasClean, true);
  });

  test("keepalive pings over real TCP are answered and keep both sides open", async (t) => {
    // A clock per side, moved one at a time: each side's ping and the pong
    // that answers it cross real TCP while that side's time stands still.
    const clientClock = new ManualClock();
    const serverClock = new ManualClock();
    const { clientSocket, serverSocket } = await socketPair(t);
    const keepalive = { pingInterval: 50, pingTimeout: 100 };
    const client = new WebSocketConnection(nodeSocketTransport(clientSocket), { ...keepalive, clock: clientClock, role: "client" });
    const server = new WebSocketConnection(nodeSocketTransport(serverSocket), { ...keepalive, clock: serverClock, role: "server" });
    await client.send("hello");
    assert.equal((await server.recvAll()).data, "hello");
    // Each round sends one keepalive ping from each side and waits for its
    // pong; the next round passes the pingTimeout check: six in all.
    for (let round = 0; round < 6; round++) {
      await clientClock.advance(100);
      await recvPong(client);
      await serverClock.advance(100);
      await recvPong(server);
    }
    assert.deepEqual([client.readyState, server.readyState], [1, 1], "both still OPEN");
    await client.send("after pings");
    const received: string[] = [];
    for (;;) {
      const msg = await server.recv();
      if (msg.type === "text") {
        received.push(msg.data as string);
        break;
      }
      assert.ok(msg.type === "ping" || msg.type === "pong", msg.type);
    }
    assert.deepEqual(received, ["after pings"]);
    const [info] = await Promise.all([client.close(), server.closed]);
    assert.equal(info.wasClean, true);
    clientSocket.destroy();
    serverSocket.destroy();
  });
});

describe("idleTimeout", () => {
  test("closes with 1001 when no data frame arrives in time; pings do not count", async (t) => {
    const clock = new ManualClock();
    const peer = new RawPeer(t, "server", { idleTimeout: 200, pingInterval: 0, clock });
    await peer.write(rawFrame(0x81, "one"));
    assert.equal((await peer.ws.recv()).data, "one");
    await clock.advance(100);
    // A ping at 100 ms: answered, but not data.
    await peer.write(rawFrame(0x89, "not data"));
    assert.equal((await peer.ws.recv()).type, "ping");
    assert.equal((await peer.readFrame())?.opcode, Opcode.Pong);
    await clock.advance(99);
    await assertNothingSent(peer, "199 ms without data");
    await clock.advance(1);
    assert.equal(await peer.readCloseCode(), 1001, "a 1001 close after 200 ms without data");
    await peer.write(rawFrame(0x88, [0x03, 0xe9]));
    await peer.end();
    assert.equal((await peer.ws.closed).code, 1001);
  });

  test("a data frame restarts the idle wait", async (t) => {
    const clock = new ManualClock();
    const peer = new RawPeer(t, "server", { idleTimeout: 200, pingInterval: 0, clock });
    await clock.advance(150);
    await peer.write(rawFrame(0x81, "still here"));
    assert.equal((await peer.ws.recv()).data, "still here");
    await clock.advance(199);
    await assertNothingSent(peer, "199 ms after the last data frame");
    await clock.advance(1);
    assert.equal(await peer.readCloseCode(), 1001);
  });
});

describe("fragment floods", () => {
  test("100,000 one-byte fragments reassemble with recvAll", async (t) => {
    const peer = new RawPeer(t, "server", { pingInterval: 0 });
    const count = 100_000;
    const frames: Uint8Array[] = [rawFrame(0x02, [0])];
    for (let i = 1; i < count - 1; i++) frames.push(rawFrame(0x00, [i & 0xff]));
    frames.push(rawFrame(0x80, [(count - 1) & 0xff]));
    const wire = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    frames.reduce((at, f) => (wire.set(f, at), at + f.length), 0);
    const writing = (async () => {
      for (let i = 0; i < wire.length; i += 65536) await peer.write(wire.subarray(i, i + 65536));
    })();
    const msg = await peer.ws.recvAll();
    await writing;
    const data = msg.data as Uint8Array;
    assert.equal(data.length, count);
    assert.ok(data.every((b, i) => b === (i & 0xff)));
    await peer.ws.close();
  });

  test("a fragmented text message over maxMessageSize fails with 1009 as it arrives", async (t) => {
    const peer = new RawPeer(t, "server", { pingInterval: 0, maxMessageSize: 1000 });
    const reading = peer.ws.recvAll();
    await peer.write(rawFrame(0x01, "x".repeat(600)));
    await peer.write(rawFrame(0x00, "é".repeat(250))); // 500 bytes, 250 characters
    await assert.rejects(reading, (e: Error & { closeCode?: number }) => e.closeCode === 1009);
    assert.equal(await peer.readCloseCode(), 1009);
  });
});
