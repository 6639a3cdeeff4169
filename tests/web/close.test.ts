// close(code, reason): the standard's exceptions (InvalidAccessError for a
// code other than 1000 or 3000-4999 after [Clamp], SyntaxError for a reason
// over 123 bytes of UTF-8, both before the state is looked at), the close
// frame on the wire (no body without code and reason, 1000 for a reason
// alone, U+FFFD for an unpaired surrogate), readyState CLOSING at once, and
// the close event's code and reason (web-platform-tests websockets/Close-*,
// Secure-Close-*, close-invalid, interfaces/WebSocket/close/*).
import assert from "node:assert/strict";
import { after, before, describe, type Owner, Releases, test } from "../_test.ts";
import {
  assertThrowsDom,
  closePayload,
  EventLog,
  implementations,
  opened,
  RawServer,
  type ScenarioServer,
  SERVERS,
  serverFrame,
  standard,
} from "./_web.ts";

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

for (const impl of implementations()) {
  describe(`close() exceptions (${impl.name})`, () => {
    let raw: RawServer;
    const releases = new Releases();
    before(async () => (raw = await RawServer.start(releases)));
    after(() => releases.release());
    // A fresh open socket for each test: a close() that wrongly succeeds must not spoil the next one.
    const fresh = async (t: Owner) => {
      const log = new EventLog(t, new impl.WebSocket(raw.url));
      await raw.next(t);
      await log.open();
      return log;
    };

    for (const [code, what] of [[0, "0"], [500, "500"], [NaN, "NaN"], ["string", "a string"], [null, "null"], [0x10000 + 1000, "2**16+1000 (clamped to 65535)"], [999, "999"], [1001, "1001"], [1005, "1005"], [2999, "2999"], [5000, "5000"]] as [unknown, string][]) {
      test(`close(${what}) throws InvalidAccessError`, async (t) => {
        const log = await fresh(t);
        await standard(impl, `close(${what}) throws InvalidAccessError`, async () => {
          await assertThrowsDom(impl, "InvalidAccessError", () => log.ws.close(code as number));
          assert.equal(log.ws.readyState, 1, "still open");
        });
      });
    }

    test("a reason over 123 bytes of UTF-8 throws SyntaxError (bytes, not characters)", async (t) => {
      const log = await fresh(t);
      await standard(impl, "close reasons over 123 bytes throw", async () => {
        await assertThrowsDom(impl, "SyntaxError", () => log.ws.close(1000, "x".repeat(124)));
        await assertThrowsDom(impl, "SyntaxError", () => log.ws.close(1000, "é".repeat(62)));
        assert.equal(log.ws.readyState, 1, "still open");
      });
    });

    test("the code is checked before the reason", async (t) => {
      const log = await fresh(t);
      await assertThrowsDom(impl, "InvalidAccessError", () => log.ws.close(2999, "x".repeat(200)));
    });

    test("a reason alone (no code) is an InvalidAccessError: the string is taken as the code", async (t) => {
      const log = await fresh(t);
      await assertThrowsDom(impl, "InvalidAccessError", () => (log.ws.close as (code: unknown) => void)("Close with only reason"));
    });
  });

  describe(`close() on the wire (${impl.name})`, () => {
    let raw: RawServer;
    const releases = new Releases();
    before(async () => (raw = await RawServer.start(releases)));
    after(() => releases.release());

    /** Opens, calls close(...args), returns the close frame the server read and the socket's log. */
    async function closeWith(t: Owner, ...args: unknown[]) {
      const log = new EventLog(t, new impl.WebSocket(raw.url));
      const peer = await raw.next(t);
      await log.open();
      (log.ws.close as (...args: unknown[]) => void)(...args);
      const readyState = log.ws.readyState;
      const frame = await peer.wire.expectFrame();
      return { log, peer, frame, readyState };
    }

    for (
      const [args, payload, what] of [
        [[], new Uint8Array(0), "close() sends a close frame without a body"],
        [[1000], closePayload(1000), "close(1000) sends the code alone"],
        [[3000.5], closePayload(3000), "close(3000.5) sends 3000 ([Clamp] rounds half to even)"],
        [[4999, "bye ✓"], closePayload(4999, "bye ✓"), "close(4999, reason) sends both"],
        [[1000, "\uD807"], closePayload(1000, "\uFFFD"), "an unpaired surrogate in the reason becomes U+FFFD"],
        [["1000"], closePayload(1000), "close(\"1000\") converts the string to the code"],
        [[undefined, ""], new Uint8Array(0), "close(undefined, \"\") sends no body"],
      ] as [unknown[], Uint8Array, string][]
    ) {
      test(what, async (t) => {
        const { log, peer, frame, readyState } = await closeWith(t, ...args);
        assert.equal(readyState, 2, "CLOSING right after close()");
        assert.equal(frame.opcode, 8);
        assert.ok(frame.masked);
        assert.deepEqual(frame.payload, payload);
        // The server answers; the close event reports the server's close frame.
        peer.wire.write(serverFrame(0x8, closePayload(4001, "server's")));
        peer.wire.end();
        const event = await log.closeEvent();
        assert.equal(event.code, 4001);
        assert.equal(event.reason, "server's");
        assert.equal(event.wasClean, true);
        assert.equal(log.ws.readyState, 3);
      });
    }

    test("a reason without a code is sent with 1000", async (t) => {
      const { frame } = await closeWith(t, undefined, "only a reason");
      await standard(impl, "a reason alone is sent with 1000", () => assert.deepEqual(frame.payload, closePayload(1000, "only a reason")));
    });

    test("close() twice, and close() after the server's close, send one close frame", async (t) => {
      const { log, peer } = await closeWith(t, 1000);
      log.ws.close(3000);
      log.ws.close();
      peer.wire.write(serverFrame(0x8, closePayload(1000)));
      peer.wire.end();
      await log.closeEvent();
      assert.equal(await peer.wire.readFrame(2000), null, "no second close frame");
    });
  });

  for (const [serverName, startServer] of SERVERS) {
    describe(`close handshake (${impl.name}, ${serverName})`, () => {
      let server: ScenarioServer;
      const releases = new Releases();
      before(async () => (server = await startServer(releases)));
      after(() => releases.release());

      test("close() without arguments: the server's answer has no code, so the event says 1005", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.close();
        const event = await log.closeEvent();
        assert.deepEqual([event.code, event.reason, event.wasClean], [1005, "", true]);
        assert.deepEqual(log.entries, ["open 1", 'close 1005 "" true 3']);
      });

      test("close(code, reason): the event has the server's answer", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.close(3000, "a reason ✓");
        const event = await log.closeEvent();
        assert.equal(event.code, 3000);
        assert.equal(event.reason, server.echoesCloseReason ? "a reason ✓" : "");
        assert.equal(event.wasClean, true);
      });

      test("a close from the server: code, reason, wasClean, readyState CLOSED in the close event", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.send("close:4000:ロボット");
        const event = await log.closeEvent();
        assert.deepEqual([event.code, event.reason, event.wasClean], [4000, "ロボット", true]);
        assert.equal(log.ws.readyState, 3);
      });

      test("a close frame from the server without a body: 1005 and an empty reason", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.send("close");
        const event = await log.closeEvent();
        assert.deepEqual([event.code, event.reason, event.wasClean], [1005, "", true]);
      });

      test("the server dropping TCP without a close frame: close 1006 not clean (no error, as in Chromium)", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.send("drop");
        await log.closeEvent();
        await standard(impl, "a lost connection reports close 1006", () => {
          assert.deepEqual(log.entries, ["open 1", 'close 1006 "" false 3']);
        });
      });

      test("close() while CONNECTING: error, then close 1006 not clean, and no open", async (t) => {
        const ws = new impl.WebSocket(`${server.origin}/echo`);
        const log = new EventLog(t, ws);
        ws.close();
        assert.equal(ws.readyState, 2);
        await standard(impl, "a failed opening reports error, then close 1006", async () => {
          await log.closeEvent(3000);
          assert.deepEqual(log.entries, ["error 3", 'close 1006 "" false 3']);
        });
      });

      test("a refused handshake (403): error, then close 1006", async (t) => {
        const log = new EventLog(t, new impl.WebSocket(`${server.origin}/refuse`));
        await standard(impl, "a failed opening reports error, then close 1006", async () => {
          await log.closeEvent(3000);
          assert.deepEqual(log.entries, ["error 3", 'close 1006 "" false 3']);
        });
      });
    });
  }

  describe(`close event from a raw server (${impl.name})`, () => {
    let raw: RawServer;
    const releases = new Releases();
    before(async () => (raw = await RawServer.start(releases)));
    after(() => releases.release());

    test("a reason starting with a BOM keeps it (UTF-8 decode without BOM)", async (t) => {
      const log = new EventLog(t, new impl.WebSocket(raw.url));
      const peer = await raw.next(t);
      await log.open();
      peer.wire.write(serverFrame(0x8, closePayload(4000, "\uFEFFbom")));
      const answer = await peer.wire.expectFrame();
      assert.equal(answer.opcode, 8, "the client answers the close");
      assert.equal(decode(answer.payload.subarray(0, 2)).length > 0, true);
      peer.wire.end();
      const event = await log.closeEvent();
      await standard(impl, "close reasons keep a leading BOM", () => assert.equal(event.reason, "\uFEFFbom"));
    });

    test("invalid UTF-8 in a text message fails the connection: 1007 on the wire, error, close 1006", async (t) => {
      const log = new EventLog(t, new impl.WebSocket(raw.url));
      const peer = await raw.next(t);
      await log.open();
      peer.wire.write(serverFrame(0x1, new Uint8Array([0xc3, 0x28])));
      const frame = await peer.wire.readFrame();
      await standard(impl, "invalid UTF-8 fails the connection with 1007 on the wire", () => {
        assert.equal(frame?.opcode, 8);
        assert.equal((frame!.payload[0] << 8) | frame!.payload[1], 1007);
      });
      peer.wire.end();
      await log.closeEvent();
      await standard(impl, "a failed connection reports error, then close 1006", () => {
        assert.deepEqual(log.entries, ["open 1", "error 3", 'close 1006 "" false 3']);
      });
    });
  });
}
