// No message is lost at close: 10,000 messages of mixed types and sizes sent
// right before close(1000) all arrive, in order and intact, over real TCP
// between connect() and serve(), in both directions, with a receiver that
// reads as fast as it can and one that reads slowly.
import { describe, test, withTimeout } from "../_test.ts";
import assert from "node:assert/strict";
import { connect } from "../../src/client/connect.ts";
import type { CloseInfo } from "../../src/protocol/types.ts";
import type { WebSocketConnection } from "../../src/connection/connection.ts";
import type { Message } from "../../src/message.ts";
import { seededRandom } from "../_helpers.ts";
import { attackedServer } from "./_hostile.ts";

const COUNT = 10_000;

/** Message i's length: mostly small, some medium, a few up to 1 MiB (the default maxFrameSize). */
function sizeOf(i: number): number {
  const random = seededRandom(i + 1);
  const r = random();
  if (i % 1000 === 999) return 64 * 1024 + Math.floor(random() * (1024 * 1024 - 64 * 1024));
  if (r < 0.7) return Math.floor(random() * 126);
  if (r < 0.95) return 126 + Math.floor(random() * 4000);
  return 4096 + Math.floor(random() * 60 * 1024);
}

const TEXT_UNIT = "aé€𝄞"; // 1 + 2 + 3 + 4 bytes of UTF-8 in 5 UTF-16 units

/** Message i: every third one text (about sizeOf(i) bytes), the others binary, its content derived from i. */
function messageOf(i: number): string | Uint8Array {
  const size = sizeOf(i);
  if (i % 3 === 0) return `${i}:` + TEXT_UNIT.repeat(Math.ceil(size / 10));
  const bytes = new Uint8Array(size);
  for (let j = 0; j < size; j++) bytes[j] = (i * 7 + j) & 0xff;
  return bytes;
}

/** Checks received messages against what was sent, in order; returns the first mismatch, or null. */
class Checker {
  received = 0;
  mismatch: string | null = null;

  check(msg: Message): void {
    const i = this.received++;
    if (this.mismatch !== null) return;
    const expected = messageOf(i);
    const data = msg.data;
    if (typeof expected === "string") {
      if (msg.type !== "text" || data !== expected) this.mismatch = `message ${i}: wrong text (${msg.type})`;
      return;
    }
    if (msg.type !== "binary" || !(data instanceof Uint8Array) || data.length !== expected.length) {
      this.mismatch = `message ${i}: wrong type or length (${msg.type}, ${(data as Uint8Array).length} for ${expected.length})`;
      return;
    }
    for (let j = 0; j < data.length; j++) {
      if (data[j] !== expected[j]) {
        this.mismatch = `message ${i}: byte ${j} differs`;
        return;
      }
    }
  }

  assertAll(): void {
    assert.equal(this.mismatch, null);
    assert.equal(this.received, COUNT);
  }
}

/** Reads whole messages until the peer's close; `slow` gives up its turn every 10 messages. */
async function receive(ws: WebSocketConnection, checker: Checker, slow: boolean): Promise<void> {
  for await (const msg of ws) {
    checker.check(msg);
    if (slow && checker.received % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/**
 * Sends all messages: without waiting (every byte queued at once) or
 * awaiting each send (following backpressure, recording the largest
 * bufferedAmount seen); then close(1000) at once.
 */
async function sendAllThenClose(ws: WebSocketConnection, awaitEach: boolean): Promise<{ info: CloseInfo; maxBuffered: number }> {
  let maxBuffered = 0;
  const sends: Promise<void>[] = [];
  for (let i = 0; i < COUNT; i++) {
    const sending = ws.send(messageOf(i));
    if (awaitEach) {
      await sending;
      maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
    } else {
      sends.push(sending);
    }
  }
  const closing = ws.close(1000, "done");
  await Promise.all(sends);
  return { info: await closing, maxBuffered };
}

function assertCleanClose(info: CloseInfo): void {
  assert.equal(info.code, 1000);
  assert.equal(info.wasClean, true);
}

const url = (port: number) => `ws://127.0.0.1:${port}/`;
// Long enough for the slow reader to catch up before either side gives up on the closing handshake.
// The senders that do not await queue all 10,000 messages at once, on purpose: that needs
// maxBackpressure lifted (by default a connection with 1 MiB queued refuses more, closing with 1013).
const OPTIONS = { closeTimeout: 20_000, pingInterval: 0, maxBackpressure: Infinity };

describe("10,000 messages of mixed sizes sent right before close(1000)", () => {
  for (const slow of [false, true]) {
    const pace = slow ? "a slow reader" : "a fast reader";

    test(`client to server, ${pace}: all arrive in order and intact`, async (t) => {
      const checker = new Checker();
      let serverClose: Promise<CloseInfo> | null = null;
      let received: Promise<void> | null = null;
      const attacked = await attackedServer(t, (ws) => {
        serverClose = ws.closed;
        received = receive(ws, checker, slow);
        return received;
      }, OPTIONS);
      const ws = await connect(url(attacked.port), OPTIONS);
      // Queued all at once with the fast reader; with the slow one, each send waits for room.
      const { info, maxBuffered } = await withTimeout(sendAllThenClose(ws, slow), 60_000, "sending and closing");
      assertCleanClose(info);
      assertCleanClose(await withTimeout(serverClose!, 5000, "the server's close"));
      // The closing handshake completes as soon as the close frame arrives;
      // the application may still be reading what came before it.
      await withTimeout(received!, 30_000, "the server reads the rest");
      checker.assertAll();
      // A sender that awaits never has much more than one large message queued.
      if (slow) assert.ok(maxBuffered < 4 * 1024 * 1024, `${maxBuffered} bytes were queued`);
    });

    test(`server to client, ${pace}: all arrive in order and intact`, async (t) => {
      let serverResult: Promise<{ info: CloseInfo }> | null = null;
      const attacked = await attackedServer(t, (ws) => {
        serverResult = sendAllThenClose(ws, !slow);
        return serverResult.then(() => {});
      }, OPTIONS);
      const checker = new Checker();
      const ws = await connect(url(attacked.port), OPTIONS);
      await withTimeout(receive(ws, checker, slow), 60_000, "receiving");
      assertCleanClose(await withTimeout(ws.closed, 5000, "the client's close"));
      assertCleanClose((await withTimeout(serverResult!, 5000, "the server's close")).info);
      checker.assertAll();
    });
  }
});
