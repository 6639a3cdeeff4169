// binaryType (web-platform-tests websockets/binaryType-wrong-value,
// Create-*-binaryType-blob, Send-binary-*): "blob" by default, "arraybuffer"
// on request, any other value ignored; the type in force when the message
// event is dispatched decides what data is.
import assert from "node:assert/strict";
import { after, assertBytesEqual, before, describe, Releases, test } from "../_test.ts";
import { implementations, opened, type ScenarioServer, SERVERS, standard } from "./_web.ts";

for (const impl of implementations()) {
  for (const [serverName, startServer] of SERVERS) {
    describe(`binaryType (${impl.name}, ${serverName})`, () => {
      let server: ScenarioServer;
      const releases = new Releases();
      before(async () => (server = await startServer(releases)));
      after(() => releases.release());

      test("blob by default: binary messages arrive as Blobs holding the bytes", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        await standard(impl, "binaryType defaults to blob", async () => {
          assert.equal(log.ws.binaryType, "blob");
          log.ws.send(new Uint8Array([1, 2, 250]));
          const [data] = await log.messagesCount(1);
          assert.ok(data instanceof Blob, `${data} is a Blob`);
          assert.deepEqual(new Uint8Array(await data.arrayBuffer()), new Uint8Array([1, 2, 250]));
        });
      });

      test("arraybuffer: binary messages arrive as ArrayBuffers of exactly their bytes", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.binaryType = "arraybuffer";
        assert.equal(log.ws.binaryType, "arraybuffer");
        log.ws.send(new Uint8Array(1000).fill(7));
        log.ws.send(new Uint8Array(0));
        const [big, empty] = await log.messagesCount(2);
        assert.ok(big instanceof ArrayBuffer);
        assertBytesEqual(new Uint8Array(big), new Uint8Array(1000).fill(7), "the 1000-byte message");
        assert.ok(empty instanceof ArrayBuffer);
        assert.equal(empty.byteLength, 0);
      });

      test("any other value is ignored (no exception)", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.binaryType = "arraybuffer";
        await standard(impl, "an invalid binaryType is ignored", () => {
          for (const value of ["notBlobOrArrayBuffer", "Blob", "", "nodebuffer!"]) {
            log.ws.binaryType = value as BinaryType;
            assert.equal(log.ws.binaryType, "arraybuffer", `after setting ${value}`);
          }
        });
      });

      test("the binaryType at dispatch decides: switching in a listener changes the next message", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.binaryType = "arraybuffer";
        log.ws.addEventListener("message", () => (log.ws.binaryType = "blob"), { once: true });
        log.ws.send(new Uint8Array([1]));
        log.ws.send(new Uint8Array([2]));
        const [first, second] = await log.messagesCount(2);
        assert.ok(first instanceof ArrayBuffer);
        assert.ok(second instanceof Blob);
      });

      test("text messages are strings whatever the binaryType", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.binaryType = "arraybuffer";
        log.ws.send("text");
        assert.deepEqual(await log.messagesCount(1), ["text"]);
      });
    });
  }
}
