// server.stats() and hub.stats() (issue #28): counters checked against
// exactly what raw peers sent and read over real sockets, behind serve and
// behind requestHandler on a node:http server with a hub.
import { describe, eventually, test } from "./_test.ts";
import assert from "node:assert/strict";
import type { WebSocketConnection } from "../mod.ts";
import { Hub } from "../src/pubsub/hub.ts";
import type { ServerStats } from "../mod.ts";
import { rawFrame } from "./_helpers.ts";
import { KINDS, RawClient, start, upgradeRequest } from "./_server.ts";
import { closeCodeOf } from "./_wire.ts";

const TEXT = 0x81;
const BINARY = 0x82;
const TEXT_PART = 0x01;
const CONTINUATION_FIN = 0x80;
const PING = 0x89;
const CLOSE = 0x88;

function closePayload(code: number, reason = ""): Uint8Array {
  const text = new TextEncoder().encode(reason);
  const out = new Uint8Array(2 + text.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

async function echo(ws: WebSocketConnection, request: { url: string }): Promise<void> {
  if (request.url === "/rooms") {
    ws.subscribe("lobby");
    ws.subscribe("news");
  }
  for await (const msg of ws) await ws.send(msg);
}

describe("server.stats()", () => {
  for (const kind of KINDS) {
    test(`${kind}: messages and bytes each way match what the peers sent and read, closes by code, refusals by status`, async (t) => {
      const hub = new Hub();
      const running = await start(t, kind, echo, {
        hub,
        verify: (request) => request.url !== "/forbidden" || 403,
      });
      const stats = (): ServerStats => running.server?.stats() ?? hub.stats();
      const port = running.port;
      assert.deepEqual(
        { connections: stats().connections, opened: stats().opened, refused: stats().refused },
        { connections: 0, opened: 0, refused: 0 },
      );

      // Refusals: a wrong version (426), no key (400), verify's 403.
      for (
        const request of [
          upgradeRequest({ "Sec-WebSocket-Version": "8" }),
          upgradeRequest({ "Sec-WebSocket-Key": null }),
          upgradeRequest({}, "GET /forbidden HTTP/1.1"),
        ]
      ) {
        const client = await RawClient.connect(t, port);
        client.write(request);
        await client.readResponse();
      }

      // One peer that sends data messages, a fragmented one and a ping, then closes with 4001.
      const a = await RawClient.connect(t, port);
      a.write(upgradeRequest({}, "GET /rooms HTTP/1.1"));
      assert.equal((await a.readHead()).startLine, "HTTP/1.1 101 Switching Protocols");
      const sent = [
        rawFrame(TEXT, "hello"),
        rawFrame(BINARY, new Uint8Array(300).fill(7)),
        rawFrame(TEXT_PART, "ab"),
        rawFrame(CONTINUATION_FIN, "cd"),
        rawFrame(PING, "ping"),
      ];
      await a.send(...sent);
      let read = 0;
      const frames: number[] = [];
      while (frames.filter((op) => op !== 0xa).length < 3) {
        const frame = await a.expectFrame();
        frames.push(frame.opcode);
        read += frameBytes(frame.payload.length);
      }
      if (!frames.includes(0xa)) read += frameBytes((await a.expectFrame()).payload.length); // the pong
      await eventually(() => stats().connections === 1, 5000, "the open connection counted");
      const open = stats();
      assert.equal(open.topics, 2, "two topics");
      assert.equal(open.subscriptions, 2, "two subscriptions");
      assert.equal(open.messagesReceived, 3, "three whole messages received so far");
      assert.equal(open.messagesSent, 3, "three echoes sent so far");
      const close = rawFrame(CLOSE, closePayload(4001, "bye"));
      await a.send(close);
      const closeFrame = await a.expectFrame();
      assert.equal(closeCodeOf(closeFrame), 4001, "the close echoed");
      read += frameBytes(closeFrame.payload.length);
      await a.waitEnded();
      const sentBytes = [...sent, close].reduce((n, bytes) => n + bytes.length, 0);

      // One that vanishes without a close frame (1006), one that closes with 1000 at once.
      const b = await RawClient.connect(t, port);
      b.write(upgradeRequest());
      await b.readHead();
      await eventually(() => stats().connections === 1, 5000, "the second connection counted");
      b.destroy();
      const c = await RawClient.connect(t, port);
      c.write(upgradeRequest());
      await c.readHead();
      const bye = rawFrame(CLOSE, closePayload(1000));
      await c.send(bye);
      const cClose = await c.expectFrame();
      await c.waitEnded();

      await eventually(() => stats().closed === 3, 5000, "three closes counted");
      const final = stats();
      assert.equal(final.connections, 0);
      assert.equal(final.opened, 3);
      assert.deepEqual(final.closeCodes, { "1000": 1, "1006": 1, "4001": 1 });
      assert.equal(final.messagesReceived, 3);
      assert.equal(final.messagesSent, 3);
      assert.equal(final.bytesReceived, sentBytes + bye.length, "bytes received: exactly the frames the peers wrote");
      assert.equal(final.bytesSent, read + frameBytes(cClose.payload.length), "bytes sent: exactly the frames the peers read");
      assert.equal(final.refused, 3);
      assert.deepEqual(final.refusedByStatus, { "400": 1, "403": 1, "426": 1 });
      assert.equal(final.topics, 0, "the topics left with their subscriber");
      assert.equal(final.subscriptions, 0);
      assert.equal(final.bufferedBytes, 0);
      assert.equal(JSON.parse(JSON.stringify(final)).closeCodes["4001"], 1, "serialisable");
    });
  }

  test("serve: a plain HTTP answer of onRequest is no refusal; the 426 without it is", async (t) => {
    const running = await start(t, "serve", () => {}, {
      serve: { onRequest: (request) => request.url === "/health" ? { status: 200, body: "ok" } : undefined },
    });
    const get = async (path: string) => {
      const client = await RawClient.connect(t, running.port);
      client.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      return (await client.readResponse()).startLine;
    };
    assert.equal(await get("/health"), "HTTP/1.1 200 OK");
    assert.match(await get("/other"), /^HTTP\/1.1 426/);
    const stats = running.server!.stats();
    assert.equal(stats.refused, 1);
    assert.deepEqual(stats.refusedByStatus, { "426": 1 });
  });

  test("serve: published messages count as sent, and slow subscribers' drops by cause", async (t) => {
    const running = await start(t, "serve", async (ws) => {
      ws.subscribe("t");
      for await (const _ of ws) { /* keep it open */ }
    }, { backpressurePolicy: "drop", maxBackpressure: 64 * 1024 });
    const server = running.server!;
    const slow = await RawClient.connect(t, running.port);
    slow.write(upgradeRequest());
    await slow.readHead();
    slow.socket.pause(); // never reads: its queue fills
    await eventually(() => server.subscriberCount("t") === 1, 5000, "the subscriber joined");
    const payload = new Uint8Array(16 * 1024);
    let reached = 0;
    for (let i = 0; i < 400; i++) reached += server.publish("t", payload);
    const stats = server.stats();
    assert.ok(stats.drops.backpressure > 0, `some publishes dropped (${reached} reached)`);
    assert.equal(stats.drops.backpressure + reached, 400, "every publish either reached the subscriber or was dropped");
    assert.equal(stats.messagesSent, reached, "each publish that reached it counts as a message sent");
    assert.ok(stats.bufferedBytes > 0, "bytes wait for the slow reader");
  });
});

/** The size of an unmasked server frame with a payload of `n` bytes. */
function frameBytes(n: number): number {
  return n + (n < 126 ? 2 : n < 0x10000 ? 4 : 10);
}
