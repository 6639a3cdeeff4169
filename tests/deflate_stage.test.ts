// permessage-deflate as one ordered stage between the codec and the protocol
// core (src/extensions/permessage_deflate.ts), with real zlib and no sockets:
// frames behind one being inflated wait undecoded in the core, in order, and
// pause the transport past the backlog limit; sent frames keep their order
// behind compressed ones; a failed connection drops what waits.
import { assertBytesEqual, describe, eventually, test } from "./_test.ts";
import assert from "node:assert/strict";
import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { type Frame, Opcode } from "../src/codec/frame.ts";
import { WebSocketConnection } from "../src/connection/connection.ts";
import { INFLATE_BACKLOG_BYTES, PerMessageDeflate } from "../src/extensions/permessage_deflate.ts";
import { compressionTuning, deflateFromExtensions, withNegotiatedDeflate } from "../src/handshake/deflate_options.ts";
import type { NegotiatedDeflate } from "../src/extensions/parameters.ts";
import type { Message } from "../src/message.ts";
import { Protocol } from "../src/protocol/protocol.ts";
import { nodeZlib } from "../src/transport/zlib.ts";
import { rawFrame, recordingTransport } from "./_helpers.ts";
import { parseFrames } from "./conformance/_wire.ts";

const T = { timeout: 20_000 };
const TRAILER = new Uint8Array([0, 0, 0xff, 0xff]);
const AGREED: NegotiatedDeflate = {
  role: "server",
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

/** What a peer's compressor sends for one message: raw DEFLATE, sync flush, trailer removed. */
function compress(text: string): Uint8Array {
  const out = deflateRawSync(new TextEncoder().encode(text), { finishFlush: constants.Z_SYNC_FLUSH });
  return new Uint8Array(out.buffer, out.byteOffset, out.length - 4);
}

function inflate(payload: Uint8Array): string {
  const joined = new Uint8Array(payload.length + 4);
  joined.set(payload);
  joined.set(TRAILER, payload.length);
  return new TextDecoder().decode(inflateRawSync(joined, { finishFlush: constants.Z_SYNC_FLUSH }));
}

function text(length: number): string {
  let out = "";
  for (let i = 0; out.length < length; i++) out += `{"id":${i},"name":"é✓ item ${i % 97}"},`;
  return out.slice(0, length);
}

describe("permessage-deflate stage: receiving", () => {
  test("the typed agreement comes from the handshake, or once from a connection's extensions string", T, () => {
    assert.deepEqual(deflateFromExtensions("permessage-deflate; server_max_window_bits=10", "client"), {
      role: "client",
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 15,
    });
    assert.equal(deflateFromExtensions("", "server"), null);
    assert.throws(() => deflateFromExtensions("permessage-deflate; bogus", "server"), TypeError);
  });

  test("a connection given the handshake's agreement does not parse its extensions string again", T, async () => {
    const { transport, feed } = recordingTransport();
    // The string is only what ws.extensions reports; parsed, it would be refused.
    const extensions = "permessage-deflate; not_a_parameter";
    assert.throws(() => new WebSocketConnection(transport, { role: "client", extensions }), TypeError);
    const ws = new WebSocketConnection(
      transport,
      withNegotiatedDeflate({ role: "client", extensions, pingInterval: 0 }, { ...AGREED, role: "client" }),
    );
    assert.equal(ws.extensions, extensions);
    feed(rawFrame(0xc1, compress("inflated by the agreed stage"), null));
    assert.equal((await ws.recv()).data, "inflated by the agreed stage");
    await ws.terminate();
  });

  test("frames behind a compressed one wait undecoded in the core and come out in order", T, async () => {
    const frames: Message[] = [];
    const written: Uint8Array[] = [];
    // The wiring the connection does: the stage gives the frame back, the core goes on decoding.
    const stage: PerMessageDeflate = new PerMessageDeflate(AGREED, compressionTuning(true, "server"), 1 << 20, {
      deliver: (frame) => {
        if (protocol.receiveFrame(frame)) protocol.receiveData(new Uint8Array(0));
      },
      write: (frame) => protocol.sendFrame(frame),
      fail: (err) => protocol.failWith(err),
    }, nodeZlib);
    const protocol: Protocol = new Protocol({ role: "server", allowedRsv: 4, stage }, {
      frame: (msg) => frames.push(msg),
      write: (bytes) => written.push(bytes.slice()),
      sendEof: () => {},
      closeReceived: () => {},
      failing: () => {},
    });
    const body = text(50_000);
    const mask = [9, 8, 7, 6];
    const tail = [rawFrame(0x89, "hi", mask), rawFrame(0x81, "plain", mask)];
    const bytes = [rawFrame(0xc1, compress(body), mask), ...tail];
    const joined = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const b of bytes) {
      joined.set(b, at);
      at += b.length;
    }
    assert.equal(protocol.receiveData(joined), false);
    assert.equal(protocol.waitingForStage, true, "the stage holds the compressed frame");
    assert.equal(frames.length, 0, "nothing overtakes the frame being inflated, not even the ping");
    assert.equal(protocol.bufferedAmount, tail[0].length + tail[1].length, "what follows waits as bytes, in the decoder");
    assert.equal(written.length, 0, "no pong before the ping is decoded");
    await eventually(() => frames.length === 3, 5000, "three frames out of the stage");
    assert.deepEqual(frames.map((m) => m.type), ["text", "ping", "text"]);
    assertBytesEqual(frames[0].data, body, "the inflated message");
    assert.equal(frames[2].data, "plain");
    assert.equal(protocol.waitingForStage, false);
    const pong = parseFrames(written[0], false);
    assert.deepEqual([pong[0].opcode, new TextDecoder().decode(pong[0].payload)], [Opcode.Pong, "hi"]);
    stage.dispose(new Error("done"));
  });

  test("a backlog behind a frame being inflated pauses reading, and reading resumes once it drains", T, async () => {
    const { transport, calls, feed } = recordingTransport();
    const ws = new WebSocketConnection(transport, { role: "client", extensions: "permessage-deflate", pingInterval: 0 });
    const body = text(200_000);
    feed(rawFrame(0xc1, compress(body), null));
    const chunk = new Uint8Array(60 * 1024);
    const count = Math.ceil(INFLATE_BACKLOG_BYTES / chunk.length) + 1;
    for (let i = 0; i < count; i++) {
      chunk.fill(i);
      feed(rawFrame(0x82, chunk, null));
    }
    assert.deepEqual(calls, ["pause"], "paused by the backlog alone: nothing was delivered yet");
    const first = await ws.recv();
    assertBytesEqual(first.data, body, "the first inflated message");
    for (let i = 0; i < count; i++) {
      const msg = await ws.recv();
      assert.equal((msg.data as Uint8Array)[0], i, `binary message ${i} in order`);
    }
    assert.equal(calls.at(-1), "resume");
    await ws.terminate();
  });
});

describe("permessage-deflate stage: sending", () => {
  function sendingStage(threshold: number) {
    const out: Frame[] = [];
    const failures: unknown[] = [];
    const stage = new PerMessageDeflate(AGREED, compressionTuning({ threshold }, "server"), 1 << 20, {
      deliver: () => {},
      write: (frame) => out.push(frame),
      fail: (err) => failures.push(err),
    }, nodeZlib);
    return { stage, out, failures };
  }

  test("frames behind a compressed message, control frames too, leave in the order they were sent", T, async () => {
    const { stage, out, failures } = sendingStage(1000);
    const big = text(300_000);
    const first = stage.send(Opcode.Text, new TextEncoder().encode(big), true);
    assert.ok(first instanceof Promise, "a compressed message takes a turn");
    const small = stage.send(Opcode.Text, new TextEncoder().encode("small"), true);
    assert.ok(small instanceof Promise, "an uncompressed one behind it waits its turn");
    assert.equal(stage.queueControl({ fin: true, opcode: Opcode.Ping, payload: new Uint8Array([1]) }), true);
    assert.equal(stage.sending, true);
    assert.ok(stage.queuedBytes > 300_000);
    await Promise.all([first, small]);
    await stage.sent();
    assert.deepEqual(out.map((f) => [f.opcode, f.rsv1 === true]), [[Opcode.Text, true], [Opcode.Text, false], [Opcode.Ping, false]]);
    assertBytesEqual(inflate(out[0].payload), big, "the deflated message, inflated");
    assert.equal(stage.sending, false);
    assert.equal(stage.queuedBytes, 0);
    // Nothing waits now: an uncompressed frame is written at once.
    assert.equal(stage.send(Opcode.Binary, new Uint8Array(3), true), undefined);
    assert.equal(out.length, 4);
    assert.deepEqual(failures, []);
    stage.dispose(new Error("done"));
  });

  test("a failed connection drops what waits: pending sends reject with its error, zlib is released", T, async () => {
    const { stage, out } = sendingStage(0);
    const pending = [
      stage.send(Opcode.Text, new TextEncoder().encode(text(100_000)), true)!,
      stage.send(Opcode.Binary, new Uint8Array(10), true)!,
    ];
    const error = new Error("the connection failed");
    stage.dispose(error);
    assert.equal(stage.sending, false);
    assert.deepEqual(stage.holdsZlib, { deflate: false, inflate: false });
    for (const p of pending) await assert.rejects(p, (err) => err === error);
    await stage.sent();
    assert.equal(out.length, 0, "nothing was written after the failure");
    assert.equal(stage.queueControl({ fin: true, opcode: Opcode.Close, payload: new Uint8Array(0) }), false, "a close frame goes out at once");
  });
});
