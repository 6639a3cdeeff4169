// RFC 6455 §5.5.1 and §7 closing (Autobahn category 7): a close is answered
// with a close carrying the same status code, nothing after a close frame is
// processed, malformed close payloads and codes that may not be sent fail the
// connection, and the server closes TCP first while the client waits for it.
import assert from "node:assert/strict";
import { concatBytes } from "../../src/codec/pool.ts";
import { rawFrame } from "../_helpers.ts";
import { assertBytesEqual } from "../_test.ts";
import { type Case, type Opened, suite } from "./_wire.ts";

const TEXT = 0x81;
const CLOSE = 0x88;

const code = (n: number, reason = "") => [n >> 8, n & 0xff, ...new TextEncoder().encode(reason)];

/**
 * After the close echo: our server closes TCP at once (§7.1.1), our client
 * must wait for the server to do so, and then reports a clean close.
 */
async function finish({ peer, ws }: Opened, expected: number): Promise<void> {
  if (ws === undefined) return peer.expectEnd();
  await peer.expectSilence("the client must leave closing TCP to the server (RFC 6455 §7.1.1)");
  peer.wire.end();
  const info = await ws.closed;
  assert.deepEqual([info.code, info.wasClean], [expected, true]);
}

const cases: Case[] = [
  {
    id: "7.1.1",
    title: "a text message, then a close with 1000: the echo, then the close echoed",
    async run(opened) {
      const { peer } = opened;
      await peer.send(peer.frame(TEXT, "Hello World!"));
      await peer.expect(TEXT, "Hello World!", "echo");
      await peer.send(peer.frame(CLOSE, code(1000)));
      await peer.expect(CLOSE, code(1000), "close echo");
      await finish(opened, 1000);
    },
  },
  {
    id: "7.1.2",
    title: "two close frames: only one close is sent back",
    async run(opened) {
      const { peer } = opened;
      await peer.send(peer.frame(CLOSE, code(1000)), peer.frame(CLOSE, code(1001)));
      await peer.expect(CLOSE, code(1000), "close echo");
      await finish(opened, 1000);
    },
  },
  {
    id: "7.1.3",
    title: "a ping after the close is not answered",
    async run(opened) {
      const { peer } = opened;
      await peer.send(peer.frame(CLOSE, code(1000)), peer.frame(0x89, "too late"));
      await peer.expect(CLOSE, code(1000), "close echo");
      await finish(opened, 1000);
    },
  },
  {
    id: "7.1.4",
    title: "a text message after the close is not echoed",
    async run(opened) {
      const { peer } = opened;
      await peer.send(peer.frame(CLOSE, code(1000)));
      await peer.expect(CLOSE, code(1000), "close echo");
      await peer.send(peer.frame(TEXT, "too late"));
      await finish(opened, 1000);
    },
  },
  {
    id: "7.1.5",
    title: "a close between the fragments of a message: the close is echoed, the message is dropped",
    async run(opened) {
      const { peer } = opened;
      await peer.send(peer.frame(0x01, "fragment1"), peer.frame(CLOSE, code(1000)), peer.frame(0x80, "fragment2"));
      await peer.expect(CLOSE, code(1000), "close echo");
      await finish(opened, 1000);
    },
  },
  {
    id: "7.1.6",
    title: "a hundred messages and a close in one TCP write: echoes in order, if any, then the close at once",
    async run(opened) {
      const { peer } = opened;
      const frames = [...Array.from({ length: 100 }, (_, i) => peer.frame(TEXT, `message ${i}`)), peer.frame(CLOSE, code(1000))];
      await peer.send(concatBytes(frames));
      // The close is answered one macrotask after it is read (§5.5.1: "as
      // soon as practical"); the application can echo the messages read with
      // it only until then. So: some of the echoes, in order, then the close.
      for (let i = 0;; i++) {
        const frame = await peer.read();
        if (frame.opcode === 8) {
          assertBytesEqual(frame.unmasked, rawFrame(CLOSE, code(1000), null), "close echo");
          break;
        }
        assertBytesEqual(frame.unmasked, rawFrame(TEXT, `message ${i}`, null), `echo ${i}`);
      }
      await finish(opened, 1000);
    },
  },
  {
    id: "7.1.7",
    title: "ten messages and a close in one TCP write: an echo loop answers all ten before the close",
    async run(opened) {
      const { peer } = opened;
      const frames = [...Array.from({ length: 10 }, (_, i) => peer.frame(TEXT, `message ${i}`)), peer.frame(CLOSE, code(1000))];
      await peer.send(concatBytes(frames));
      // The replies the application sends before the close is answered (no
      // I/O waited for in between) go out before our close frame.
      for (let i = 0; i < 10; i++) await peer.expect(TEXT, `message ${i}`, `echo ${i} before the close`);
      await peer.expect(CLOSE, code(1000), "close echo");
      await finish(opened, 1000);
    },
  },
  {
    id: "7.3.1",
    title: "a close with an empty payload is answered with an empty close",
    async run(opened) {
      await opened.peer.send(opened.peer.frame(CLOSE, []));
      await opened.peer.expect(CLOSE, [], "empty close echo");
      await finish(opened, 1005);
    },
  },
  {
    id: "7.3.2",
    title: "a close with a 1-byte payload fails the connection with 1002",
    async run({ peer }) {
      await peer.send(peer.frame(CLOSE, [0x03]));
      await peer.expectClose(1002);
    },
  },
  {
    id: "7.3.3",
    title: "a close with a reason: its status code is echoed",
    async run(opened) {
      await opened.peer.send(opened.peer.frame(CLOSE, code(1000, "Hello ✓ World")));
      await opened.peer.expect(CLOSE, code(1000), "close echo");
      await finish(opened, 1000);
    },
  },
  {
    id: "7.3.4",
    title: "a close with a 123-byte reason (a 125-byte payload): its status code is echoed",
    async run(opened) {
      await opened.peer.send(opened.peer.frame(CLOSE, code(1000, "*".repeat(123))));
      await opened.peer.expect(CLOSE, code(1000), "close echo");
      await finish(opened, 1000);
    },
  },
  {
    id: "7.3.5",
    title: "a close with a 124-byte reason (a 126-byte payload) fails the connection with 1002",
    async run({ peer }) {
      await peer.send(peer.frame(CLOSE, code(1000, "*".repeat(124))));
      await peer.expectClose(1002);
    },
  },
  {
    id: "7.5.1",
    title: "a close whose reason is not UTF-8 fails the connection with 1007",
    async run({ peer }) {
      await peer.send(peer.frame(CLOSE, [...code(1000), 0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64]));
      await peer.expectClose(1007);
    },
  },
];

// Every code RFC 6455 §7.4 and the IANA registry allow on the wire, and the
// boundaries of every range that is not allowed.
const VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const INVALID = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
VALID.forEach((n, i) =>
  cases.push({
    id: `7.7.${i + 1}`,
    title: `a close with the valid code ${n} is echoed with ${n}`,
    async run(opened) {
      await opened.peer.send(opened.peer.frame(CLOSE, code(n, "reason")));
      await opened.peer.expect(CLOSE, code(n), "close echo");
      await finish(opened, n);
    },
  })
);
INVALID.forEach((n, i) =>
  cases.push({
    id: `7.9.${i + 1}`,
    title: `a close with the code ${n}, which may not be sent, fails the connection with 1002`,
    async run({ peer }) {
      await peer.send(peer.frame(CLOSE, code(n)));
      await peer.expectClose(1002);
    },
  })
);

cases.push(
  {
    id: "7.13.1",
    only: "server",
    title: "after the closing handshake the server closes TCP first, without waiting for the client",
    async run({ peer }) {
      await peer.send(peer.frame(CLOSE, code(1000)));
      await peer.expect(CLOSE, code(1000), "close echo");
      await peer.expectEnd(1000);
    },
  },
  {
    id: "7.13.2",
    only: "client",
    title: "after the closing handshake the client waits for the server to close TCP, then closes cleanly",
    async run(opened) {
      await opened.peer.send(opened.peer.frame(CLOSE, code(1001, "going")));
      await opened.peer.expect(CLOSE, code(1001), "close echo");
      await finish(opened, 1001);
    },
  },
  {
    id: "7.13.3",
    only: "client",
    title: "a client-initiated close: the close frame goes out, the server's answer completes it, the server closes TCP",
    async run({ peer, ws }) {
      const closing = ws!.close(4001, "bye ✓");
      await peer.expect(CLOSE, code(4001, "bye ✓"), "the client's close frame");
      await peer.send(peer.frame(CLOSE, code(4001, "ok")));
      await peer.expectSilence("the client must leave closing TCP to the server");
      peer.wire.end();
      // closed reports the server's answer.
      const info = await closing;
      assert.deepEqual([info.code, info.reason, info.wasClean], [4001, "ok", true]);
    },
  },
  {
    id: "7.13.4",
    only: "client",
    manualClock: true,
    title: "a server that never closes TCP after the handshake: the client closes it after closeTimeout",
    async run({ peer, ws, clock }) {
      await peer.send(peer.frame(CLOSE, code(1000)));
      await peer.expect(CLOSE, code(1000), "close echo");
      // closeTimeout is 2000 ms, on a clock this case moves.
      await clock!.advance(1999);
      await peer.expectSilence("the client must wait closeTimeout for the server to close TCP");
      await clock!.advance(1);
      await peer.expectEnd(5000);
      assert.equal((await ws!.closed).code, 1000);
    },
  },
  {
    id: "7.13.5",
    only: "client",
    title: "TCP lost without a close frame: the client reports 1006, not clean",
    async run({ peer, ws }) {
      await peer.send(peer.frame(TEXT, "last words"));
      await peer.expect(TEXT, "last words", "echo");
      peer.wire.destroy();
      const info = await ws!.closed;
      assert.deepEqual([info.code, info.wasClean], [1006, false]);
    },
  },
);

suite("7.x closing", cases, {}, true);
