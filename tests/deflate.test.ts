// permessage-deflate (RFC 7692): negotiation, round trips with every
// parameter combination, the RSV1 rules, decompression limits, and interop
// with the ws package (in a child process under Node) in both directions.
import { after, assertBytesEqual, before, describe, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { constants, createDeflateRaw, createInflateRaw, deflateRawSync, inflateRawSync } from "node:zlib";
import { connect } from "../src/client/connect.ts";
import { requestHandler } from "../src/server/request_handler.ts";
import { serve } from "../src/server/serve.ts";
import { Message } from "../src/message.ts";
import { HandshakeError } from "../src/errors.ts";
import {
  acceptDeflateOffer,
  checkDeflateResponse,
  deflateOffer,
  parseExtensions,
} from "../src/handshake/permessage_deflate.ts";
import { ZlibSweeper } from "../src/extensions/zlib_sweeper.ts";
import { memoryPair, RawPeer, rawFrame, randomBytes } from "./_helpers.ts";
import { Wire } from "./_wire.ts";

const MiB = 1024 * 1024;
const TRAILER = new Uint8Array([0, 0, 0xff, 0xff]);

/** What a peer's compressor sends for one message: raw DEFLATE, sync flush, trailer removed. */
function compress(data: Uint8Array | string): Uint8Array {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const out = deflateRawSync(bytes, { finishFlush: constants.Z_SYNC_FLUSH });
  return new Uint8Array(out.buffer, out.byteOffset, out.length - 4);
}

function inflate(...parts: Uint8Array[]): Uint8Array {
  const joined = Buffer.concat([...parts, TRAILER]);
  return new Uint8Array(inflateRawSync(joined, { finishFlush: constants.Z_SYNC_FLUSH }));
}

function text(length: number): string {
  // JSON-like, compressible, with multi-byte characters.
  let out = "";
  for (let i = 0; out.length < length; i++) out += `{"id":${i},"name":"é✓ item ${i % 97}"},`;
  return out.slice(0, length);
}


describe("Sec-WebSocket-Extensions grammar (RFC 6455 §9.1)", () => {
  test("parses names, parameters with and without values, and quoted values", () => {
    assert.deepEqual(parseExtensions('permessage-deflate; client_max_window_bits; server_max_window_bits="10", x-foo'), [
      { name: "permessage-deflate", params: [["client_max_window_bits", true], ["server_max_window_bits", "10"]] },
      { name: "x-foo", params: [] },
    ]);
    assert.deepEqual(parseExtensions(" , a ,, b;c=d "), [{ name: "a", params: [] }, { name: "b", params: [["c", "d"]] }]);
  });

  test("rejects what the grammar does not allow", () => {
    for (const bad of ["permessage-deflate;", "a b", "a; =1", 'a; b="1', 'a; b="1 2"', "a; b=", "a;; b", "@"]) {
      assert.throws(() => parseExtensions(bad), SyntaxError, bad);
    }
  });
});

describe("permessage-deflate negotiation (RFC 7692 §7)", () => {
  test("the client offers client_max_window_bits, plus what it asks for", () => {
    assert.equal(deflateOffer(), "permessage-deflate; client_max_window_bits");
    assert.equal(
      deflateOffer({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9 }),
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9",
    );
    assert.throws(() => deflateOffer({ serverMaxWindowBits: 7 }), RangeError);
    assert.throws(() => deflateOffer({ clientMaxWindowBits: 16 }), RangeError);
  });

  test("the server accepts a plain offer with the RFC's defaults when it asks for nothing", () => {
    const accepted = acceptDeflateOffer("permessage-deflate; client_max_window_bits");
    assert.equal(accepted?.response, "permessage-deflate");
    assert.deepEqual(accepted?.params, {
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
    });
  });

  test("the server honours what the client asks and imposes its own limits only where the RFC lets it", () => {
    const accepted = acceptDeflateOffer(
      "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=13",
      { clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
    );
    assert.equal(
      accepted?.response,
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11",
    );
    // No client_max_window_bits in the offer: the server may not limit the client's window (§7.1.2.2).
    const unlimited = acceptDeflateOffer("permessage-deflate", { clientMaxWindowBits: 9 });
    assert.equal(unlimited?.response, "permessage-deflate");
    assert.equal(unlimited?.params.clientMaxWindowBits, 15);
    // A window of 8 is accepted (we compress with 9, see permessage_deflate.ts).
    assert.equal(acceptDeflateOffer("permessage-deflate; server_max_window_bits=8")?.params.serverMaxWindowBits, 8);
  });

  test("invalid offers are declined and the next valid one is taken, as §7 requires", () => {
    for (
      const bad of [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=08",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; unknown_parameter",
      ]
    ) {
      assert.equal(acceptDeflateOffer(bad), null, bad);
      assert.equal(acceptDeflateOffer(`${bad}, permessage-deflate; client_max_window_bits=10`)?.response, "permessage-deflate; client_max_window_bits=10");
    }
    assert.equal(acceptDeflateOffer("x-other"), null);
    assert.equal(acceptDeflateOffer(null), null);
    assert.throws(() => acceptDeflateOffer("permessage-deflate; ="), SyntaxError);
  });

  test("the client checks the server's answer and fails on anything §7.1 forbids", () => {
    assert.deepEqual(checkDeflateResponse("permessage-deflate; server_max_window_bits=9; client_no_context_takeover"), {
      serverNoContextTakeover: false,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 9,
      clientMaxWindowBits: 15,
    });
    assert.equal(checkDeflateResponse(""), null);
    const bad: [string, Parameters<typeof checkDeflateResponse>[1]][] = [
      ["permessage-deflate, permessage-deflate", {}],
      ["permessage-deflate; client_max_window_bits", {}],
      ["permessage-deflate; server_max_window_bits=7", {}],
      ["permessage-deflate; client_max_window_bits=10; client_max_window_bits=10", {}],
      ["permessage-deflate; foo", {}],
      ["permessage-deflate", { serverNoContextTakeover: true }],
      ["permessage-deflate", { serverMaxWindowBits: 10 }],
      ["permessage-deflate; server_max_window_bits=11", { serverMaxWindowBits: 10 }],
      ["permessage-deflate; client_max_window_bits=12", { clientMaxWindowBits: 10 }],
    ];
    for (const [response, offer] of bad) assert.throws(() => checkDeflateResponse(response, offer), SyntaxError, response);
  });
});

describe("compressed round trips in memory", () => {
  const combos: string[] = [];
  for (const serverNo of [false, true]) {
    for (const clientNo of [false, true]) {
      for (const [serverBits, clientBits] of [[15, 15], [8, 8], [9, 12]]) {
        let ext = "permessage-deflate";
        if (serverNo) ext += "; server_no_context_takeover";
        if (clientNo) ext += "; client_no_context_takeover";
        if (serverBits < 15) ext += `; server_max_window_bits=${serverBits}`;
        if (clientBits < 15) ext += `; client_max_window_bits=${clientBits}`;
        combos.push(ext);
      }
    }
  }

  for (const extensions of combos) {
    test(`both directions, text and binary, 0 B to 300 KB: ${extensions}`, async (t) => {
      const { client, server } = memoryPair(t, { extensions, compression: { threshold: 0 }, pingInterval: 0 });
      for (const length of [0, 1, 1000, 70_000, 300_000]) {
        for (let round = 0; round < 2; round++) {
          const str = text(length);
          const b = randomBytes(length, length + round);
          await client.sendAll(str);
          assertBytesEqual((await server.recvAll()).data, str, `text of ${length}`);
          await server.sendAll(b);
          assertBytesEqual((await client.recvAll()).data, b, `binary of ${length}`);
          await server.sendAll(str);
          assertBytesEqual((await client.recvAll()).data, str, `text of ${length} back`);
        }
      }
      await client.close();
      assert.equal((await server.closed).code, 1000);
    });
  }

  test("a compressed message the sender fragments arrives whole, and frames stay in order around it", async (t) => {
    const { client, server } = memoryPair(t, { extensions: "permessage-deflate", compression: { threshold: 10 }, pingInterval: 0 });
    await client.send(new Message(text(5000), "text", true));
    await client.send(new Message(new Uint8Array([1, 2, 3]), "ping"));
    await client.send(new Message(text(100), "text", true));
    await client.send(new Message("end", "text"));
    await client.send("tiny");
    const whole = await server.recvAll();
    assertBytesEqual(whole.data, text(5000) + text(100) + "end", "the fragmented compressed message");
    assert.equal((await server.recv()).type, "ping");
    assert.equal((await server.recv()).data, "tiny");
    await client.close();
  });

  test("idle compressors and decompressors are released and recreated on demand", async (t) => {
    const zlibSweeper = new ZlibSweeper();
    const { client, server } = memoryPair(t, {
      extensions: "permessage-deflate; client_no_context_takeover",
      compression: { threshold: 0 },
      pingInterval: 0,
      zlibSweeper,
    });
    for (let i = 0; i < 3; i++) {
      await client.send(text(2000));
      assertBytesEqual((await server.recv()).data, text(2000), `round ${i}: the client's message`);
      await server.send(text(3000));
      assertBytesEqual((await client.recv()).data, text(3000), `round ${i}: the server's message`);
      // Only the server holds state the sweeper may release: its
      // decompressor (the client does not take its context over) and the
      // history its next message may refer to. No compressor outlives its
      // message, and the client, without context takeover, keeps no history.
      assert.equal(zlibSweeper.size, 1, `round ${i}: the server is tracked, the client holds nothing`);
      zlibSweeper.sweep(Date.now() + 60_000, 0);
      assert.equal(zlibSweeper.size, 0, `round ${i}: the sweep released every idle compressor and decompressor`);
    }
    await client.close();
    zlibSweeper.close();
  });
});

describe("the wire format and the RSV1 rules", () => {
  const negotiated = { extensions: "permessage-deflate", compression: { threshold: 100 } };

  test("RSV1 goes on the first frame of a compressed message only, with the trailer removed", async (t) => {
    const peer = new RawPeer(t, "client", negotiated);
    const first = text(3000);
    await peer.ws.send(new Message(first, "text", true));
    await peer.ws.send(new Message("and more", "text"));
    await peer.ws.send("small");
    const f1 = await peer.expectFrame();
    const f2 = await peer.expectFrame();
    const f3 = await peer.expectFrame();
    assert.equal(f1.rsv1, true);
    assert.equal(f1.opcode, 1);
    assert.ok(f1.payload.length < 1000, "compressed");
    assert.equal(f2.rsv1, false);
    assert.equal(f2.opcode, 0);
    assert.notDeepEqual(f2.payload.subarray(-4), TRAILER);
    assert.equal(new TextDecoder().decode(inflate(f1.payload, f2.payload)), first + "and more");
    // Under the threshold: sent as it is, RSV1 clear.
    assert.equal(f3.rsv1, false);
    assert.equal(new TextDecoder().decode(f3.payload), "small");
    const ping = peer.ws.send(new Message(new Uint8Array(100).fill(7), "ping"));
    await ping;
    const p = await peer.expectFrame();
    assert.equal(p.rsv1, false, "control frames are never compressed");
    await peer.ws.close();
  });

  test("an empty message is sent as the single 0x00 block of §7.2.3.6, after other messages too", async (t) => {
    const peer = new RawPeer(t, "server", { extensions: "permessage-deflate", compression: { threshold: 0 } });
    const sent = ["", text(2000), "", "", "abc"];
    for (const message of sent) await peer.ws.send(message);
    // Decompress as ws does: one zlib stream for the connection, the trailer appended to every message.
    const zlibStream = createInflateRaw();
    const out: Buffer[] = [];
    zlibStream.on("data", (c: Buffer) => out.push(c));
    for (const message of sent) {
      const frame = await peer.expectFrame();
      assert.equal(frame.rsv1, true);
      if (message === "") assert.deepEqual([...frame.payload], [0]);
      zlibStream.write(frame.payload);
      zlibStream.write(TRAILER);
      await new Promise<void>((resolve) => zlibStream.flush(constants.Z_SYNC_FLUSH, () => resolve()));
      assert.equal(Buffer.concat(out.splice(0)).toString(), message);
    }
    zlibStream.close();
    await peer.ws.close();
  });

  test("a fragmented compressed message with a ping in the middle is inflated in order", async (t) => {
    const peer = new RawPeer(t, "server", negotiated);
    const body = compress(text(20_000));
    const a = body.subarray(0, 100);
    const b = body.subarray(100, 200);
    const c = body.subarray(200);
    await peer.write(rawFrame(0x41, a), rawFrame(0x89, "hi"), rawFrame(0x00, b), rawFrame(0x80, c), rawFrame(0x81, "plain"));
    const got = await peer.ws.recvAll();
    assertBytesEqual(got.data, text(20_000), "the inflated message");
    assert.equal((await peer.ws.recv()).type, "ping");
    assert.equal((await peer.ws.recv()).data, "plain", "uncompressed messages (RSV1 clear) are still accepted");
    await peer.ws.close();
  });

  test("context takeover: the second message refers back to the first", async (t) => {
    const peer = new RawPeer(t, "server", negotiated);
    const zlibStream = createDeflateRaw();
    const chunks: Buffer[] = [];
    zlibStream.on("data", (c: Buffer) => chunks.push(c));
    const deflateOne = (s: string) =>
      new Promise<Uint8Array>((resolve) => {
        zlibStream.write(s);
        zlibStream.flush(constants.Z_SYNC_FLUSH, () => {
          const all = Buffer.concat(chunks.splice(0));
          resolve(new Uint8Array(all.subarray(0, all.length - 4)));
        });
      });
    const m = text(4000);
    const one = await deflateOne(m);
    const two = await deflateOne(m);
    assert.ok(two.length < one.length / 4, "the peer's second message is mostly a back-reference");
    await peer.write(rawFrame(0xc1, one), rawFrame(0xc1, two));
    assertBytesEqual((await peer.ws.recv()).data, m, "the first message");
    assertBytesEqual((await peer.ws.recv()).data, m, "the second message, mostly a back-reference");
    zlibStream.close();
    await peer.ws.close();
  });

  test("a message ending with a BFINAL block is inflated, and the next one starts a new stream", async (t) => {
    const peer = new RawPeer(t, "server", negotiated);
    const final = new Uint8Array(deflateRawSync(Buffer.from("final block"))); // Z_FINISH: BFINAL set
    await peer.write(rawFrame(0xc1, final), rawFrame(0xc1, compress("after it")));
    assert.equal((await peer.ws.recv()).data, "final block");
    assert.equal((await peer.ws.recv()).data, "after it");
    await peer.ws.close();
  });

  test("RSV1 on a continuation frame fails with 1002", async (t) => {
    const peer = new RawPeer(t, "server", negotiated);
    await peer.write(rawFrame(0x41, compress("ab")), rawFrame(0xc0, compress("cd")));
    assert.equal(await peer.readCloseCode(), 1002);
    assert.equal((await peer.ws.closed).code, 1002);
  });

  test("RSV1 on a control frame fails with 1002", async (t) => {
    const peer = new RawPeer(t, "server", negotiated);
    await peer.write(rawFrame(0xc9, "x"));
    assert.equal(await peer.readCloseCode(), 1002);
  });

  test("RSV1 without permessage-deflate negotiated fails with 1002", async (t) => {
    const peer = new RawPeer(t, "server", { compression: true });
    await peer.write(rawFrame(0xc1, compress("hello")));
    assert.equal(await peer.readCloseCode(), 1002);
  });

  test("a corrupt DEFLATE stream fails with 1007", async (t) => {
    const peer = new RawPeer(t, "server", negotiated);
    await peer.write(rawFrame(0xc1, [0xff, 0xff, 0xff, 0x00, 0x12]));
    assert.equal(await peer.readCloseCode(), 1007);
    const info = await peer.ws.closed;
    assert.equal(info.code, 1007);
    assert.equal(info.error?.code, "ERR_INVALID_COMPRESSED_DATA");
  });

  test("an uncompressed frame still obeys maxFrameSize exactly", async (t) => {
    const peer = new RawPeer(t, "server", { ...negotiated, maxFrameSize: 1000 });
    await peer.write(rawFrame(0x82, new Uint8Array(1001)));
    assert.equal(await peer.readCloseCode(), 1009);
  });
});

describe("decompression limits", () => {
  test("a frame inflating past maxFrameSize fails with 1009 while inflating", async (t) => {
    const peer = new RawPeer(t, "server", { extensions: "permessage-deflate", maxFrameSize: 64 * 1024 });
    await peer.write(rawFrame(0xc2, compress(new Uint8Array(64 * 1024 + 1))));
    assert.equal(await peer.readCloseCode(), 1009);
  });

  test("a 1 GiB decompression bomb in a 1 MB frame fails with 1009 within the memory bound, twice", async (t) => {
    // Build the bomb without holding 1 GiB: stream one zeroed MiB through zlib 1024 times.
    const bomb = await new Promise<Uint8Array>((resolve) => {
      const d = createDeflateRaw({ level: 9 });
      const parts: Buffer[] = [];
      d.on("data", (c: Buffer) => parts.push(c));
      const zeros = Buffer.alloc(MiB);
      for (let i = 0; i < 1024; i++) d.write(zeros);
      d.flush(constants.Z_SYNC_FLUSH, () => {
        const all = Buffer.concat(parts);
        d.close();
        resolve(new Uint8Array(all.subarray(0, all.length - 4)));
      });
    });
    assert.ok(bomb.length < 1.1 * MiB, `bomb is ${bomb.length} bytes`);
    const framed = rawFrame(0xc2, bomb);
    // Twice: a peak that shows in one run of two was what Deno's zlib did.
    for (let run = 1; run <= 2; run++) {
      const peer = new RawPeer(t, "server", { extensions: "permessage-deflate" }); // maxFrameSize 1 MiB
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      t.after(() => clearInterval(sampler));
      await peer.write(framed);
      assert.equal(await withTimeout(peer.readCloseCode(), 20_000, "the bomb's 1009"), 1009);
      const info = await peer.ws.closed;
      assert.equal(info.code, 1009);
      assert.equal(info.error?.code, "ERR_MESSAGE_TOO_BIG");
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
      const grown = (peak - before) / MiB;
      console.log(`decompression bomb, run ${run}: RSS grew ${grown.toFixed(1)} MiB (limit 1 MiB, bomb 1 GiB)`);
      // Inflating the whole bomb would take 1 GiB; the limit plus a slice's output is about 2 MiB.
      assert.ok(grown < 64, `RSS grew ${grown.toFixed(1)} MiB`);
    }
  });
});

describe("connect and serve with compression over TCP", () => {
  test("messages of 0 B to 16 MiB, with and without context takeover", async (t) => {
    for (const compression of [true, { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10 }]) {
      const server = serve(
        { port: 0, hostname: "127.0.0.1" },
        requestHandler(async (ws) => {
          for await (const msg of ws) await ws.sendAll(msg);
        }, undefined, { compression }),
      );
      t.after(() => server.close());
      await server.ready;
      const ws = await connect(`ws://127.0.0.1:${server.port}/`, { compression });
      t.after(() => ws.terminate());
      assert.match(ws.extensions, /^permessage-deflate/);
      if (compression !== true) assert.match(ws.extensions, /server_no_context_takeover/);
      for (const length of [0, 1, 1023, 1024, 65_536, MiB + 3, 16 * MiB]) {
        const str = text(length);
        await ws.sendAll(str);
        const got = await withTimeout(ws.recvAll(), 60_000, `echo of ${length}`);
        assertBytesEqual(got.data, str, `text of ${length}`);
        const b = randomBytes(Math.min(length, 2 * MiB), length);
        await ws.sendAll(b);
        assertBytesEqual((await ws.recvAll()).data, b, `binary of ${b.length}`);
      }
      assert.equal((await ws.close()).code, 1000);
    }
  });

  test("the server does not compress unless asked, and the client's offer is then declined", async (t) => {
    const server = serve({ port: 0, hostname: "127.0.0.1" }, async (ws) => {
      for await (const msg of ws) await ws.send(msg);
    });
    t.after(() => server.close());
    await server.ready;
    const ws = await connect(`ws://127.0.0.1:${server.port}/`);
    t.after(() => ws.terminate());
    assert.equal(ws.extensions, "");
    await ws.send(text(5000));
    assertBytesEqual((await ws.recv()).data, text(5000), "the echo");
    await ws.close();
    const plain = await connect(`ws://127.0.0.1:${server.port}/`, { compression: false });
    t.after(() => plain.terminate());
    assert.equal(plain.extensions, "");
    await plain.close();
  });

  test("options are checked before anything is sent", async () => {
    await assert.rejects(connect("ws://127.0.0.1:1/", { compression: { level: 12 } }), RangeError);
    await assert.rejects(connect("ws://127.0.0.1:1/", { compression: { clientMaxWindowBits: 7 } }), RangeError);
    assert.throws(() => requestHandler(() => {}, undefined, { compression: { memLevel: 0 } }), RangeError);
  });
});

// ---------------------------------------------------------------- interop with ws

function spawnNode(args: string[]): ChildProcess {
  const fixture = new URL("./fixtures/ws_deflate_peer.mjs", import.meta.url);
  return spawn("node", [decodeURIComponent(fixture.pathname), ...args], { stdio: ["pipe", "pipe", "inherit"] });
}

function firstLine(proc: ChildProcess, what: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      let out = "";
      proc.stdout!.on("data", (chunk) => {
        out += String(chunk);
        if (out.includes("\n")) resolve(out.slice(0, out.indexOf("\n")).trim());
      });
      proc.once("error", reject);
      proc.once("exit", (code) => reject(new Error(`${what} exited with ${code} before printing`)));
    }),
    30_000,
    what,
  );
}

function stop(proc: ChildProcess | null): void {
  // Ours, by its PID.
  if (proc?.pid !== undefined && proc.exitCode === null) process.kill(proc.pid);
  proc?.stdin?.destroy();
  proc?.stdout?.destroy();
}

/**
 * A message whose only repetition lies 8 KiB back: a compressor with a
 * window of 2^13 or more finds it, one limited to 12 bits cannot, so
 * inflating the result with a 12-bit window fails ("invalid distance too far
 * back") unless the compressor kept to 12 bits.
 */
const FAR_REPEAT = (() => {
  const block = randomBytes(8192, 29);
  const out = new Uint8Array(16384);
  out.set(block, 0);
  out.set(block, 8192);
  return out;
})();

/** Opens a raw TCP WebSocket to `port` with `extensions` offered; returns the wire and the 101's extensions. */
async function rawHandshake(t: Parameters<typeof Wire.dial>[0], port: number, extensions: string) {
  const wire = await Wire.dial(t, port, false);
  await wire.send(
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
      `Sec-WebSocket-Extensions: ${extensions}\r\n\r\n`,
  );
  const head = await wire.readHead();
  assert.match(head.startLine, / 101 /, `the handshake: ${head.text}`);
  return { wire, extensions: head.headers.get("sec-websocket-extensions") };
}

/** Raw DEFLATE of `bytes` with a `bits`-bit window, sync flush, trailer removed: what a peer sends. */
function deflateWith(bytes: Uint8Array, bits: number): Uint8Array {
  const out = deflateRawSync(bytes, { finishFlush: constants.Z_SYNC_FLUSH, windowBits: bits });
  return new Uint8Array(out.buffer, out.byteOffset, out.length - 4);
}

/** Inflates a message we sent with a `bits`-bit window: throws when it refers further back. */
function inflateWith(payload: Uint8Array, bits: number): Uint8Array {
  return new Uint8Array(inflateRawSync(Buffer.concat([payload, TRAILER]), { finishFlush: constants.Z_SYNC_FLUSH, windowBits: bits }));
}

describe("a compressing server's defaults: 12-bit windows both ways, memLevel 5 (issue 29)", () => {
  const echoServer = (t: Parameters<typeof Wire.dial>[0], compression: unknown) => {
    const server = serve(
      { port: 0, hostname: "127.0.0.1" },
      requestHandler(async (ws) => {
        for await (const msg of ws) await ws.sendAll(msg);
      }, undefined, { compression: compression as true, pingInterval: 0 }),
    );
    t.after(() => server.close());
    return server;
  };

  test("answers a browser's offer with server_max_window_bits=12 and client_max_window_bits=12, and compresses within 12 bits", async (t) => {
    const server = echoServer(t, true);
    await server.ready;
    const { wire, extensions } = await rawHandshake(t, server.port, "permessage-deflate; client_max_window_bits");
    assert.equal(extensions, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
    await wire.send(rawFrame(0xc2, deflateWith(FAR_REPEAT, 12)));
    const echo = await wire.expectFrame();
    assert.equal(echo.rsv, 4, "the echo is compressed (RSV1)");
    assert.equal(echo.opcode, 2);
    // Inflated with the 12-bit window we were told of: a match further back would throw.
    assertBytesEqual(inflateWith(echo.payload, 12), FAR_REPEAT, "the echo, inflated with a 12-bit window");
    // A repetition within 4 KiB is still found: the window is small, not off.
    const near = new TextEncoder().encode(text(1500).repeat(2));
    await wire.send(rawFrame(0xc1, deflateWith(near, 12)));
    const nearEcho = await wire.expectFrame();
    assert.equal(nearEcho.rsv, 4);
    assert.ok(nearEcho.payload.length < near.length / 3, `a compressible echo of ${nearEcho.payload.length} bytes`);
    wire.destroy();
  });

  test("an offer without client_max_window_bits keeps the client's 15-bit window, which the server then inflates", async (t) => {
    const server = echoServer(t, true);
    await server.ready;
    const { wire, extensions } = await rawHandshake(t, server.port, "permessage-deflate");
    assert.equal(extensions, "permessage-deflate; server_max_window_bits=12");
    // Compressed with a 15-bit window: the repetition 8 KiB back becomes a match.
    const sent = deflateWith(FAR_REPEAT, 15);
    assert.ok(sent.length < 9000, "the peer's message refers 8 KiB back");
    await wire.send(rawFrame(0xc2, sent));
    const echo = await wire.expectFrame();
    assertBytesEqual(inflateWith(echo.payload, 12), FAR_REPEAT, "the echo");
    wire.destroy();
  });

  test("a client that asks for smaller windows gets them; 15 restores zlib's largest window and the plain answer", async (t) => {
    const server = echoServer(t, true);
    await server.ready;
    const small = await rawHandshake(t, server.port, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9");
    assert.equal(small.extensions, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9");
    small.wire.destroy();
    const wide = echoServer(t, { serverMaxWindowBits: 15, clientMaxWindowBits: 15, memLevel: 8 });
    await wide.ready;
    const { wire, extensions } = await rawHandshake(t, wide.port, "permessage-deflate; client_max_window_bits");
    assert.equal(extensions, "permessage-deflate");
    await wire.send(rawFrame(0xc2, deflateWith(FAR_REPEAT, 15)));
    const echo = await wire.expectFrame();
    assert.ok(echo.payload.length < 9000, `with a 15-bit window the echo refers 8 KiB back (${echo.payload.length} bytes)`);
    assertBytesEqual(inflateWith(echo.payload, 15), FAR_REPEAT, "the echo");
    wire.destroy();
  });

  test("our client at its defaults asks for nothing, and agrees to the server's 12-bit windows", async (t) => {
    const server = echoServer(t, true);
    await server.ready;
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { compression: true, pingInterval: 0 });
    t.after(() => ws.terminate());
    assert.equal(ws.extensions, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
    for (const message of [FAR_REPEAT, text(5000), text(2 * MiB)]) {
      await ws.sendAll(message);
      assertBytesEqual((await ws.recvAll()).data, message, `a message of ${message.length}`);
    }
    assert.equal((await ws.close()).code, 1000);
  });
});

/** One end of a raw DEFLATE stream kept for a whole connection, as a peer with context takeover keeps it. */
function persistentZlib(kind: "deflate" | "inflate", windowBits: number) {
  const stream = kind === "deflate" ? createDeflateRaw({ windowBits }) : createInflateRaw({ windowBits });
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return {
    /** Feeds `bytes` and sync-flushes; resolves with everything produced. */
    run: (bytes: Uint8Array) =>
      new Promise<Uint8Array>((resolve, reject) => {
        stream.once("error", reject);
        stream.write(bytes);
        stream.flush(constants.Z_SYNC_FLUSH, () => resolve(new Uint8Array(Buffer.concat(chunks.splice(0)))));
      }),
    close: () => stream.close(),
  };
}

describe("context takeover with no zlib state kept between messages (issue 29)", () => {
  test("the server's echoes refer back across small, big and fragmented messages, and a peer's one decompressor reads them all", async (t) => {
    const server = serve(
      { port: 0, hostname: "127.0.0.1" },
      requestHandler(async (ws) => {
        for await (const msg of ws) await ws.sendAll(msg);
      }, undefined, { compression: true, pingInterval: 0, maxFrameSize: 4 * MiB }),
    );
    t.after(() => server.close());
    await server.ready;
    const { wire, extensions } = await rawHandshake(t, server.port, "permessage-deflate; client_max_window_bits");
    assert.equal(extensions, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
    // Our compressor and decompressor live for the whole connection, as a browser's do.
    const ours = persistentZlib("deflate", 12);
    const theirs = persistentZlib("inflate", 12);
    t.after(() => {
      ours.close();
      theirs.close();
    });
    const small = new TextEncoder().encode(text(1500));
    const big = new TextEncoder().encode(text(300_000));
    const other = new TextEncoder().encode(text(2500).replaceAll("item", "unit"));
    const echoSizes: number[] = [];
    const exchange = async (message: Uint8Array, fragments: number, what: string) => {
      const compressed = await ours.run(message);
      const body = compressed.subarray(0, compressed.length - 4);
      // Split into `fragments` frames: RSV1 on the first only (RFC 7692 §6.1).
      const step = Math.ceil(body.length / fragments);
      const frames: Uint8Array[] = [];
      for (let i = 0; i < fragments; i++) {
        const part = body.subarray(i * step, Math.min(body.length, (i + 1) * step));
        const fin = i === fragments - 1 ? 0x80 : 0;
        frames.push(rawFrame(fin | (i === 0 ? 0x41 : 0x00), part));
      }
      await wire.send(...frames);
      const parts: Uint8Array[] = [];
      let first = true;
      for (;;) {
        const frame = await wire.expectFrame(10_000);
        if (first) assert.equal(frame.rsv, 4, `${what}: the echo is compressed`);
        first = false;
        parts.push(frame.payload);
        if (frame.fin) break;
      }
      const payload = Buffer.concat([...parts, TRAILER]);
      echoSizes.push(payload.length - 4);
      assertBytesEqual(await theirs.run(payload), message, `${what}: the echo, inflated in the peer's one stream`);
    };
    await exchange(small, 1, "a small message");
    await exchange(small, 1, "the same small message");
    assert.ok(echoSizes[1] < echoSizes[0] / 4, `the second echo refers back to the first (${echoSizes.join(", ")} bytes)`);
    await exchange(big, 1, "a 300 kB message");
    await exchange(big.subarray(big.length - 3000), 1, "the end of the big message");
    assert.ok(echoSizes[3] < 200, `an echo of what the big message ended with is a back-reference (${echoSizes[3]} bytes)`);
    await exchange(other, 3, "a message in three fragments");
    await exchange(other, 1, "the fragmented message again, whole");
    assert.ok(echoSizes[5] < echoSizes[4] / 4, `it refers back to the fragmented one (${echoSizes.join(", ")} bytes)`);
    wire.destroy();
  });
});

describe("the threshold's default follows context takeover, as in ws (issue 29)", () => {
  const small = new TextEncoder().encode(text(200));
  /** Sends `small` compressed on a fresh connection with `offer` and returns the echo's first frame. */
  const echoOf = async (t: Parameters<typeof Wire.dial>[0], compression: unknown, offer: string) => {
    const server = serve(
      { port: 0, hostname: "127.0.0.1" },
      requestHandler(async (ws) => {
        for await (const msg of ws) await ws.send(msg);
      }, undefined, { compression: compression as true, pingInterval: 0 }),
    );
    t.after(() => server.close());
    await server.ready;
    const { wire } = await rawHandshake(t, server.port, offer);
    await wire.send(rawFrame(0xc1, deflateWith(small, 12)));
    const echo = await wire.expectFrame();
    wire.destroy();
    return echo;
  };

  test("a server that keeps its context compresses a 200-byte message; one that does not sends it as is", async (t) => {
    const kept = await echoOf(t, true, "permessage-deflate; client_max_window_bits");
    assert.equal(kept.rsv, 4, "with context takeover the short echo is compressed (RSV1)");
    assertBytesEqual(inflateWith(kept.payload, 12), small, "the compressed echo");
    assert.ok(kept.payload.length < small.length, `${kept.payload.length} bytes on the wire`);
    const asked = await echoOf(t, true, "permessage-deflate; server_no_context_takeover; client_max_window_bits");
    assert.equal(asked.rsv, 0, "a client asked for server_no_context_takeover: below 1 KiB the echo is not compressed");
    assertBytesEqual(asked.payload, small, "the plain echo");
    const imposed = await echoOf(t, { serverNoContextTakeover: true }, "permessage-deflate; client_max_window_bits");
    assert.equal(imposed.rsv, 0, "serverNoContextTakeover: below 1 KiB the echo is not compressed");
  });

  test("a threshold that is set is kept either way", async (t) => {
    const set = await echoOf(t, { threshold: 1024 }, "permessage-deflate; client_max_window_bits");
    assert.equal(set.rsv, 0, "threshold 1024 with context takeover: the short echo is not compressed");
    const zero = await echoOf(t, { threshold: 0, serverNoContextTakeover: true }, "permessage-deflate; client_max_window_bits");
    assert.equal(zero.rsv, 4, "threshold 0 without context takeover: the short echo is compressed");
    assertBytesEqual(inflateWith(zero.payload, 12), small, "the compressed echo");
  });

  test("our client keeps its context and compresses a short message by default; the server inflates it", async (t) => {
    // A raw server: the client's frames are read by an independent parser.
    const { createServer } = await import("node:net");
    const { computeAccept } = await import("../src/handshake/key.ts");
    const frames: Promise<{ rsv: number; payload: Uint8Array }> = new Promise((resolve, reject) => {
      const listener = createServer((socket) => {
        const wire = new Wire(socket, true);
        (async () => {
          const head = await wire.readHead();
          const key = head.headers.get("sec-websocket-key")!;
          await wire.send(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
              `Sec-WebSocket-Accept: ${await computeAccept(key)}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
          );
          resolve(await wire.expectFrame());
          socket.destroy();
        })().catch(reject);
      });
      t.after(() => listener.close());
      listener.listen(0, "127.0.0.1", async () => {
        const port = (listener.address() as { port: number }).port;
        const ws = await connect(`ws://127.0.0.1:${port}/`, { compression: true, pingInterval: 0 });
        t.after(() => ws.terminate());
        await ws.send(small);
      });
    });
    const frame = await withTimeout(frames, 5000, "the client's first frame");
    assert.equal(frame.rsv, 4, "the client compressed its 200-byte message");
    assertBytesEqual(inflate(frame.payload), small, "the client's message, inflated independently");
  });
});

describe("our client against ws's server with perMessageDeflate", () => {
  let child: ChildProcess | null = null;
  let url = "";
  before(async () => {
    child = spawnNode(["server", JSON.stringify({ threshold: 0 })]);
    url = `ws://127.0.0.1:${await firstLine(child, "the ws server")}`;
  });
  after(() => stop(child));

  test("negotiates permessage-deflate and round-trips messages up to 16 MiB, compressed both ways", async (t) => {
    const ws = await connect(url, { maxFrameSize: 32 * MiB });
    t.after(() => ws.terminate());
    assert.match(ws.extensions, /^permessage-deflate/);
    for (const length of [0, 5, 2000, 100_000, 16 * MiB]) {
      const str = text(length);
      await ws.sendAll(str);
      assertBytesEqual((await withTimeout(ws.recvAll(), 60_000, `echo of ${length}`)).data, str, `text of ${length}`);
    }
    const b = randomBytes(300_000, 3);
    await ws.sendAll(b);
    assertBytesEqual((await ws.recvAll()).data, b, "300 kB of binary");
    await ws.send(new Message(text(10_000), "text", true));
    await ws.send(new Message(text(10_000), "text"));
    assertBytesEqual((await ws.recvAll()).data, text(10_000) + text(10_000), "the fragmented message's echo");
    await ws.send("stats");
    const stats = JSON.parse((await ws.recv()).data as string);
    assert.match(stats.extensions, /permessage-deflate/);
    // 16 MiB of JSON-like text went up; compressed, far less crossed the wire.
    assert.ok(stats.bytesRead < 4 * MiB, `ws read ${stats.bytesRead} bytes`);
    assert.equal((await ws.close()).code, 1000);
  });

  test("with no context takeover and small windows asked of the server", async (t) => {
    const ws = await connect(url, {
      compression: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 8 },
    });
    t.after(() => ws.terminate());
    assert.match(ws.extensions, /server_no_context_takeover/);
    for (const length of [10, 3000, 200_000]) {
      const str = text(length);
      await ws.sendAll(str);
      assertBytesEqual((await ws.recvAll()).data, str, `text of ${length}`);
      await ws.sendAll(str);
      assertBytesEqual((await ws.recvAll()).data, str, `text of ${length}, again`);
    }
    await ws.close();
  });
});

describe("ws's client with perMessageDeflate against our server", () => {
  for (const [name, compression, wsOptions] of [
    ["defaults", true, {}],
    ["no context takeover, 8-bit windows", {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 8,
      clientMaxWindowBits: 8,
    }, { clientMaxWindowBits: true }],
    // Our history is 2^9 bytes (zlib compresses raw DEFLATE with 9 bits at
    // least) but never referred to further back than the peer's 256 bytes.
    ["context takeover, 8-bit windows", { serverMaxWindowBits: 8, clientMaxWindowBits: 8 }, { clientMaxWindowBits: true }],
  ] as const) {
    test(`echoes every message intact (${name})`, async (t) => {
      const server = serve(
        { port: 0, hostname: "127.0.0.1" },
        requestHandler(async (ws) => {
          for await (const msg of ws) await ws.sendAll(msg);
        }, undefined, { compression }),
      );
      t.after(() => server.close());
      await server.ready;
      let child: ChildProcess | null = null;
      t.after(() => stop(child));
      child = spawnNode(["client", `ws://127.0.0.1:${server.port}/`, JSON.stringify({ threshold: 0, ...wsOptions })]);
      const result = JSON.parse(await firstLine(child, "the ws client"));
      assert.equal(result.error, undefined);
      assert.ok(result.extensions.includes("permessage-deflate"), result.extensions);
      assert.equal(result.echoed, result.total);
      assert.equal(result.closeCode, 1000);
      // About 1 MB of compressible messages went each way; compressed, far less.
      assert.ok(result.bytesWritten < 200_000, `ws wrote ${result.bytesWritten}`);
      assert.ok(result.bytesRead < 200_000, `ws read ${result.bytesRead}`);
    });
  }
});

describe("handshake failures", () => {
  test("a server answer the client cannot accept fails the handshake with a clear error", async (t) => {
    const { createServer } = await import("node:net");
    const { computeAccept } = await import("../src/handshake/key.ts");
    const listener = createServer((socket) => {
      let head = "";
      socket.on("data", async (chunk) => {
        head += String(chunk);
        if (!head.includes("\r\n\r\n")) return;
        const key = /sec-websocket-key: (.*)\r\n/i.exec(head)![1].trim();
        socket.end(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${await computeAccept(key)}\r\n` +
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=20\r\n\r\n",
        );
      });
    });
    t.after(() => listener.close());
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const port = (listener.address() as { port: number }).port;
    await assert.rejects(connect(`ws://127.0.0.1:${port}/`), (err: unknown) => {
      assert.ok(err instanceof HandshakeError);
      assert.equal(err.code, "ERR_HANDSHAKE_EXTENSION");
      assert.match(err.message, /server_max_window_bits=20/);
      return true;
    });
  });

  test("a malformed extensions header is answered 400 by a compressing server", async (t) => {
    const server = serve({ port: 0, hostname: "127.0.0.1" }, requestHandler(() => {}, undefined, { compression: true }));
    t.after(() => server.close());
    await server.ready;
    const { connect: netConnect } = await import("node:net");
    const socket = netConnect(server.port, "127.0.0.1");
    t.after(() => socket.destroy());
    socket.write(
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: permessage-deflate; =x\r\n\r\n",
    );
    const answer = await withTimeout(
      new Promise<string>((resolve) => {
        let out = "";
        socket.on("data", (c) => (out += String(c)));
        socket.on("close", () => resolve(out));
      }),
      5000,
      "The server's answer and its close of the connection",
    );
    assert.match(answer, /^HTTP\/1\.1 400/);
    assert.match(answer, /Sec-WebSocket-Extensions/);
  });
});
