// One message as a stream: sendAll from a stream of chunks and recvStream,
// over real sockets on every runtime, checked byte for byte and frame by
// frame (what recvStream yields is one piece per frame).
import assert from "node:assert/strict";
import { connect } from "../src/client/connect.ts";
import { serve } from "../src/server/serve.ts";
import { assertBytesEqual, describe, test, withTimeout } from "./_test.ts";

function chunkOf(i: number, size: number): Uint8Array {
  const chunk = new Uint8Array(size);
  for (let j = 0; j < size; j++) chunk[j] = (i * 31 + j) & 0xff;
  return chunk;
}

describe("streaming one message", () => {
  test("sendAll(async iterable) arrives as one binary message; recvStream yields it frame by frame", async (t) => {
    const chunks = [chunkOf(1, 1000), chunkOf(2, 0), chunkOf(3, 300_000), chunkOf(4, 5)];
    const total = chunks.reduce((n, c) => n + c.length, 0);
    let whole: Uint8Array | null = null;
    const server = serve({ hostname: "127.0.0.1", port: 0 }, async (ws) => {
      const msg = await ws.recvAll();
      whole = msg.data as Uint8Array;
      const { type, readable } = await ws.recvStream();
      let got = 0;
      let pieces = 0;
      for await (const piece of readable) {
        got += piece.length;
        pieces++;
      }
      await ws.send(`${type} ${got} in ${pieces} pieces`);
      await ws.closed;
    });
    t.after(() => server.close());
    await server.ready;
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { pingInterval: 0, maxFrameSize: 128 * 1024 });
    await ws.sendAll((async function* () {
      yield* chunks;
    })());
    // A ReadableStream works too; its 300 KB chunk goes out in frames of at most maxFrameSize.
    await ws.sendAll(ReadableStream.from(chunks));
    const reply = await withTimeout(ws.recv(), 10_000, "the server's count");
    // 1,000 B, then 300,000 B in frames of at most 128 KiB (3), then 5 B: the empty chunk adds none.
    assert.equal(reply.data, `binary ${total} in 5 pieces`);
    const expected = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      expected.set(c, at);
      at += c.length;
    }
    assertBytesEqual(whole, expected, "the streamed message");
    await ws.close();
  });

  test("a text message received with recvStream comes as its UTF-8 bytes; pings in between are skipped", async (t) => {
    const server = serve({ hostname: "127.0.0.1", port: 0 }, async (ws) => {
      const { type, readable } = await ws.recvStream();
      let text = "";
      const decoder = new TextDecoder();
      for await (const piece of readable) text += decoder.decode(piece, { stream: true });
      await ws.send(`${type}:${text}${decoder.decode()}`);
      await ws.closed;
    });
    t.after(() => server.close());
    await server.ready;
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { pingInterval: 0 });
    const { Message } = await import("../src/message.ts");
    await ws.send(new Message("héllo ", "text", true));
    await ws.ping();
    await ws.send(new Message("wörld", "text"));
    // for await skips the pong that answers our ping.
    const reply = await withTimeout(ws[Symbol.asyncIterator]().next(), 10_000, "the reply");
    assert.equal(reply.value?.data, "text:héllo wörld");
    await ws.close();
  });

  test("recvStream rejects once the connection is closed; an empty stream sends an empty message", async (t) => {
    const sizes: number[] = [];
    const server = serve({ hostname: "127.0.0.1", port: 0 }, async (ws) => {
      const msg = await ws.recvAll();
      sizes.push((msg.data as Uint8Array).length);
      await ws.close(1000);
    });
    t.after(() => server.close());
    await server.ready;
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { pingInterval: 0 });
    await ws.sendAll((async function* () {})());
    await assert.rejects(withTimeout(ws.recvStream(), 10_000, "recvStream"), /1000/);
    assert.deepEqual(sizes, [0]);
  });
});
