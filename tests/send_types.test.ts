// What send and sendAll accept, through real sockets: ArrayBuffer, every
// ArrayBufferView (typed arrays of any element type, DataView, Buffer) and
// Blob go out as binary, as ws and browsers send them; anything else is a
// TypeError. What arrives as binary is a plain Uint8Array.
import { assertBytesEqual, describe, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect, type Message, type Sendable, serve, type WebSocketConnection } from "../mod.ts";
import { toMessage } from "../src/message.ts";

const MiB = 1024 * 1024;

/** A server that echoes every whole message, and a client connected to it; closed when `t` ends. */
async function echoPair(t: Owner): Promise<{ ws: WebSocketConnection; received: Message[] }> {
  const received: Message[] = [];
  const server = serve({ port: 0, hostname: "127.0.0.1" }, async (ws) => {
    for await (const msg of ws) {
      received.push(msg);
      await ws.sendAll(msg.data);
    }
  });
  t.after(() => server.close());
  await server.ready;
  const ws = await connect(`ws://127.0.0.1:${server.port}/`);
  t.after(() => ws.terminate());
  return { ws, received };
}

function bytesOf(view: ArrayBufferView | ArrayBuffer): Uint8Array {
  return view instanceof ArrayBuffer
    ? new Uint8Array(view)
    : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

describe("send accepts binary data in every form", () => {
  test("ArrayBuffer, typed arrays of every element type, DataView and Buffer arrive as their bytes", async (t) => {
    const { ws, received } = await echoPair(t);
    const backing = new ArrayBuffer(64);
    new Uint8Array(backing).forEach((_, i, a) => (a[i] = i * 3));
    const samples: [string, ArrayBuffer | ArrayBufferView][] = [
      ["ArrayBuffer", backing.slice(0, 10)],
      ["Int8Array", new Int8Array([-1, 2, -3])],
      ["Uint8ClampedArray", new Uint8ClampedArray([0, 255, 300])],
      ["Int16Array", new Int16Array([-2, 1000])],
      ["Uint16Array", new Uint16Array([1, 65535])],
      ["Int32Array", new Int32Array([-7, 1 << 30])],
      ["Uint32Array", new Uint32Array([0xdeadbeef])],
      ["Float32Array", new Float32Array([0.5, -1.25])],
      ["Float64Array", new Float64Array([Math.PI])],
      ["BigInt64Array", new BigInt64Array([-5n])],
      ["BigUint64Array", new BigUint64Array([2n ** 63n])],
      ["a Float64Array over part of a buffer", new Float64Array(backing, 16, 3)],
      ["DataView over part of a buffer", new DataView(backing, 5, 7)],
      ["Buffer", Buffer.from("buffer bytes")],
      ["empty ArrayBuffer", new ArrayBuffer(0)],
    ];
    for (const [what, data] of samples) {
      await ws.send(data);
      const back = await withTimeout(ws.recvAll(), 10_000, what);
      assert.equal(back.type, "binary", what);
      assert.deepEqual(received.at(-1)!.data, bytesOf(data), what);
      assert.deepEqual(back.data, bytesOf(data), what);
      assert.equal(Object.getPrototypeOf(back.data), Uint8Array.prototype, `${what}: received as a plain Uint8Array`);
      assert.equal(Object.getPrototypeOf(received.at(-1)!.data), Uint8Array.prototype, `${what} (server side)`);
    }
    // sendAll fragments them like any bytes.
    const big = new Float64Array(MiB / 4); // 2 MiB
    big.forEach((_, i, a) => (a[i] = i / 7));
    await ws.sendAll(big);
    assertBytesEqual((await withTimeout(ws.recvAll(), 20_000, "2 MiB Float64Array")).data, bytesOf(big), "2 MiB Float64Array");
    await ws.close();
  });

  test("a Blob is sent as binary, in order with the sends around it; sendAll fragments a large one", async (t) => {
    const { ws } = await echoPair(t);
    // Not awaited one by one: reading the Blob must not let "after" overtake it.
    const sent = [ws.send("before"), ws.send(new Blob(["blob ", new Uint8Array([1, 2])])), ws.send("after")];
    assert.equal((await ws.recvAll()).data, "before");
    assert.deepEqual((await ws.recvAll()).data, new Uint8Array([98, 108, 111, 98, 32, 1, 2]));
    assert.equal((await ws.recvAll()).data, "after");
    await Promise.all(sent);

    const large = new Uint8Array(3 * MiB).map((_, i) => i % 251);
    const sending = ws.sendAll(new Blob([large]));
    assertBytesEqual((await withTimeout(ws.recvAll(), 20_000, "3 MiB Blob")).data, large, "3 MiB Blob");
    await sending;
    await assert.rejects(ws.send(new Blob([large])), /use sendAll to send it in fragments/);
    await ws.send(new Blob([]));
    assert.deepEqual((await ws.recvAll()).data, new Uint8Array(0));

    // A close issued while a Blob is read waits for it.
    const last = ws.send(new Blob(["last words"]));
    const closing = ws.close(1000);
    await last;
    assert.deepEqual(new TextDecoder().decode((await ws.recv()).data as Uint8Array), "last words");
    assert.equal((await closing).code, 1000);
  });

  test("anything else is a TypeError that lists what send accepts, and the connection stays usable", async (t) => {
    const { ws } = await echoPair(t);
    for (const bad of [42, null, undefined, { data: 1 }, [1, 2], new Map(), Symbol("x")]) {
      await assert.rejects(ws.send(bad as unknown as Sendable), {
        name: "TypeError",
        message: "send expects a Message, a string, an ArrayBuffer, an ArrayBufferView or a Blob",
      });
      await assert.rejects(ws.sendAll(bad as unknown as Sendable), TypeError);
    }
    await ws.send("fine");
    assert.equal((await ws.recvAll()).data, "fine");
    await ws.close();
  });

  test("the server sends them the same way", async (t) => {
    const server = serve({ port: 0, hostname: "127.0.0.1" }, async (ws) => {
      await ws.send(new Uint16Array([0x0102, 0x0304]));
      await ws.send(new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2));
      await ws.sendAll(new Blob(["from the server"]));
      await ws.closed;
    });
    t.after(() => server.close());
    await server.ready;
    const ws = await connect(`ws://127.0.0.1:${server.port}/`);
    assert.deepEqual((await ws.recvAll()).data, bytesOf(new Uint16Array([0x0102, 0x0304])));
    assert.deepEqual((await ws.recvAll()).data, new Uint8Array([8, 7]));
    assert.deepEqual((await ws.recvAll()).data, new TextEncoder().encode("from the server"));
    await ws.close();
  });
});

describe("toMessage", () => {
  test("views the bytes without copying and keeps Messages as they are", () => {
    const buffer = new ArrayBuffer(8);
    const msg = toMessage(new Uint32Array(buffer, 4, 1));
    assert.equal((msg.data as Uint8Array).buffer, buffer);
    assert.equal((msg.data as Uint8Array).byteOffset, 4);
    assert.equal((msg.data as Uint8Array).length, 4);
    const text = toMessage("hi");
    assert.equal(toMessage(text), text);
    assert.throws(() => toMessage(new Blob([])), TypeError); // read asynchronously by send, not here
  });
});
