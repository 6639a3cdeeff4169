// The sans-I/O protocol core (src/protocol/), driven with bytes alone: no
// sockets, no timers. What it writes is read back with the conformance
// suite's own frame parser, not the library's decoder.
import { assertBytesEqual, describe, test } from "./_test.ts";
import assert from "node:assert/strict";
import { type CloseInfo, type ProtocolOptions, State } from "../src/protocol/types.ts";
import { Protocol, truncateReason } from "../src/protocol/protocol.ts";
import type { Message } from "../src/message.ts";
import { WebSocketConnection } from "../src/connection/connection.ts";
import { INBOX_HIGH_WATER_BYTES, INBOX_HIGH_WATER_COUNT } from "../src/connection/inbox.ts";
import { rawFrame, recordingTransport } from "./_helpers.ts";
import { parseFrames, type WireFrame } from "./conformance/_wire.ts";

const T = { timeout: 10_000 };
const MASK = [0x37, 0xfa, 0x21, 0x3d];
const KEY = new Uint8Array([0x0f, 0xa1, 0x5c, 0x02]);

/** A core with a sink that records everything it is told. */
function harness(options: Partial<ProtocolOptions> & { role: "client" | "server" }) {
  const frames: Message[] = [];
  const written: Uint8Array[] = [];
  const events: string[] = [];
  const protocol: Protocol = new Protocol({ maskKey: () => KEY, ...options }, {
    frame: (msg) => frames.push(msg),
    write: (bytes) => written.push(bytes.slice()),
    sendEof: () => events.push("end"),
    closeReceived: () => events.push("closeReceived"),
    failing: (err) => events.push(`failing ${err.closeCode}`),
  });
  /** Frames the core wrote since the last call, parsed independently. */
  const sent = (): WireFrame[] => {
    const total = written.reduce((n, b) => n + b.length, 0);
    const all = new Uint8Array(total);
    let at = 0;
    for (const b of written) {
      all.set(b, at);
      at += b.length;
    }
    written.length = 0;
    return parseFrames(all, options.role === "client");
  };
  // A peer's frames: masked towards a server, unmasked towards a client (§5.1).
  const peerFrame = (first: number, payload: Uint8Array | number[] | string, length?: number) =>
    rawFrame(first, payload, options.role === "server" ? MASK : null, length);
  return { protocol, frames, events, sent, peerFrame };
}

const closePayload = (code: number, reason = "") => [code >> 8, code & 0xff, ...new TextEncoder().encode(reason)];
const closeCodeOf = (frame: WireFrame) => (frame.payload[0] << 8) | frame.payload[1];

function feedBytewise(protocol: Protocol, bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) protocol.receiveData(bytes.slice(i, i + 1));
}

describe("protocol core: receiving", () => {
  test("a text frame comes out as one text message, whole or fed one byte at a time", T, () => {
    for (const bytewise of [false, true]) {
      const { protocol, frames, peerFrame } = harness({ role: "server" });
      const bytes = peerFrame(0x81, "Hello, κόσμε");
      if (bytewise) feedBytewise(protocol, bytes);
      else protocol.receiveData(bytes);
      assert.equal(frames.length, 1);
      assert.deepEqual([frames[0].type, frames[0].data, frames[0].partial], ["text", "Hello, κόσμε", false]);
    }
  });

  test("fragments carry their message's type and whole characters (§5.4)", T, () => {
    const { protocol, frames, peerFrame } = harness({ role: "client" });
    const euro = new TextEncoder().encode("€"); // 3 bytes, split across the fragments
    protocol.receiveData(peerFrame(0x01, [0x61, euro[0]]));
    protocol.receiveData(peerFrame(0x00, [euro[1], euro[2]]));
    protocol.receiveData(peerFrame(0x80, "b"));
    assert.deepEqual(frames.map((m) => [m.type, m.data, m.partial]), [
      ["text", "a", true],
      ["text", "€", true],
      ["text", "b", false],
    ]);
  });

  test("a continuation with no message in progress fails with 1002 (§5.4)", T, () => {
    const { protocol, sent, events, peerFrame } = harness({ role: "server" });
    protocol.receiveData(peerFrame(0x80, "x"));
    const [close] = sent();
    assert.deepEqual([close.opcode, closeCodeOf(close)], [8, 1002]);
    assert.deepEqual(events, ["failing 1002", "end"]);
  });

  test("a new data frame inside a fragmented message fails with 1002 (§5.4)", T, () => {
    const { protocol, sent, peerFrame } = harness({ role: "server" });
    protocol.receiveData(peerFrame(0x01, "a"));
    protocol.receiveData(peerFrame(0x82, [1]));
    assert.equal(closeCodeOf(sent()[0]), 1002);
  });

  test("a fragmented ping and a ping of 126 bytes fail with 1002 (§5.5)", T, () => {
    for (const bytes of [rawFrame(0x09, "x", MASK), rawFrame(0x89, new Uint8Array(126), MASK)]) {
      const { protocol, sent } = harness({ role: "server" });
      protocol.receiveData(bytes);
      assert.equal(closeCodeOf(sent()[0]), 1002);
    }
  });

  test("a server requires masked frames, a client unmasked ones (§5.1)", T, () => {
    const server = harness({ role: "server" });
    server.protocol.receiveData(rawFrame(0x81, "x", null));
    assert.equal(closeCodeOf(server.sent()[0]), 1002);
    const client = harness({ role: "client" });
    client.protocol.receiveData(rawFrame(0x81, "x", MASK));
    assert.equal(closeCodeOf(client.sent()[0]), 1002);
  });

  test("RSV bits with no extension to define them fail with 1002 (§5.2)", T, () => {
    const { protocol, sent, peerFrame } = harness({ role: "server" });
    protocol.receiveData(peerFrame(0xc1, "x"));
    assert.equal(closeCodeOf(sent()[0]), 1002);
  });

  test("a frame over maxFrameSize fails with 1009 from its header alone", T, () => {
    const { protocol, sent, peerFrame } = harness({ role: "server", maxFrameSize: 1000 });
    protocol.receiveData(peerFrame(0x82, new Uint8Array(1001)).subarray(0, 4));
    assert.equal(closeCodeOf(sent()[0]), 1009);
  });

  test("invalid UTF-8 in one large text frame fails with 1007 in the read that brings it (§8.1)", T, () => {
    for (const split of ["two reads", "many reads"]) {
      const { protocol, sent, frames, peerFrame } = harness({ role: "server" });
      const payload = new Uint8Array(256 * 1024).fill(0x61);
      payload[100_000] = 0xff;
      const bytes = peerFrame(0x81, payload);
      const upTo = bytes.length - payload.length + 100_001; // the header and the payload through the bad byte
      if (split === "two reads") protocol.receiveData(bytes.slice(0, upTo));
      else for (let at = 0; at < upTo; at += 997) protocol.receiveData(bytes.slice(at, Math.min(at + 997, upTo)));
      const [close] = sent();
      assert.ok(close !== undefined, `${split}: failed before the frame's last byte arrived`);
      assert.deepEqual([close.opcode, closeCodeOf(close)], [8, 1007], split);
      assert.equal(protocol.state, State.CLOSING);
      protocol.receiveData(bytes.slice(upTo)); // the rest is not processed
      assert.equal(frames.length, 0);
    }
  });

  test("a large valid text frame split over many reads is delivered whole", T, () => {
    const { protocol, frames, peerFrame } = harness({ role: "server" });
    const text = "ä€😀x".repeat(20_000);
    const bytes = peerFrame(0x81, text);
    for (let at = 0; at < bytes.length; at += 1001) protocol.receiveData(bytes.slice(at, at + 1001));
    assert.equal(frames.length, 1);
    assertBytesEqual(frames[0].data, text, "the 80,000-character text");
  });

  test("invalid UTF-8 split across fragments fails with 1007 at the fragment that completes it (§8.1)", T, () => {
    const { protocol, sent, peerFrame } = harness({ role: "client" });
    protocol.receiveData(peerFrame(0x01, [0xed]));
    assert.equal(sent().length, 0);
    protocol.receiveData(peerFrame(0x00, [0xa0, 0x80])); // a surrogate, U+D800
    assert.equal(closeCodeOf(sent()[0]), 1007);
  });
});

describe("protocol core: pings and closing", () => {
  test("a ping is answered with a pong carrying the same data, masked by a client (§5.5.2, §5.3)", T, () => {
    const { protocol, sent, frames, peerFrame } = harness({ role: "client" });
    protocol.receiveData(peerFrame(0x89, "are you there"));
    const [pong] = sent();
    assert.equal(pong.masked, true);
    assert.deepEqual([pong.opcode, new TextDecoder().decode(pong.payload)], [0x0a, "are you there"]);
    assert.equal(frames[0].type, "ping");
  });

  test("autoPong: false leaves pings unanswered", T, () => {
    const { protocol, sent, peerFrame } = harness({ role: "server", autoPong: false });
    protocol.receiveData(peerFrame(0x89, "x"));
    assert.equal(sent().length, 0);
  });

  test("no pong after our close frame (§5.5.1)", T, () => {
    const { protocol, sent, peerFrame } = harness({ role: "server" });
    protocol.sendClose(1000, "bye");
    sent();
    protocol.receiveData(peerFrame(0x89, "late"));
    assert.equal(sent().length, 0);
  });

  test("the server echoes the peer's close code, then closes TCP first (§5.5.1, §7.1.1)", T, () => {
    const { protocol, sent, events, peerFrame } = harness({ role: "server" });
    protocol.receiveData(peerFrame(0x88, closePayload(1001, "going")));
    assert.deepEqual(events, ["closeReceived"]);
    assert.equal(protocol.state, State.CLOSING);
    protocol.sendClose(4000, "ignored: the echo wins");
    const [close] = sent();
    assert.deepEqual([close.opcode, closeCodeOf(close), close.payload.length], [8, 1001, 2]);
    assert.deepEqual(events, ["closeReceived", "end"]);
    protocol.receiveEof();
    assert.equal(protocol.state, State.CLOSED);
    assert.deepEqual(protocol.closeInfo, { code: 1001, reason: "going", wasClean: true } satisfies CloseInfo);
  });

  test("an empty close is answered with an empty close and reported as 1005", T, () => {
    const { protocol, sent, peerFrame } = harness({ role: "client" });
    protocol.receiveData(peerFrame(0x88, []));
    protocol.sendClose();
    const [close] = sent();
    assert.deepEqual([close.opcode, close.payload.length], [8, 0]);
    assert.equal(protocol.closeInfo?.code, 1005);
  });

  test("the client does not close TCP: it waits for the server (§7.1.1)", T, () => {
    const { protocol, sent, events, peerFrame } = harness({ role: "client" });
    protocol.sendClose(1000, "done");
    assert.equal(closeCodeOf(sent()[0]), 1000);
    assert.equal(protocol.closeExpected(), true);
    protocol.receiveData(peerFrame(0x88, closePayload(1000)));
    assert.deepEqual(events, ["closeReceived"]); // no "end"
    protocol.receiveEof();
    assert.deepEqual([protocol.state, protocol.closeInfo?.wasClean], [State.CLOSED, true]);
  });

  test("a client failing the connection sends its close frame and leaves TCP to the server (§7.1.1, §7.1.7)", T, () => {
    const { protocol, sent, events } = harness({ role: "client" });
    protocol.fail(1008, "policy");
    assert.equal(closeCodeOf(sent()[0]), 1008);
    assert.deepEqual(events, ["failing 1008"]);
    assert.equal(protocol.closeExpected(), true);
    assert.equal(protocol.receiving, false);
    protocol.receiveEof();
    assert.deepEqual([protocol.closeInfo?.code, protocol.closeInfo?.wasClean], [1008, false]);
  });

  test("only one close frame goes out however often closing is asked for", T, () => {
    const { protocol, sent } = harness({ role: "server" });
    protocol.sendClose(1000);
    protocol.sendClose(1001);
    protocol.fail(1002, "late");
    assert.equal(sent().length, 1);
  });

  test("close payloads that break the rules fail the connection (§5.5.1, §7.4)", T, () => {
    const cases: [number[], number][] = [
      [[0x03], 1002], // one byte
      [closePayload(1005), 1002], // may not be sent
      [closePayload(999), 1002],
      [[0x03, 0xe8, 0xff], 1007], // reason not UTF-8
    ];
    for (const [payload, code] of cases) {
      const { protocol, sent, peerFrame } = harness({ role: "server" });
      protocol.receiveData(peerFrame(0x88, payload));
      assert.equal(closeCodeOf(sent()[0]), code, JSON.stringify(payload));
    }
  });

  test("nothing after a close frame is processed (§5.5.1)", T, () => {
    const { protocol, frames, peerFrame } = harness({ role: "server" });
    protocol.receiveData(new Uint8Array([...peerFrame(0x88, closePayload(1000)), ...peerFrame(0x81, "late")]));
    assert.deepEqual(frames.map((m) => m.type), ["close"]);
  });

  test("EOF without a close frame is 1006, not clean; in the middle of a frame too (§7.1.5)", T, () => {
    const { protocol, peerFrame } = harness({ role: "server" });
    protocol.receiveData(peerFrame(0x81, "abc").subarray(0, 5));
    protocol.receiveEof();
    assert.deepEqual([protocol.closeInfo?.code, protocol.closeInfo?.wasClean], [1006, false]);
    assert.match(String((protocol.closeInfo?.error?.cause as Error).message), /middle of a frame/);
  });

  test("a close code that may not be sent is refused before anything is written (§7.4.1)", T, () => {
    const { protocol, sent } = harness({ role: "server" });
    assert.throws(() => protocol.sendClose(1005), RangeError);
    assert.throws(() => protocol.sendClose(1000, "x".repeat(124)), RangeError);
    assert.equal(sent().length, 0);
    assert.equal(protocol.state, State.OPEN);
  });
});

// A close frame's payload is at most 125 bytes (§5.5), the 2-byte code
// included, and its reason must be UTF-8 (§5.5.1): a longer reason is cut to
// 123 bytes at a character boundary, never in the middle of a character.
describe("protocol core: a close reason too long for a close frame", () => {
  const utf8 = new TextEncoder();
  const strict = new TextDecoder("utf-8", { fatal: true });
  const bytesOf = (s: string) => utf8.encode(s).length;

  test("200 bytes of 'é' are cut to 122 bytes, 61 whole characters, with no U+FFFD", T, () => {
    const cut = truncateReason("é".repeat(100));
    assert.equal(bytesOf(cut), 122);
    assert.equal(cut, "é".repeat(61));
    assert.ok(!cut.includes("\uFFFD"), "a character was cut in half");
  });

  test("4-byte characters are cut to 120 bytes, 30 whole characters", T, () => {
    const cut = truncateReason("𝄞".repeat(40));
    assert.equal(bytesOf(cut), 120);
    assert.equal(cut, "𝄞".repeat(30));
  });

  test("reasons of 1-, 2-, 3- and 4-byte characters at every offset are cut to the longest prefix that fits", T, () => {
    for (const tail of ["é", "€", "𝄞", "aé€𝄞"]) {
      for (let ascii = 0; ascii < 8; ascii++) {
        const reason = "x".repeat(ascii) + tail.repeat(80);
        const cut = truncateReason(reason);
        const what = `${ascii} ASCII bytes, then ${JSON.stringify(tail)} repeated`;
        assert.ok(reason.startsWith(cut), `${what}: not a prefix of the reason`);
        assert.ok(bytesOf(cut) <= 123, `${what}: ${bytesOf(cut)} bytes`);
        assert.ok(!cut.includes("\uFFFD"), `${what}: a character was cut in half`);
        // The longest such prefix: the next character would not fit.
        const next = String.fromCodePoint(reason.codePointAt(cut.length)!);
        assert.ok(bytesOf(cut) + bytesOf(next) > 123, `${what}: stopped at ${bytesOf(cut)} bytes`);
      }
    }
  });

  test("a reason of exactly 123 bytes, and any shorter one, is left as it is", T, () => {
    for (const reason of ["", "bye", "κόσμε", "x".repeat(123), "é".repeat(61) + "x", "𝄞".repeat(30) + "abc"]) {
      assert.equal(truncateReason(reason), reason, `${bytesOf(reason)} bytes`);
    }
    assert.equal(truncateReason("x".repeat(124)), "x".repeat(123));
  });

  for (const role of ["server", "client"] as const) {
    test(`a ${role} failing the connection with a 200-byte reason writes one close frame of at most 125 bytes`, T, () => {
      const { protocol, sent, events } = harness({ role });
      protocol.fail(1008, "é".repeat(100));
      const frames = sent();
      assert.equal(frames.length, 1, "exactly one frame");
      const [close] = frames;
      assert.equal(close.opcode, 8);
      assert.ok(close.payload.length <= 125, `a close payload of ${close.payload.length} bytes`);
      assert.equal(closeCodeOf(close), 1008);
      assert.equal(strict.decode(close.payload.subarray(2)), "é".repeat(61));
      assert.deepEqual(events, role === "server" ? ["failing 1008", "end"] : ["failing 1008"]);
      protocol.receiveEof();
      const info = protocol.closeInfo;
      assert.deepEqual([info?.code, info?.reason, info?.wasClean], [1008, "é".repeat(61), false]);
    });
  }
});

describe("protocol core: sending", () => {
  test("a client masks every frame with the key it is given; a server masks none (§5.3)", T, () => {
    const client = harness({ role: "client" });
    client.protocol.sendData("hi", "text", true);
    const [frame] = client.sent();
    assert.equal(frame.masked, true);
    assert.equal(new TextDecoder().decode(frame.payload), "hi");
    const server = harness({ role: "server" });
    server.protocol.sendData(new Uint8Array(20_000).fill(7), "binary", true);
    const [big] = server.sent();
    assert.deepEqual([big.masked, big.opcode, big.payload.length, big.payload[19_999]], [false, 2, 20_000, 7]);
  });

  test("fragments are sent with continuation opcodes, and another type may not interleave (§5.4)", T, () => {
    const { protocol, sent } = harness({ role: "server" });
    protocol.sendData("a", "text", false);
    assert.throws(() => protocol.sendData(new Uint8Array(1), "binary", true), TypeError);
    protocol.sendData("b", "text", true);
    assert.deepEqual(sent().map((f) => [f.opcode, f.fin]), [[1, false], [0, true]]);
  });

  test("a frame over maxFrameSize is refused and nothing is written", T, () => {
    const { protocol, sent } = harness({ role: "server", maxFrameSize: 10 });
    assert.throws(() => protocol.sendData("x".repeat(11), "text", true), RangeError);
    assert.throws(() => protocol.sendData(new Uint8Array(11), "binary", true), RangeError);
    protocol.sendData("fits", "text", true);
    assert.deepEqual(sent().map((f) => f.opcode), [1]);
  });

  test("pings and pongs over 125 bytes are refused (§5.5)", T, () => {
    const { protocol } = harness({ role: "client" });
    assert.throws(() => protocol.sendPing(new Uint8Array(126)), RangeError);
    assert.throws(() => protocol.sendPong(new Uint8Array(126)), RangeError);
  });
});


describe("inbox backpressure, without sockets", () => {
  test("reading pauses past the inbox's high-water mark in bytes and resumes as messages are taken", T, async () => {
    const { transport, calls, feed } = recordingTransport();
    const ws = new WebSocketConnection(transport, { role: "client", pingInterval: 0 });
    const message = rawFrame(0x82, new Uint8Array(64 * 1024), null);
    const count = INBOX_HIGH_WATER_BYTES / (64 * 1024) + 1;
    for (let i = 0; i < count; i++) feed(message);
    assert.deepEqual(calls, ["pause"]);
    await ws.recv();
    await ws.recv();
    assert.deepEqual(calls, ["pause", "resume"]);
    await ws.terminate();
  });

  test("reading pauses past the inbox's high-water mark in frames", T, async () => {
    const { transport, calls, feed } = recordingTransport();
    const ws = new WebSocketConnection(transport, { role: "client", pingInterval: 0 });
    const ping = rawFrame(0x89, "", null);
    for (let i = 0; i <= INBOX_HIGH_WATER_COUNT; i++) feed(ping);
    assert.deepEqual(calls, ["pause"]);
    for (let i = 0; i <= INBOX_HIGH_WATER_COUNT; i++) await ws.recv();
    assert.deepEqual(calls, ["pause", "resume"]);
    const info = await ws.terminate();
    assert.deepEqual([info.code, info.wasClean, calls.at(-1)], [1006, false, "destroy"]);
  });
});
