import { assertBytesEqual, describe, test } from "./_test.ts";
import assert from "node:assert/strict";
import { FrameDecoder, FrameDecoderStream } from "../src/codec/decoder.ts";
import { encodeFrame, encodeTextFrame, FrameEncoderStream } from "../src/codec/encoder.ts";
import { type Frame, Opcode } from "../src/codec/frame.ts";
import { maskInPlace, randomMaskKey } from "../src/codec/mask.ts";
import { decodeClosePayload, encodeClosePayload, isValidCloseCode } from "../src/codec/close.ts";
import { Utf8StreamDecoder } from "../src/codec/utf8.ts";
import { MessageTooBigError, ProtocolError } from "../src/errors.ts";
import { rawFrame, randomBytes, seededRandom } from "./_helpers.ts";
import { parseFrames } from "./_frames.ts";
import { allocate, joinChunks, POOLED_LIMIT } from "../src/codec/pool.ts";

const bytes = (...b: number[]) => new Uint8Array(b);
const text = (s: string) => new TextEncoder().encode(s);

/** Decodes `input` fed in the given pieces; returns all frames. */
function decodeAll(pieces: Uint8Array[], options: ConstructorParameters<typeof FrameDecoder>[0] = {}): Frame[] {
  const decoder = new FrameDecoder(options);
  const frames: Frame[] = [];
  for (const piece of pieces) {
    decoder.push(piece);
    for (let f = decoder.next(); f !== null; f = decoder.next()) frames.push(f);
  }
  assert.equal(decoder.bufferedAmount, 0, "decoder holds no leftover bytes");
  return frames;
}

/** Every way to cut `input` in two, plus one byte at a time. */
function splits(input: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [[input.slice()]];
  for (let i = 1; i < input.length; i++) out.push([input.slice(0, i), input.slice(i)]);
  out.push(Array.from(input, (b) => bytes(b)));
  return out;
}

function plain(frame: Frame) {
  return { fin: frame.fin, opcode: frame.opcode, payload: Array.from(frame.payload), rsv1: !!frame.rsv1 };
}

function decodeError(input: Uint8Array, options: ConstructorParameters<typeof FrameDecoder>[0] = {}): unknown {
  try {
    decodeAll([input], options);
  } catch (err) {
    return err;
  }
  assert.fail("expected the decoder to reject the input");
}

describe("RFC 6455 §5.7 examples", () => {
  const examples: [string, Uint8Array, Frame[], boolean | undefined, number[] | null][] = [
    ["a single-frame unmasked text message", bytes(0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f), [
      { fin: true, opcode: Opcode.Text, payload: text("Hello") },
    ], false, null],
    ["a single-frame masked text message", bytes(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58), [
      { fin: true, opcode: Opcode.Text, payload: text("Hello") },
    ], true, [0x37, 0xfa, 0x21, 0x3d]],
    ["a fragmented unmasked text message", bytes(0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f), [
      { fin: false, opcode: Opcode.Text, payload: text("Hel") },
      { fin: true, opcode: Opcode.Continuation, payload: text("lo") },
    ], false, null],
    ["an unmasked ping", bytes(0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f), [
      { fin: true, opcode: Opcode.Ping, payload: text("Hello") },
    ], false, null],
    ["a masked pong", bytes(0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58), [
      { fin: true, opcode: Opcode.Pong, payload: text("Hello") },
    ], true, [0x37, 0xfa, 0x21, 0x3d]],
  ];
  for (const [name, wire, frames, masked, key] of examples) {
    test(`decoder reads ${name}, however it is split`, () => {
      for (const pieces of splits(wire)) {
        assert.deepEqual(decodeAll(pieces, { masked }).map(plain), frames.map((f) => plain({ ...f, rsv1: false })));
      }
    });
    test(`encoder writes ${name}`, () => {
      const encoded = frames.map((f) => encodeFrame(f, key ? new Uint8Array(key) : null));
      const joined = new Uint8Array(encoded.reduce((n, e) => n + e.length, 0));
      let at = 0;
      for (const e of encoded) (joined.set(e, at), at += e.length);
      assert.deepEqual(joined, wire);
    });
  }

  test("a 256-byte binary message uses the 16-bit length, and 64 KiB the 64-bit length", () => {
    const small = encodeFrame({ fin: true, opcode: Opcode.Binary, payload: new Uint8Array(256) });
    assert.deepEqual(small.subarray(0, 4), bytes(0x82, 0x7e, 0x01, 0x00));
    const big = encodeFrame({ fin: true, opcode: Opcode.Binary, payload: new Uint8Array(65536) });
    assert.deepEqual(big.subarray(0, 10), bytes(0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0));
  });
});

describe("frame lengths", () => {
  for (const length of [0, 1, 125, 126, 127, 65535, 65536, 1 << 20]) {
    for (const masked of [false, true]) {
      test(`${length}-byte ${masked ? "masked" : "unmasked"} frame round-trips with the minimal length encoding`, () => {
        const payload = randomBytes(length, length + 7);
        const key = masked ? bytes(9, 8, 7, 6) : null;
        const wire = encodeFrame({ fin: true, opcode: Opcode.Binary, payload }, key);
        const expectedHeader = (length < 126 ? 2 : length < 65536 ? 4 : 10) + (masked ? 4 : 0);
        assert.equal(wire.length, expectedHeader + length);
        const [frame] = decodeAll([wire], { masked, maxFrameSize: 1 << 21 });
        assertBytesEqual(frame.payload, payload, `the ${length}-byte payload`);
      });
    }
  }
});

describe("masking", () => {
  test("the encoder never modifies the caller's payload", () => {
    const payload = randomBytes(1000, 3);
    const copy = payload.slice();
    encodeFrame({ fin: true, opcode: Opcode.Binary, payload }, bytes(1, 2, 3, 4));
    assertBytesEqual(payload, copy, "the caller's payload after encoding");
  });

  test("maskInPlace agrees with the byte-wise definition at every alignment and length", () => {
    const key = bytes(0xde, 0xad, 0xbe, 0xef);
    const source = randomBytes(200, 11);
    for (let offset = 0; offset < 8; offset++) {
      for (const length of [0, 1, 3, 15, 16, 17, 31, 64, 100, 191]) {
        const buffer = source.slice(0, 8 + length);
        const view = buffer.subarray(offset, offset + length);
        const expected = Array.from(view, (b, i) => b ^ key[i & 3]);
        maskInPlace(view, key);
        assert.deepEqual(Array.from(view), expected, `offset ${offset} length ${length}`);
      }
    }
  });

  test("a masked frame's copy-and-mask (maskCopy) agrees with the byte-wise definition at every size and alignment", () => {
    const key = bytes(0x37, 0xfa, 0x21, 0x3d);
    for (const length of [0, 1, 125, 126, 127, 128, 129, 1000, 65535, 65536, 70001]) {
      for (let offset = 0; offset < 4; offset++) {
        const payload = randomBytes(length + offset, length).subarray(offset);
        const frame = encodeFrame({ fin: true, opcode: Opcode.Binary, payload }, key);
        const [decoded] = decodeAll([frame], { masked: true });
        assert.deepEqual(decoded.payload, payload, `length ${length} offset ${offset}`);
      }
    }
  });

  test("a large masked frame arriving in pieces of every size is reassembled exactly, and judged as it arrives", () => {
    const payload = randomBytes(300_000, 5);
    const frame = encodeFrame({ fin: true, opcode: Opcode.Binary, payload }, bytes(9, 8, 7, 6));
    const random = seededRandom(42);
    for (let round = 0; round < 4; round++) {
      const decoder = new FrameDecoder({ masked: true, ownsChunks: round % 2 === 0 });
      const wire = frame.slice();
      let decoded: Frame | null = null;
      for (let at = 0; at < wire.length;) {
        const size = Math.min(wire.length - at, 1 + Math.floor(random() * (round < 2 ? 9000 : 70000)));
        decoder.push(wire.slice(at, at + size));
        at += size;
        decoded = decoder.next();
        if (decoded !== null) {
          assert.equal(at, wire.length);
          break;
        }
        // While it arrives, what is in reads back unmasked.
        const partial = decoder.partialFrame!;
        assert.equal(partial.length, payload.length);
        const from = Math.floor(partial.received / 2);
        assertBytesEqual(decoder.partialPayload(from), payload.subarray(from, partial.received), `the partial payload from ${from}`);
      }
      assert.ok(decoded !== null);
      assertBytesEqual(decoded.payload, payload, "the whole payload");
      assert.equal(decoder.bufferedAmount, 0);
    }
  });

  test("random mask keys differ from frame to frame", () => {
    const keys = new Set<string>();
    for (let i = 0; i < 2000; i++) keys.add(Array.from(randomMaskKey()).join(","));
    assert.ok(keys.size > 1990, `only ${keys.size} distinct keys in 2000`);
  });

  test("FrameEncoderStream masks each frame with a fresh key", async () => {
    const frames = ReadableStream.from([
      { fin: true, opcode: Opcode.Text, payload: text("same") },
      { fin: true, opcode: Opcode.Text, payload: text("same") },
    ] as Frame[]);
    const out: Uint8Array[] = [];
    for await (const chunk of frames.pipeThrough(new FrameEncoderStream({ mask: true }))) out.push(chunk);
    assert.equal(out.length, 2);
    assert.notDeepEqual(out[0].subarray(2, 6), out[1].subarray(2, 6));
    const decoded = decodeAll(out, { masked: true });
    assert.deepEqual(decoded.map((f) => new TextDecoder().decode(f.payload)), ["same", "same"]);
  });
});

describe("decoder rejects what RFC 6455 forbids", () => {
  const cases: [string, Uint8Array, number, string, ConstructorParameters<typeof FrameDecoder>[0]?][] = [
    ["RSV1 without a negotiated extension", rawFrame(0xc1, "x", null), 1002, "ERR_RESERVED_BITS"],
    ["RSV2", rawFrame(0xa1, "x", null), 1002, "ERR_RESERVED_BITS"],
    ["RSV3", rawFrame(0x91, "x", null), 1002, "ERR_RESERVED_BITS"],
    ["RSV2 even when RSV1 is allowed", rawFrame(0xa1, "x", null), 1002, "ERR_RESERVED_BITS", { allowedRsv: 4 }],
    ...[3, 4, 5, 6, 7].map((op) =>
      [`reserved data opcode ${op}`, rawFrame(0x80 | op, "", null), 1002, "ERR_RESERVED_OPCODE"] as [string, Uint8Array, number, string]
    ),
    ...[11, 12, 13, 14, 15].map((op) =>
      [`reserved control opcode ${op}`, rawFrame(0x80 | op, "", null), 1002, "ERR_RESERVED_OPCODE"] as [string, Uint8Array, number, string]
    ),
    ["an unmasked frame at a server", rawFrame(0x81, "x", null), 1002, "ERR_UNMASKED_FRAME", { masked: true }],
    ["a masked frame at a client", rawFrame(0x81, "x"), 1002, "ERR_MASKED_FRAME", { masked: false }],
    ["a ping longer than 125 bytes", rawFrame(0x89, new Uint8Array(126), null), 1002, "ERR_CONTROL_TOO_LONG"],
    ["a fragmented ping", rawFrame(0x09, "x", null), 1002, "ERR_FRAGMENTED_CONTROL"],
    ["a fragmented close", rawFrame(0x08, [3, 232], null), 1002, "ERR_FRAGMENTED_CONTROL"],
    ["a continuation with no message in progress", rawFrame(0x80, "x", null), 1002, "ERR_UNEXPECTED_CONTINUATION"],
    [
      "a new data frame inside a fragmented message",
      new Uint8Array([...rawFrame(0x01, "a", null), ...rawFrame(0x81, "b", null)]),
      1002,
      "ERR_EXPECTED_CONTINUATION",
    ],
    [
      "a 64-bit length with the most significant bit set",
      bytes(0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1),
      1002,
      "ERR_INVALID_LENGTH",
    ],
    ["a frame over maxFrameSize", rawFrame(0x82, new Uint8Array(11), null), 1009, "ERR_MESSAGE_TOO_BIG", { maxFrameSize: 10 }],
    ["a header claiming 2^63-1 bytes", bytes(0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 1009, "ERR_MESSAGE_TOO_BIG"],
    ["a header claiming 2^32 bytes", bytes(0x82, 0x7f, 0, 0, 0, 1, 0, 0, 0, 0), 1009, "ERR_MESSAGE_TOO_BIG"],
  ];
  for (const [name, wire, closeCode, code, options] of cases) {
    test(`decoder rejects ${name} with ${closeCode}`, () => {
      const err = decodeError(wire, options) as ProtocolError;
      assert.ok(err instanceof (closeCode === 1009 ? MessageTooBigError : ProtocolError), String(err));
      assert.equal(err.closeCode, closeCode);
      assert.equal(err.code, code);
    });
  }

  test("decoder decides an oversize frame from its header, before any payload arrives", () => {
    const decoder = new FrameDecoder({ maxFrameSize: 1000 });
    decoder.push(bytes(0x82, 0x7e, 0x10, 0x00)); // claims 4096 bytes, sends none
    assert.throws(() => decoder.next(), MessageTooBigError);
  });

  test("decoder fails fast: the first two bytes suffice to reject a reserved opcode", () => {
    const decoder = new FrameDecoder({ masked: true });
    decoder.push(bytes(0x83, 0xfe)); // claims a 16-bit length and a mask key, sends neither
    assert.throws(() => decoder.next(), (e: ProtocolError) => e.code === "ERR_RESERVED_OPCODE");
  });

  test("decoder rejects an oversize 64-bit length before the mask key arrives", () => {
    const decoder = new FrameDecoder({ masked: true, maxFrameSize: 1 << 20 });
    decoder.push(bytes(0x82, 0xff, 0, 0, 0, 0, 0, 0x20, 0, 0)); // 2 MiB, no mask key yet
    assert.throws(() => decoder.next(), MessageTooBigError);
  });

  test("a header dripped one byte at a time is checked once and decoded intact", () => {
    const wire = rawFrame(0x82, new Uint8Array(300).fill(7));
    const decoder = new FrameDecoder({ masked: true });
    const frames: Frame[] = [];
    for (const b of wire) {
      decoder.push(bytes(b));
      for (let f = decoder.next(); f !== null; f = decoder.next()) frames.push(f);
    }
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0].payload, new Uint8Array(300).fill(7));
  });

  test("control frames may come between the fragments of a message", () => {
    const wire = new Uint8Array([
      ...rawFrame(0x01, "Hel", null),
      ...rawFrame(0x89, "ping", null),
      ...rawFrame(0x80, "lo", null),
    ]);
    assert.deepEqual(decodeAll([wire]).map((f) => f.opcode), [Opcode.Text, Opcode.Ping, Opcode.Continuation]);
  });

  test("RSV1 is accepted when an extension allows it", () => {
    const [frame] = decodeAll([rawFrame(0xc1, "x", null)], { allowedRsv: 4 });
    assert.equal(frame.rsv1, true);
  });
});

describe("randomised round trips", () => {
  test("random frame sequences survive encoding, random chunking and decoding", () => {
    const random = seededRandom(2024);
    for (let round = 0; round < 200; round++) {
      const masked = random() < 0.5;
      const frames: Frame[] = [];
      let inMessage = false;
      const count = 1 + Math.floor(random() * 12);
      for (let i = 0; i < count; i++) {
        const r = random();
        if (r < 0.2) {
          const op = [Opcode.Ping, Opcode.Pong, Opcode.Close][Math.floor(random() * 3)];
          frames.push({ fin: true, opcode: op, payload: randomBytes(Math.floor(random() * 126), i) });
          continue;
        }
        const sizeClass = random();
        const length = sizeClass < 0.6 ? Math.floor(random() * 126) : sizeClass < 0.9 ? 126 + Math.floor(random() * 2000) : 65536 + Math.floor(random() * 5000);
        const fin = random() < 0.6;
        const opcode = inMessage ? Opcode.Continuation : random() < 0.5 ? Opcode.Text : Opcode.Binary;
        frames.push({ fin, opcode, payload: randomBytes(length, round * 100 + i) });
        inMessage = !fin;
      }
      if (inMessage) frames.push({ fin: true, opcode: Opcode.Continuation, payload: new Uint8Array(0) });
      const wire = frames.map((f) => encodeFrame(f, masked ? randomMaskKey() : null));
      const all = new Uint8Array(wire.reduce((n, w) => n + w.length, 0));
      let at = 0;
      for (const w of wire) (all.set(w, at), at += w.length);
      const pieces: Uint8Array[] = [];
      for (let i = 0; i < all.length;) {
        const n = 1 + Math.floor(random() * (random() < 0.3 ? 8 : 4000));
        pieces.push(all.slice(i, i + n));
        i += n;
      }
      assert.deepEqual(decodeAll(pieces, { masked }).map(plain), frames.map((f) => plain({ ...f, rsv1: false })));
    }
  });
});

describe("the Web Streams faces", () => {
  test("FrameDecoderStream decodes a chunked byte stream and leaves the input untouched", async () => {
    const wire = encodeFrame({ fin: true, opcode: Opcode.Binary, payload: randomBytes(300, 5) }, bytes(1, 2, 3, 4));
    const copy = wire.slice();
    const pieces = [wire.subarray(0, 1), wire.subarray(1, 7), wire.subarray(7)];
    const frames: Frame[] = [];
    for await (const f of ReadableStream.from(pieces).pipeThrough(new FrameDecoderStream({ masked: true }))) frames.push(f);
    assert.deepEqual(frames[0].payload, randomBytes(300, 5));
    assert.deepEqual(wire, copy, "input chunks were unmasked in place");
  });

  test("FrameDecoderStream errors with the decoder's typed error", async () => {
    const stream = ReadableStream.from([rawFrame(0x83, "", null)]).pipeThrough(new FrameDecoderStream());
    await assert.rejects(async () => {
      for await (const _ of stream) { /* drain */ }
    }, (err: ProtocolError) => err.closeCode === 1002 && err.code === "ERR_RESERVED_OPCODE");
  });

  test("FrameDecoderStream rejects a stream that ends inside a frame", async () => {
    const stream = ReadableStream.from([bytes(0x81, 0x05, 0x48)]).pipeThrough(new FrameDecoderStream());
    await assert.rejects(async () => {
      for await (const _ of stream) { /* drain */ }
    }, (err: ProtocolError) => err.code === "ERR_TRUNCATED_FRAME");
  });

  test("encoder and decoder streams compose", async () => {
    const frames: Frame[] = [
      { fin: false, opcode: Opcode.Text, payload: text("ab") },
      { fin: true, opcode: Opcode.Continuation, payload: text("cd") },
    ];
    const out: Frame[] = [];
    const piped = ReadableStream.from(frames)
      .pipeThrough(new FrameEncoderStream({ mask: true, maskKey: () => bytes(1, 1, 1, 1) }))
      .pipeThrough(new FrameDecoderStream({ masked: true }));
    for await (const f of piped) out.push(f);
    assert.deepEqual(out.map(plain), frames.map((f) => plain({ ...f, rsv1: false })));
  });
});

describe("text frames", () => {
  test("encodeTextFrame writes the same bytes as encodeFrame for short and long strings", () => {
    for (const s of ["", "hi", "héllo wörld ✓ 𝄞", "x".repeat(200), "ü".repeat(40000)]) {
      for (const key of [null, bytes(5, 6, 7, 8)]) {
        const { bytes: fast, payloadLength } = encodeTextFrame(s, Opcode.Text, true, 0, key);
        assert.equal(payloadLength, text(s).length);
        assert.deepEqual(fast, encodeFrame({ fin: true, opcode: Opcode.Text, payload: text(s) }, key));
      }
    }
  });

  test("short ASCII texts and the strings at the edges of their fast path read back through the independent parser", () => {
    const strings = [
      "",
      "a",
      "\x7f".repeat(3),
      "x".repeat(124) + "\x7f",
      "y".repeat(126),
      "ascii then é",
      "é then ascii",
      "z".repeat(124) + "✓",
      "emoji at the end 𝄞",
    ];
    for (const s of strings) {
      for (const key of [null, bytes(0x37, 0xfa, 0x21, 0x3d)]) {
        for (const [opcode, fin, rsv] of [[Opcode.Text, true, 0], [Opcode.Continuation, false, 4]] as const) {
          const { bytes: wire, payloadLength } = encodeTextFrame(s, opcode, fin, rsv, key);
          const [frame] = parseFrames(wire, key !== null);
          assert.deepEqual({ fin: frame.fin, rsv: frame.rsv, opcode: frame.opcode }, { fin, rsv, opcode }, JSON.stringify(s));
          assert.equal(new TextDecoder("utf-8", { fatal: true }).decode(frame.payload), s);
          assert.equal(payloadLength, frame.payload.length);
          if (key !== null && payloadLength < 126) assert.deepEqual(wire.subarray(2, 6), key);
        }
      }
    }
  });
});

describe("packed frames", () => {
  test("unmasked frames encoded one after another lie back to back, and joinChunks sends them as one view", () => {
    // Start on a fresh slab, so that the frames below cannot straddle two.
    const slab = allocate(POOLED_LIMIT, true).buffer;
    while (allocate(POOLED_LIMIT, true).buffer === slab);
    const payloads = [text("one"), randomBytes(200), new Uint8Array(0), text("four")];
    const frames = payloads.map((payload) => encodeFrame({ fin: true, opcode: Opcode.Binary, payload }));
    const texts = ["hi", "there"].map((s) => encodeTextFrame(s, Opcode.Text, true, 0, null).bytes);
    const all = [...frames, ...texts];
    const total = all.reduce((n, f) => n + f.length, 0);
    const joined = joinChunks(all, total);
    assert.equal(joined.buffer, all[0].buffer, "a view of the slab, not a copy");
    assert.equal(joined.byteOffset, all[0].byteOffset);
    const parsed = parseFrames(joined, false);
    assert.deepEqual(parsed.map((f) => f.payload), [...payloads, text("hi"), text("there")]);
  });

  test("a masked frame's buffer still starts 8-byte aligned after packed ones", () => {
    for (const size of [1, 3, 5, 7, 34]) {
      allocate(size, true);
      assert.equal(allocate(64).byteOffset % 8, 0, `after a packed ${size}-byte view`);
    }
  });

  test("chunks that are not back to back are copied, in order", () => {
    const key = bytes(1, 2, 3, 4);
    const masked = [text("a"), text("bcd")].map((payload) => encodeFrame({ fin: true, opcode: Opcode.Text, payload }, key));
    const unrelated = rawFrame(0x82, text("xyz"), null);
    const all = [masked[0], unrelated, masked[1]];
    const joined = joinChunks(all, all.reduce((n, f) => n + f.length, 0));
    assert.notEqual(joined.buffer, masked[0].buffer);
    assert.deepEqual(parseFrames(joined.subarray(0, masked[0].length), true)[0].payload, text("a"));
    assert.deepEqual(joined.subarray(masked[0].length, masked[0].length + unrelated.length), unrelated);
    assert.deepEqual(parseFrames(joined.subarray(masked[0].length + unrelated.length), true)[0].payload, text("bcd"));
  });
});

describe("close payloads", () => {
  test("valid and invalid close codes", () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
      assert.ok(isValidCloseCode(code), `${code} is valid`);
      assert.deepEqual(decodeClosePayload(encodeClosePayload(code, "r")), { code, reason: "r" });
    }
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
      assert.ok(!isValidCloseCode(code), `${code} is invalid`);
      assert.throws(() => decodeClosePayload(bytes(code >> 8, code & 0xff)), (e: ProtocolError) => e.closeCode === 1002);
      assert.throws(() => encodeClosePayload(code), RangeError);
    }
  });

  test("an empty close payload means no status (1005), a 1-byte one is a protocol error", () => {
    assert.deepEqual(decodeClosePayload(new Uint8Array(0)), { code: 1005, reason: "" });
    assert.throws(() => decodeClosePayload(bytes(3)), (e: ProtocolError) => e.closeCode === 1002);
  });

  test("a close reason that is not UTF-8 fails with 1007", () => {
    assert.throws(() => decodeClosePayload(bytes(3, 232, 0xce, 0xba, 0xe1, 0xbd)), (e: ProtocolError) => e.closeCode === 1007);
  });

  test("a reason over 123 bytes cannot be sent", () => {
    assert.throws(() => encodeClosePayload(1000, "x".repeat(124)), RangeError);
    assert.equal(encodeClosePayload(1000, "x".repeat(123)).length, 125);
  });
});

describe("UTF-8", () => {
  test("valid text split at every byte decodes to whole characters", () => {
    const input = text("κόσμε 𝄞 ✓ hello \u{10FFFF}");
    for (let cut = 0; cut <= input.length; cut++) {
      const decoder = new Utf8StreamDecoder();
      const out = decoder.decode(input.subarray(0, cut), false) + decoder.decode(input.subarray(cut), true);
      assert.equal(out, "κόσμε 𝄞 ✓ hello \u{10FFFF}");
    }
  });

  test("invalid sequences fail fast, before the message ends", () => {
    const invalid: [string, number[]][] = [
      ["an overlong encoding", [0xc0, 0xaf]],
      ["a surrogate", [0xed, 0xa0, 0x80]],
      ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
      ["a lone continuation byte", [0x80]],
      ["0xFF", [0xff]],
    ];
    for (const [name, seq] of invalid) {
      const decoder = new Utf8StreamDecoder();
      // Only the first two bytes of the sequence: already decidable.
      assert.throws(() => decoder.decode(bytes(0x61, ...seq.slice(0, 2)), false), (e: ProtocolError) => e.closeCode === 1007, name);
    }
  });

  test("a truncated sequence fails at the end of the message", () => {
    const decoder = new Utf8StreamDecoder();
    assert.equal(decoder.decode(bytes(0x61, 0xe2, 0x82), false), "a");
    assert.throws(() => decoder.decode(new Uint8Array(0), true), (e: ProtocolError) => e.closeCode === 1007);
  });

  test("a leading U+FEFF is content, not a byte order mark", () => {
    const decoder = new Utf8StreamDecoder();
    assert.equal(decoder.decode(bytes(0xef, 0xbb, 0xbf, 0x61), true), "\uFEFFa");
  });
});
