// bufferedAmount (web-platform-tests websockets/interfaces/WebSocket/
// bufferedAmount/*): it grows synchronously with each send by the bytes of
// application data (text as UTF-8, no framing), holds that value to the end
// of the task (the standard's value is "as of the last time the event loop
// reached step 1" plus what was sent since), falls back to 0 once the bytes
// are on the network, and after the close only grows.
import assert from "node:assert/strict";
import { after, before, describe, eventually, Releases, test } from "../_test.ts";
import { EventLog, implementations, opened, type ScenarioServer, SERVERS, standard } from "./_web.ts";

for (const impl of implementations()) {
  for (const [serverName, startServer] of SERVERS) {
    describe(`bufferedAmount (${impl.name}, ${serverName})`, () => {
      let server: ScenarioServer;
      const releases = new Releases();
      before(async () => (server = await startServer(releases)));
      after(() => releases.release());

      test("0 while CONNECTING and after open", async (t) => {
        const ws = new impl.WebSocket(`${server.origin}/echo`);
        const log = new EventLog(t, ws);
        assert.equal(ws.bufferedAmount, 0);
        await log.open();
        assert.equal(ws.bufferedAmount, 0);
      });

      test("grows at once by the UTF-8 length of text, the size of buffers, views and Blobs", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        const ws = log.ws;
        await standard(impl, "bufferedAmount grows synchronously with send", () => {
          ws.send("Ѐ⬅️"); // 2 + 3 + 3 bytes
          assert.equal(ws.bufferedAmount, 8);
          ws.send(new ArrayBuffer(10));
          assert.equal(ws.bufferedAmount, 18);
          ws.send(new Uint16Array(new ArrayBuffer(64), 8, 4)); // 8 bytes of a 64-byte buffer
          assert.equal(ws.bufferedAmount, 26);
        });
        const before = ws.bufferedAmount;
        await standard(impl, "send(blob) adds to bufferedAmount at once", () => {
          ws.send(new Blob(["abc"]));
          assert.equal(ws.bufferedAmount, before + 3);
        });
      });

      test("falls back to 0 once the data went out (checked when the echo arrives)", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.send("x".repeat(100_000));
        await standard(impl, "bufferedAmount grows synchronously with send", () => assert.equal(log.ws.bufferedAmount, 100_000));
        await log.messagesCount(1);
        assert.equal(log.ws.bufferedAmount, 0);
      });

      test("it does not fall within the task that sent, microtasks included; it falls in a later task", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        const ws = log.ws;
        await standard(impl, "bufferedAmount holds within a task", async () => {
          // Sent and read back inside one task: a message listener, then 2,000 promise turns.
          const seen = await new Promise<number[]>((resolve) => {
            ws.addEventListener("message", async () => {
              ws.send("0123456789");
              const values = [ws.bufferedAmount];
              for (let i = 0; i < 2000; i++) await null;
              values.push(ws.bufferedAmount);
              resolve(values);
            }, { once: true });
            ws.send("go");
          });
          assert.deepEqual(seen, [10, 10], "the 10 bytes sent in this task are still counted at its end");
        });
        await eventually(() => ws.bufferedAmount === 0, 10_000, "bufferedAmount falling to 0 in a later task");
      });

      test("after close(), sends only add to it; it never falls back", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.close();
        await standard(impl, "bufferedAmount grows after close", async () => {
          log.ws.send("abc");
          assert.equal(log.ws.bufferedAmount, 3);
          await log.closeEvent();
          log.ws.send(new Uint8Array(5));
          assert.equal(log.ws.bufferedAmount, 8);
        });
        await log.closeEvent();
      });
    });
  }
}
