import { assertBytesEqual, describe, type TestContext, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { Message } from "../src/message.ts";
import { ConnectionClosedError, MessageTooBigError, ProtocolError } from "../src/errors.ts";
import { Buffer } from "node:buffer";
import { Opcode } from "../src/codec/frame.ts";
import { WebSocketConnection } from "../src/connection/connection.ts";
import { streamTransport } from "../src/transport/streams.ts";
import { memoryPair, type Pair, RawPeer, rawFrame, randomBytes, socketPair, tcpPair } from "./_helpers.ts";
import { ManualClock } from "./_clock.ts";
import { nodeSocketTransport } from "../src/transport/node.ts";
import { shellOf } from "../src/connection/connection.ts";
import { closeCodeOf, Wire } from "./_wire.ts";

const text = (s: string) => new TextEncoder().encode(s);

async function closeBoth(pair: Pair): Promise<void> {
  await Promise.all([pair.client.close(), pair.server.closed]);
  await pair.dispose();
}

const transports: [string, (t: TestContext, o?: Parameters<typeof memoryPair>[1]) => Promise<Pair> | Pair][] = [
  ["in memory", memoryPair],
  ["over TCP", tcpPair],
];

for (const [where, makePair] of transports) {
  describe(`round trips ${where}`, () => {
    test("text and binary messages of every length class arrive intact, both ways", async (t) => {
      const pair = await makePair(t, { maxFrameSize: 2 * 1024 * 1024 });
      for (const length of [0, 125, 126, 65535, 65536, 1024 * 1024 + 1]) {
        const bin = randomBytes(length, length);
        const str = "aé✓𝄞".repeat(Math.ceil(length / 10)).slice(0, length);
        // Receive while sending: backpressure (rightly) stalls a sender that
        // waits for megabytes nobody reads.
        const sending = pair.client.send(bin).then(() => pair.client.send(str));
        const b = await pair.server.recv();
        const s = await pair.server.recv();
        await sending;
        assert.equal(b.type, "binary");
        assertBytesEqual(b.data, bin, `binary ${length}`);
        assert.equal(s.type, "text");
        assertBytesEqual(s.data, str, `text ${length}`);
        const replying = pair.server.send(new Message(bin, "binary")).then(() => pair.server.send(new Message(str, "text")));
        assertBytesEqual((await pair.client.recv()).data, bin, `binary ${length} back`);
        assertBytesEqual((await pair.client.recv()).data, str, `text ${length} back`);
        await replying;
      }
      await closeBoth(pair);
    });

    test("pings are answered with pongs and still surface through recv", async (t) => {
      const pair = await makePair(t);
      await pair.client.send(new Message(text("are you there"), "ping"));
      const ping = await pair.server.recv();
      assert.equal(ping.type, "ping");
      assert.deepEqual(ping.data, text("are you there"));
      const pong = await pair.client.recv();
      assert.equal(pong.type, "pong");
      assert.deepEqual(pong.data, text("are you there"));
      await closeBoth(pair);
    });

    test("autoPong: false leaves pings to the application", async (t) => {
      const pair = await makePair(t, { autoPong: false });
      await pair.client.send(new Message(text("1"), "ping"));
      assert.equal((await pair.server.recv()).type, "ping");
      await pair.server.send("after");
      // The next frame the client sees is the text, not a pong.
      const next = await pair.client.recv();
      assert.equal(next.type, "text");
      await closeBoth(pair);
    });

    test("partial sends arrive as partial frames with their message's type, and recvAll joins them", async (t) => {
      const pair = await makePair(t);
      await pair.client.send(new Message("Hel", "text", true));
      await pair.client.send(new Message("lo ", "text", true));
      await pair.client.send(new Message("world", "text"));
      const frames = [await pair.server.recv(), await pair.server.recv(), await pair.server.recv()];
      assert.deepEqual(frames.map((m) => [m.type, m.partial, m.data]), [
        ["text", true, "Hel"],
        ["text", true, "lo "],
        ["text", false, "world"],
      ]);
      await pair.client.send(new Message(new Uint8Array([1, 2]), "binary", true));
      await pair.client.send(new Message(new Uint8Array([3]), "binary"));
      const whole = await pair.server.recvAll();
      assert.equal(whole.partial, false);
      assert.deepEqual(whole.data, new Uint8Array([1, 2, 3]));
      await closeBoth(pair);
    });

    test("sendAll and recvAll move 16 MiB of random bytes in 1 MiB frames (the Gerbil test)", async (t) => {
      const pair = await makePair(t);
      const data = randomBytes(16 * 1024 * 1024, 99);
      const frames: boolean[] = [];
      const sent = pair.client.sendAll(data);
      const received = (async () => {
        // Count the frames by reading them one at a time, then compare the whole.
        const parts: Uint8Array[] = [];
        for (;;) {
          const m = await pair.server.recv();
          frames.push(m.partial);
          parts.push(m.data as Uint8Array);
          if (!m.partial) break;
        }
        return parts;
      })();
      await sent;
      const parts = await received;
      assert.equal(frames.length, 16);
      assert.ok(parts.every((p) => p.length === 1024 * 1024));
      const joined = new Uint8Array(data.length);
      parts.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
      assertBytesEqual(joined, data, "the 16 frames joined");

      const back = pair.server.sendAll(data);
      const message = await pair.client.recvAll(16 * 1024 * 1024);
      await back;
      assertBytesEqual(message.data, data, "the message recvAll returned");
      await closeBoth(pair);
    });

    test("sendAll splits text at character boundaries and recvAll rebuilds it", async (t) => {
      const pair = await makePair(t, { maxFrameSize: 7 });
      const message = "𝄞é✓".repeat(50);
      await pair.client.sendAll(message);
      const got = await pair.server.recvAll();
      assert.equal(got.data, message);
      await closeBoth(pair);
    });

    test("sendAll sends text that fits maxFrameSize in UTF-8 bytes as one frame, one byte more as two", async (t) => {
      const pair = await makePair(t, { maxFrameSize: 10 });
      await pair.client.sendAll("ééééé"); // 5 UTF-16 units, 10 bytes
      const whole = await pair.server.recv();
      assert.deepEqual([whole.data, whole.partial], ["ééééé", false]);
      await pair.client.sendAll("éééééa"); // 11 bytes
      const first = await pair.server.recv();
      const second = await pair.server.recv();
      assert.deepEqual([first.data, first.partial, second.data, second.partial], ["ééééé", true, "a", false]);
      await closeBoth(pair);
    });

    test("for await yields whole data messages, skips pings, and ends at the peer's close", async (t) => {
      const pair = await makePair(t);
      const received: (string | Uint8Array)[] = [];
      const reading = (async () => {
        for await (const msg of pair.server) received.push(msg.data);
      })();
      await pair.client.send("one");
      await pair.client.send(new Message(new Uint8Array(0), "ping"));
      await pair.client.send(new Message("tw", "text", true));
      await pair.client.send(new Message("o", "text"));
      await pair.client.send(new Uint8Array([3]));
      const info = await pair.client.close(1000, "done");
      await reading;
      assert.deepEqual(received, ["one", "two", new Uint8Array([3])]);
      // closed reports the peer's close frame, as WHATWG's close event does: the echo has no reason.
      assert.deepEqual(info, { code: 1000, reason: "", wasClean: true });
      assert.deepEqual(await pair.server.closed, { code: 1000, reason: "done", wasClean: true });
      await pair.dispose();
    });

    test("readable and writable streams carry whole messages", async (t) => {
      const pair = await makePair(t, { maxFrameSize: 1024 });
      const writer = pair.client.writable.getWriter();
      await writer.write("hello");
      await writer.write(randomBytes(5000, 1)); // larger than maxFrameSize: fragmented
      await writer.close();
      const got: (string | Uint8Array)[] = [];
      for await (const msg of pair.server.readable) got.push(msg.data);
      assert.equal(got.length, 2);
      assert.equal(got[0], "hello");
      assertBytesEqual(got[1], randomBytes(5000, 1), "the fragmented binary message");
      assert.equal((await pair.server.closed).code, 1000);
      await pair.dispose();
    });

    test("the closing handshake: both sides resolve closed cleanly and nothing sent before is lost", async (t) => {
      const pair = await makePair(t);
      const count = 1000;
      for (let i = 0; i < count; i++) void pair.client.send(`message ${i}`);
      const closing = pair.client.close(4000, "enough");
      const received: string[] = [];
      for await (const msg of pair.server) received.push(msg.data as string);
      assert.equal(received.length, count);
      assert.equal(received[count - 1], `message ${count - 1}`);
      assert.deepEqual(await closing, { code: 4000, reason: "", wasClean: true });
      assert.deepEqual(await pair.server.closed, { code: 4000, reason: "enough", wasClean: true });
      await pair.dispose();
    });

    test("close is idempotent; send and recv after it reject with ConnectionClosedError", async (t) => {
      const pair = await makePair(t);
      const first = pair.client.close();
      const second = pair.client.close(4001);
      assert.equal(first, second);
      await first;
      await assert.rejects(pair.client.send("late"), ConnectionClosedError);
      const closeMsg = await pair.server.recv();
      assert.equal(closeMsg.type, "close");
      assert.equal(closeMsg.code, 1000);
      await assert.rejects(pair.server.recv(), ConnectionClosedError);
      const echo = await pair.client.recv();
      assert.deepEqual([echo.type, echo.code], ["close", 1000]);
      await assert.rejects(pair.client.recv(), ConnectionClosedError);
      await pair.dispose();
    });

    test("send rejects a frame over maxFrameSize with RangeError and sends nothing", async (t) => {
      const pair = await makePair(t, { maxFrameSize: 10 });
      await assert.rejects(pair.client.send(new Uint8Array(11)), RangeError);
      await assert.rejects(pair.client.send("x".repeat(11)), RangeError);
      await assert.rejects(pair.client.send(new Message(new Uint8Array(126), "ping")), RangeError);
      await pair.client.send("ok");
      assert.equal((await pair.server.recv()).data, "ok");
      await closeBoth(pair);
    });
  });
}

describe("receiver rules through the connection (crafted bytes)", () => {
  const serverCases: [string, Uint8Array[], number][] = [
    ["an unmasked frame", [rawFrame(0x81, "x", null)], 1002],
    ["RSV1 without an extension", [rawFrame(0xc1, "x")], 1002],
    ["a reserved opcode", [rawFrame(0x83, "")], 1002],
    ["a reserved control opcode", [rawFrame(0x8b, "")], 1002],
    ["a ping of 126 bytes", [rawFrame(0x89, new Uint8Array(126))], 1002],
    ["a fragmented ping", [rawFrame(0x09, "")], 1002],
    ["a continuation without a message", [rawFrame(0x80, "x")], 1002],
    ["a new message inside a fragmented one", [rawFrame(0x01, "a"), rawFrame(0x81, "b")], 1002],
    ["a 64-bit length with the MSB set", [new Uint8Array([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4])], 1002],
    ["a frame over maxFrameSize", [rawFrame(0x82, new Uint8Array(0), [1, 2, 3, 4], 2 * 1024 * 1024)], 1009],
    ["a close payload of 1 byte", [rawFrame(0x88, [3])], 1002],
    ["a close code that may not be sent (1005)", [rawFrame(0x88, [0x03, 0xed])], 1002],
    ["a close code that may not be sent (999)", [rawFrame(0x88, [0x03, 0xe7])], 1002],
    ["a close reason that is not UTF-8", [rawFrame(0x88, [0x03, 0xe8, 0xff])], 1007],
    ["invalid UTF-8 in a text message", [rawFrame(0x81, [0xce, 0xba, 0xed, 0xa0, 0x80])], 1007],
  ];
  for (const [name, frames, code] of serverCases) {
    test(`a server receiving ${name} fails the connection with ${code}`, async (t) => {
      const peer = new RawPeer(t, "server");
      // Read until recv rejects: valid frames before the bad one are delivered first.
      const pending = (async () => {
        for (;;) await peer.ws.recv();
      })();
      await peer.write(...frames);
      const err = await pending.catch((e) => e);
      assert.ok(err instanceof (code === 1009 ? MessageTooBigError : ProtocolError), String(err));
      assert.equal(err.closeCode, code);
      assert.equal(await peer.readCloseCode(), code);
      assert.ok(await peer.readEnd(), "the server closed the transport");
      const info = await peer.ws.closed;
      assert.equal(info.code, code);
      assert.equal(info.wasClean, false);
      assert.equal(info.error, err);
    });
  }

  test("a client receiving a masked frame fails the connection with 1002", async (t) => {
    const peer = new RawPeer(t, "client");
    await peer.write(rawFrame(0x81, "x", [1, 2, 3, 4]));
    assert.equal(await peer.readCloseCode(), 1002);
    assert.equal((await peer.ws.closed).code, 1002);
  });

  test("close twice: only one close frame goes out, and the second call returns the same promise", async (t) => {
    const peer = new RawPeer(t, "client");
    const first = peer.ws.close();
    const second = peer.ws.close(4001, "again");
    assert.equal(first, second);
    const frame = await peer.readFrame();
    assert.deepEqual([frame?.opcode, frame?.payload[0], frame?.payload[1]], [0x08, 0x03, 0xe8]);
    // The server's answer and its TCP close complete the handshake (§7.1.1).
    await peer.write(rawFrame(0x88, [0x03, 0xe8], null));
    await peer.end();
    assert.deepEqual(await first, { code: 1000, reason: "", wasClean: true });
    assert.equal(await peer.readFrame(), null, "nothing after the one close frame");
  });

  test("invalid UTF-8 fails fast, after the first fragment, before the message ends", async (t) => {
    const peer = new RawPeer(t, "server");
    await peer.write(rawFrame(0x01, [0x61, 0xf4, 0x90]));
    assert.equal(await withTimeout(peer.readCloseCode(), 2000, "the 1007 close"), 1007);
  });

  test("a UTF-8 sequence split across fragments completes in the next partial frame", async (t) => {
    const full = text("a€𝄞b");
    for (let cut = 1; cut < full.length; cut++) {
      const peer = new RawPeer(t, "server");
      await peer.write(rawFrame(0x01, full.subarray(0, cut)), rawFrame(0x80, full.subarray(cut)));
      const first = await peer.ws.recv();
      const second = await peer.ws.recv();
      assert.equal(first.partial, true);
      assert.equal((first.data as string) + (second.data as string), "a€𝄞b", `cut at ${cut}`);
      assert.ok(!(first.data as string).includes("\uFFFD"));
      await peer.ws.close();
    }
  });

  test("control frames between fragments are kept by recvAll and returned afterwards", async (t) => {
    const peer = new RawPeer(t, "server");
    await peer.write(rawFrame(0x01, "Hel"), rawFrame(0x89, "p1"), rawFrame(0x8a, "p2"), rawFrame(0x80, "lo"));
    const whole = await peer.ws.recvAll();
    assert.equal(whole.data, "Hello");
    assert.equal((await peer.ws.recv()).type, "ping");
    assert.equal((await peer.ws.recv()).type, "pong");
    const pong = await peer.readFrame();
    assert.equal(pong?.opcode, Opcode.Pong);
    assert.deepEqual(pong?.payload, text("p1"));
  });

  test("recvAll fails with 1009 when the message exceeds maxMessageSize, counting every frame", async (t) => {
    const peer = new RawPeer(t, "server");
    await peer.write(rawFrame(0x02, new Uint8Array(6)), rawFrame(0x80, new Uint8Array(5)));
    await assert.rejects(peer.ws.recvAll(10), (e: MessageTooBigError) => e.closeCode === 1009);
    assert.equal(await peer.readCloseCode(), 1009);
  });

  test("data after a close frame is ignored", async (t) => {
    const peer = new RawPeer(t, "server");
    await peer.write(rawFrame(0x88, [0x03, 0xe8]), rawFrame(0x81, "late"));
    const msg = await peer.ws.recv();
    assert.equal(msg.type, "close");
    await assert.rejects(peer.ws.recv(), ConnectionClosedError);
    assert.equal(await peer.readCloseCode(), 1000);
  });

  test("an empty close is echoed empty and reported as 1005", async (t) => {
    const peer = new RawPeer(t, "server");
    await peer.write(rawFrame(0x88, []));
    assert.equal(await peer.readCloseCode(), null);
    assert.equal((await peer.ws.closed).code, 1005);
  });

  test("the server closes TCP first once both close frames are exchanged", async (t) => {
    const peer = new RawPeer(t, "server");
    await peer.write(rawFrame(0x88, [0x03, 0xe8]));
    assert.equal(await peer.readCloseCode(), 1000);
    assert.ok(await peer.readEnd(), "server ended the transport without waiting for the client");
    const info = await peer.ws.closed;
    assert.equal(info.wasClean, true);
  });

  test("the client waits for the server to close TCP after the handshake", async (t) => {
    const clock = new ManualClock();
    const peer = new RawPeer(t, "client", { closeTimeout: 5000, clock });
    const closing = peer.ws.close(1000);
    assert.equal(await peer.readCloseCode(), 1000);
    await peer.write(rawFrame(0x88, [0x03, 0xe8], null));
    let settled = false;
    void closing.then(() => (settled = true));
    await clock.advance(4999);
    assert.equal(settled, false, "client closed before the server ended TCP");
    await peer.end();
    assert.deepEqual(await closing, { code: 1000, reason: "", wasClean: true });
  });

  test("a peer that never answers close is cut off after closeTimeout with 1006", async (t) => {
    const clock = new ManualClock();
    const peer = new RawPeer(t, "server", { closeTimeout: 100, clock });
    let settled = false;
    const closing = peer.ws.close(1000).finally(() => (settled = true));
    assert.equal(await peer.readCloseCode(), 1000);
    await clock.advance(99);
    assert.equal(settled, false, "gave up before closeTimeout");
    await clock.advance(1);
    const info = await closing;
    assert.equal(info.code, 1006);
    assert.equal(info.wasClean, false);
    assert.equal(await peer.readFrame().catch(() => null), null, "nothing after the close frame, then the cut");
  });

  test("a transport that vanishes mid-frame rejects a pending recv with a typed 1006 error", async (t) => {
    const peer = new RawPeer(t, "server");
    const pending = peer.ws.recv();
    await peer.write(rawFrame(0x82, new Uint8Array(100)).subarray(0, 20));
    await peer.end();
    const err = await pending.then(() => assert.fail("recv resolved"), (e) => e);
    assert.ok(err instanceof ConnectionClosedError);
    assert.equal(err.closeCode, 1006);
    assert.equal((await peer.ws.closed).code, 1006);
    await assert.rejects(peer.ws.send("x"), ConnectionClosedError);
  });

  test("the client masks every frame with a fresh key and never modifies the caller's bytes", async (t) => {
    const peer = new RawPeer(t, "client");
    const data = randomBytes(64, 1);
    const copy = data.slice();
    const count = 64;
    for (let i = 0; i < count; i++) await peer.ws.send(data);
    assert.deepEqual(data, copy);
    const keys = new Set<string>();
    for (let i = 0; i < count; i++) {
      const frame = await peer.readFrame();
      assert.ok(frame !== null, `frame ${i}`);
      assert.deepEqual(frame.payload, copy, `frame ${i}'s payload, unmasked`);
      // The parser read the key from the frame (the mask bit is checked there, RFC 6455 §5.1).
      assert.equal(frame.maskKey?.length, 4, `frame ${i}'s masking key`);
      keys.add(Array.from(frame.maskKey!).join(","));
    }
    // A fresh, unpredictable key per frame (§5.3): 64 keys of 32 random bits do not repeat (or all be zero).
    assert.equal(keys.size, count, `only ${keys.size} distinct masking keys in ${count} frames`);
    assert.ok(!keys.has("0,0,0,0"), "an all-zero key leaves the payload unmasked");
  });
});

// A close frame holds 123 bytes of reason (RFC 6455 §5.5): a longer one is
// cut at a character boundary, or the frame could not be built at all and the
// connection would stay open.
describe("failing a connection with a close reason over 123 bytes, over TCP", () => {
  for (const role of ["server", "client"] as const) {
    test(`a ${role} failed with 200 bytes of 'é' writes exactly one close frame of at most 125 bytes`, async (t) => {
      const { clientSocket, serverSocket } = await socketPair(t);
      const ws = new WebSocketConnection(nodeSocketTransport(role === "server" ? serverSocket : clientSocket), {
        role,
        pingInterval: 0,
      });
      t.after(() => ws.terminate());
      const peer = new Wire(role === "server" ? clientSocket : serverSocket, role === "client");
      // How the receiver, the deflate stage and the backpressure policy fail a connection.
      shellOf(ws).fail(new ProtocolError("é".repeat(100), { code: "ERR_LONG_REASON", closeCode: 1008 }));
      const close = await peer.expectFrame();
      assert.equal(closeCodeOf(close), 1008);
      assert.ok(close.payload.length <= 125, `a close payload of ${close.payload.length} bytes`);
      const reason = new TextDecoder("utf-8", { fatal: true }).decode(close.payload.subarray(2));
      assert.equal(reason, "é".repeat(61));
      // A server closes TCP after failing; a client waits for the server to (§7.1.1).
      if (role === "client") peer.end();
      assert.equal(await peer.readFrame(), null, "nothing after the one close frame");
      const info = await withTimeout(ws.closed, 5000, "closed of the failed connection");
      assert.deepEqual([info.code, info.reason, info.wasClean], [1008, "é".repeat(61), false]);
    });
  }
});

describe("nothing sent before a close is lost", () => {
  test("close() during a multi-frame sendAll lets it, and sends issued before close(), finish first", async (t) => {
    const pair = await tcpPair(t, { pingInterval: 0 });
    const big = randomBytes(3 * 1024 * 1024 + 5, 3);
    const sending = pair.client.sendAll(big);
    const after = pair.client.send("after");
    const closing = pair.client.close(1000, "done");
    await assert.rejects(pair.client.send("too late"), ConnectionClosedError);
    const received: (string | Uint8Array)[] = [];
    for await (const msg of pair.server) received.push(msg.data);
    await Promise.all([sending, after]);
    assert.equal(received.length, 2);
    assertBytesEqual(received[0], big, "the message sendAll sent before close()");
    assert.equal(received[1], "after");
    assert.equal((await closing).wasClean, true);
    assert.deepEqual(await pair.server.closed, { code: 1000, reason: "done", wasClean: true });
    await pair.dispose();
  });

  test("an echo server answers messages that arrived in the same read as the peer's close", async (t) => {
    const peer = new RawPeer(t, "server");
    const echoing = (async () => {
      for await (const msg of peer.ws) await peer.ws.send(msg);
    })();
    await peer.write(new Uint8Array([...rawFrame(0x81, "one"), ...rawFrame(0x81, "two"), ...rawFrame(0x88, [0x0f, 0xa0])]));
    const frames = [await peer.readFrame(), await peer.readFrame(), await peer.readFrame()];
    assert.deepEqual(frames.map((f) => f?.opcode), [Opcode.Text, Opcode.Text, Opcode.Close]);
    assert.deepEqual(frames.slice(0, 2).map((f) => new TextDecoder().decode(f!.payload)), ["one", "two"]);
    // The answer echoes the peer's code, even though the handler's end would ask for 1000.
    assert.deepEqual(Array.from(frames[2]!.payload), [0x0f, 0xa0]);
    await echoing;
    assert.equal((await peer.ws.closed).code, 4000);
  });

  test("a peer that closes TCP right after its close frame (as uWS does) ends the connection cleanly with its code", async (t) => {
    const peer = new RawPeer(t, "client");
    await peer.write(rawFrame(0x88, [0x0f, 0xa2, ...new TextEncoder().encode("bye")], null));
    await peer.end();
    assert.deepEqual(await peer.ws.closed, { code: 4002, reason: "bye", wasClean: true });
  });

  test("bytes handed over with the HTTP head reach the application as plain Uint8Arrays", async (t) => {
    const down = new TransformStream<Uint8Array, Uint8Array>();
    const up = new TransformStream<Uint8Array, Uint8Array>();
    // node:http gives the upgrade head as a Buffer; payload views of it must not leak out as Buffers.
    const head = Buffer.from(rawFrame(0x82, [1, 2, 3]));
    const ws = new WebSocketConnection(streamTransport({ readable: up.readable, writable: down.writable }), {
      role: "server",
      head,
      pingInterval: 0,
    });
    t.after(() => ws.terminate());
    const msg = await ws.recv();
    assert.equal(Object.getPrototypeOf(msg.data), Uint8Array.prototype);
    assert.deepEqual(msg.data, new Uint8Array([1, 2, 3]));
    const closing = ws.close();
    await up.writable.getWriter().abort();
    await closing;
  });
});

describe("backpressure over TCP", () => {
  test("a peer that never reads makes send wait instead of buffering without bound", async (t) => {
    const pair = await tcpPair(t, { closeTimeout: 500 });
    // The server application never calls recv: its inbox fills, it stops
    // reading, TCP windows fill, and the client's sends must start to wait.
    const chunk = new Uint8Array(256 * 1024);
    let sent = 0;
    let blocked = false;
    for (let i = 0; i < 400; i++) {
      const done = await Promise.race([
        pair.client.send(chunk).then(() => true),
        // A sleep, because it must be: a send that waits is the absence of its resolution; 300 ms without it is
        // what "blocked" means here (an unbounded buffer would take each 256 KiB at once).
        new Promise<boolean>((r) => setTimeout(() => r(false), 300)),
      ]);
      if (!done) {
        blocked = true;
        break;
      }
      sent++;
    }
    assert.ok(blocked, `all ${sent} sends of 256 KiB completed although nobody read`);
    assert.ok(pair.client.bufferedAmount < 8 * 1024 * 1024, `client buffered ${pair.client.bufferedAmount} bytes`);
    // Once the server reads, everything arrives.
    let received = 0;
    while (received <= sent) {
      const msg = await withTimeout(pair.server.recv(), 5000, "reading the backlog");
      assert.equal((msg.data as Uint8Array).length, chunk.length);
      received++;
    }
    await closeBoth(pair);
  });
});

// Both peers wait to send while the other is still reading: with reading
// paused on every congestion, each would wait for the other forever.
describe("two peers sending large messages to each other at once", () => {
  test("both keep reading while they wait to send, so neither waits for the other forever", async (t) => {
    const { client, server } = memoryPair(t, { maxFrameSize: 256 * 1024 });
    const payload = new Uint8Array(4 * 1024 * 1024).fill(7);
    const count = 4;
    const exchange = async (ws: typeof client) => {
      const reading = (async () => {
        let got = 0;
        for await (const msg of ws) {
          assert.equal((msg.data as Uint8Array).length, payload.length);
          if (++got === count) return got;
        }
        return got;
      })();
      for (let i = 0; i < count; i++) await ws.sendAll(payload);
      return reading;
    };
    const [a, b] = await withTimeout(Promise.all([exchange(client), exchange(server)]), 20_000, "the exchange");
    assert.deepEqual([a, b], [count, count]);
    await client.close();
  });
});
