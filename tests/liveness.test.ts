import { describe, test } from "./_test.ts";
import assert from "node:assert/strict";
import { Opcode } from "../src/codec/frame.ts";
import { TimeoutError } from "../src/errors.ts";
import { RawPeer, rawFrame, tcpPair } from "./_helpers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("keepalive", () => {
  test("a silent connection is pinged after pingInterval, and a pong keeps it open", async () => {
    const peer = new RawPeer("server", { pingInterval: 100, pingTimeout: 200 });
    const started = Date.now();
    const ping = await peer.readFrame();
    assert.equal(ping?.opcode, Opcode.Ping);
    assert.ok(Date.now() - started >= 90, "pinged too early");
    await peer.write(rawFrame(0x8a, ping!.payload));
    // Still open well past pingTimeout: the pong proved the peer alive.
    await sleep(300);
    await peer.ws.send("still here");
    const frames = [await peer.readFrame(), await peer.readFrame()].map((f) => f?.opcode);
    assert.ok(frames.includes(Opcode.Text), `frames after the pong: ${frames}`);
    await peer.ws.close();
  });

  test("a peer that never answers is dropped after pingTimeout with 1011 and a TimeoutError", async () => {
    const peer = new RawPeer("server", { pingInterval: 50, pingTimeout: 100, closeTimeout: 10000 });
    const started = Date.now();
    const info = await peer.ws.closed;
    const elapsed = Date.now() - started;
    assert.equal(info.code, 1011);
    assert.equal(info.wasClean, false);
    assert.ok(info.error instanceof TimeoutError, String(info.error));
    assert.ok(elapsed >= 140 && elapsed < 2000, `dropped after ${elapsed} ms`);
  });

  test("traffic from the peer counts as a sign of life: no ping while data flows", async () => {
    const peer = new RawPeer("server", { pingInterval: 150, pingTimeout: 150 });
    for (let i = 0; i < 8; i++) {
      await peer.write(rawFrame(0x81, `tick ${i}`));
      await sleep(50);
    }
    const closing = peer.ws.close();
    const opcodes: number[] = [];
    for (let f = await peer.readFrame(); f !== null; f = await peer.readFrame()) {
      opcodes.push(f.opcode);
      if (f.opcode === Opcode.Close) break;
    }
    assert.deepEqual(opcodes, [Opcode.Close], "a ping was sent although the peer kept talking");
    await peer.write(rawFrame(0x88, [0x03, 0xe8]));
    assert.equal((await closing).wasClean, true);
  });

  test("keepalive pings over real TCP are answered and keep both sides open", async () => {
    const pair = await tcpPair({ pingInterval: 50, pingTimeout: 100 });
    await pair.client.send("hello");
    assert.equal((await pair.server.recvAll()).data, "hello");
    // Both answer pings automatically, so both stay open across several intervals.
    await sleep(400);
    await pair.client.send("after pings");
    const received: string[] = [];
    for (;;) {
      const msg = await pair.server.recv();
      if (msg.type === "text") {
        received.push(msg.data as string);
        break;
      }
      assert.ok(msg.type === "ping" || msg.type === "pong", msg.type);
    }
    assert.deepEqual(received, ["after pings"]);
    await Promise.all([pair.client.close(), pair.server.closed]);
    await pair.dispose();
  });
});

describe("idleTimeout", () => {
  test("closes with 1001 when no data frame arrives in time; pings do not count", async () => {
    const peer = new RawPeer("server", { idleTimeout: 200, pingInterval: 0 });
    const started = Date.now();
    await peer.write(rawFrame(0x81, "one"));
    await sleep(100);
    await peer.write(rawFrame(0x89, "not data"));
    assert.equal(await peer.readCloseCode(), 1001);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 190, `closed after ${elapsed} ms`);
    await peer.write(rawFrame(0x88, [0x03, 0xe9]));
    assert.equal((await peer.ws.closed).code, 1001);
  });
});

describe("fragment floods", () => {
  test("100,000 one-byte fragments reassemble with recvAll", async () => {
    const peer = new RawPeer("server", { pingInterval: 0 });
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

  test("a fragmented text message over maxMessageSize fails with 1009 as it arrives", async () => {
    const peer = new RawPeer("server", { pingInterval: 0, maxMessageSize: 1000 });
    const reading = peer.ws.recvAll();
    await peer.write(rawFrame(0x01, "x".repeat(600)));
    await peer.write(rawFrame(0x00, "é".repeat(250))); // 500 bytes, 250 characters
    await assert.rejects(reading, (e: Error & { closeCode?: number }) => e.closeCode === 1009);
    assert.equal(await peer.readCloseCode(), 1009);
  });
});
