// send(): every kind of data the standard takes (string, ArrayBuffer,
// ArrayBufferView, Blob; anything else as its string), InvalidStateError
// while CONNECTING, echoed by our server and by ws (web-platform-tests
// websockets/Send-*), and the frames on the wire read by the suite's own
// parser: one masked frame per message, text or binary as the data says.
import assert from "node:assert/strict";
import { after, assertBytesEqual, before, describe, type Owner, Releases, test } from "../_test.ts";
import {
  assertThrowsDom,
  EventLog,
  implementations,
  opened,
  RawServer,
  release,
  type ScenarioServer,
  SERVERS,
  serverFrame,
  standard,
} from "./_web.ts";

const bytesOf = (data: unknown) => new Uint8Array(data as ArrayBuffer);

for (const impl of implementations()) {
  for (const [serverName, startServer] of SERVERS) {
    describe(`send (${impl.name}, ${serverName})`, () => {
      let server: ScenarioServer;
      const releases = new Releases();
      before(async () => (server = await startServer(releases)));
      after(() => releases.release());

      /** Sends `data` on a socket of its own, waits for the echo, returns it (binaryType arraybuffer). */
      async function echo(t: Owner, data: Parameters<WebSocket["send"]>[0]): Promise<unknown> {
        const log = await opened(t, impl, `${server.origin}/echo`);
        try {
          log.ws.binaryType = "arraybuffer";
          log.ws.send(data as never);
          const [reply] = await log.messagesCount(1);
          return reply;
        } finally {
          await release(log);
        }
      }

      test("text, with every kind of character, comes back the same", async (t) => {
        for (const text of ["hello", "", "Ѐ⬅️𝄞 ✓", "x".repeat(65_000), "\uD834\uDD1E paired"]) {
          assertBytesEqual(await echo(t, text), text, `the echo of ${text.slice(0, 20)}`);
        }
      });

      test("an unpaired surrogate is sent as U+FFFD", async (t) => {
        assert.equal(await echo(t, "\uD807"), "\uFFFD");
        assert.equal(await echo(t, "a\uDC00b"), "a\uFFFDb");
      });

      test("null, a number and an object are sent as their strings", async (t) => {
        assert.equal(await echo(t, null as never), "null");
        assert.equal(await echo(t, 42 as never), "42");
        assert.equal(await echo(t, { toString: () => "custom" } as never), "custom");
      });

      test("an ArrayBuffer (empty, small, 65 KiB) comes back as binary", async (t) => {
        for (const size of [0, 5, 65 * 1024]) {
          const buffer = new Uint8Array(size).map((_, i) => i % 251).buffer;
          const reply = await echo(t, buffer);
          assert.ok(reply instanceof ArrayBuffer);
          assertBytesEqual(bytesOf(reply), new Uint8Array(buffer), `the echo of ${size} bytes`);
        }
      });

      test("an ArrayBufferView sends exactly the bytes it views", async (t) => {
        const buffer = new ArrayBuffer(16);
        new Uint8Array(buffer).forEach((_, i, all) => (all[i] = i));
        const cases: [ArrayBufferView, number[]][] = [
          [new Uint8Array(buffer, 2, 3), [2, 3, 4]],
          [new Int16Array(buffer, 4, 2), [4, 5, 6, 7]],
          [new Uint32Array(buffer, 8), [8, 9, 10, 11, 12, 13, 14, 15]],
          [new DataView(buffer, 1, 2), [1, 2]],
          [new Float64Array([1.5]), Array.from(new Uint8Array(new Float64Array([1.5]).buffer))],
        ];
        for (const [view, expected] of cases) {
          assert.deepEqual(Array.from(bytesOf(await echo(t, view))), expected, view.constructor.name);
        }
      });

      test("a Blob is sent as binary, in order with the sends around it", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.binaryType = "arraybuffer";
        log.ws.send("before");
        log.ws.send(new Blob(["blob ", new Uint8Array([0xe2, 0x9c, 0x93])]));
        log.ws.send("after");
        const [first, blob, last] = await log.messagesCount(3);
        assert.equal(first, "before");
        assert.equal(new TextDecoder().decode(bytesOf(blob)), "blob ✓");
        assert.equal(last, "after");
      });

      test("send while CONNECTING throws InvalidStateError and sends nothing", async (t) => {
        const ws = new impl.WebSocket(`${server.origin}/echo`);
        const log = new EventLog(t, ws);
        await assertThrowsDom(impl, "InvalidStateError", () => ws.send("too early"));
        assert.equal(ws.bufferedAmount, 0);
        await log.open();
        ws.send("now");
        assert.deepEqual(await log.messagesCount(1), ["now"]);
      });

      test("the argument is converted before the state is looked at: no argument and a shared buffer are TypeErrors, even while CONNECTING", async (t) => {
        const ws = new impl.WebSocket(`${server.origin}/echo`);
        new EventLog(t, ws);
        await standard(impl, "send() without an argument is a TypeError", () => {
          assert.throws(() => (ws.send as () => void)(), TypeError);
        });
        await standard(impl, "send's argument is converted before the state check", () => {
          assert.throws(() => ws.send(Symbol("x") as never), TypeError, "a Symbol has no string");
        });
        assert.equal(ws.bufferedAmount, 0);
      });
    });
  }

  describe(`send on the wire (${impl.name})`, () => {
    let raw: RawServer;
    const releases = new Releases();
    before(async () => (raw = await RawServer.start(releases)));
    after(() => releases.release());

    test("each send is one masked frame: text as opcode 1, binary as opcode 2, exact payload", async (t) => {
      const ws = new impl.WebSocket(raw.url);
      const log = new EventLog(t, ws);
      const peer = await raw.next(t);
      await log.open();
      ws.send("héllo");
      ws.send(new Uint8Array([1, 2, 3]));
      ws.send(new Uint16Array([0x0102]).subarray(0, 1));
      ws.send(new Blob(["b"]));
      ws.send("");
      const frames = [];
      for (let i = 0; i < 5; i++) frames.push(await peer.wire.expectFrame());
      assert.deepEqual(frames.map((f) => [f.fin, f.opcode, f.masked]), Array(5).fill(null).map((_, i) => [true, i === 0 || i === 4 ? 1 : 2, true]));
      assert.equal(new TextDecoder().decode(frames[0].payload), "héllo");
      assert.deepEqual(Array.from(frames[1].payload), [1, 2, 3]);
      assert.deepEqual(frames[2].payload, new Uint8Array(new Uint16Array([0x0102]).buffer));
      assert.equal(new TextDecoder().decode(frames[3].payload), "b");
      assert.equal(frames[4].payload.length, 0);
    });

    test("the bytes sent are those at the time of send, even if the buffer changes right after", async (t) => {
      const ws = new impl.WebSocket(raw.url);
      const log = new EventLog(t, ws);
      const peer = await raw.next(t);
      await log.open();
      const data = new Uint8Array([1, 2, 3]);
      ws.send(data);
      data.fill(9);
      const frame = await peer.wire.expectFrame();
      assert.deepEqual(Array.from(frame.payload), [1, 2, 3]);
    });

    test("a view on a SharedArrayBuffer is a TypeError", async (t) => {
      const ws = new impl.WebSocket(raw.url);
      const log = new EventLog(t, ws);
      const peer = await raw.next(t);
      await log.open();
      await standard(impl, "shared buffers are refused", () => {
        assert.throws(() => ws.send(new Uint8Array(new SharedArrayBuffer(4)) as never), TypeError);
      });
      peer.wire.write(serverFrame(0x8, new Uint8Array([0x03, 0xe8])));
      peer.wire.end();
      await log.closeEvent();
    });
  });
}
