// Limits (issue #28): maxConnections (503) and maxConnectionsPerIp (429)
// with Retry-After at the handshake, X-Forwarded-For believed only from
// trusted proxies, and the per-connection rate limits (token buckets, pause
// or close with 1008) against raw peers that flood, over real sockets.
import { describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import type { WebSocketConnection } from "../mod.ts";
import type { Message } from "../src/message.ts";
import { Hub } from "../src/pubsub/hub.ts";
import { requestHandler, type ServerStats } from "../mod.ts";
import { ManualClock } from "./_clock.ts";
import { rawFrame } from "./_helpers.ts";
import { KINDS, RawClient, start, type StartOptions, upgradeRequest } from "./_server.ts";
import { closeCodeOf } from "./_wire.ts";

/** Runs `kind` with a hub of the test's, returning its port and its stats. */
async function limited(
  t: Owner,
  kind: (typeof KINDS)[number],
  onSocket: (ws: WebSocketConnection) => void | Promise<void>,
  options: StartOptions,
): Promise<{ port: number; stats: () => ServerStats }> {
  const hub = new Hub();
  // serve takes the limits in its own options; requestHandler on node:http with a hub.
  const { maxConnections, maxConnectionsPerIp, trustProxy, retryAfter, ...rest } = options;
  const limits = { maxConnections, maxConnectionsPerIp, trustProxy, retryAfter };
  const running = kind === "serve"
    ? await start(t, kind, onSocket, { ...rest, serve: { ...limits } })
    : await start(t, kind, onSocket, { ...rest, ...limits, hub });
  return { port: running.port, stats: () => running.server?.stats() ?? hub.stats() };
}

async function hold(ws: WebSocketConnection): Promise<void> {
  for await (const _ of ws) { /* until closed */ }
}

/** Sends an upgrade request; the status line and the answer's header fields. */
async function upgrade(t: Owner, port: number, fields: Record<string, string> = {}) {
  const client = await RawClient.connect(t, port);
  client.write(upgradeRequest(fields));
  const head = await client.readHead();
  return { client, status: Number(head.startLine.split(" ")[1]), headers: head.headers };
}

describe("maxConnections and maxConnectionsPerIp", () => {
  for (const kind of KINDS) {
    test(`${kind}: maxConnections answers 503 with Retry-After past the limit, and frees the place on close`, async (t) => {
      const { port, stats } = await limited(t, kind, hold, { maxConnections: 2, retryAfter: 7 });
      const a = await upgrade(t, port);
      const b = await upgrade(t, port);
      assert.deepEqual([a.status, b.status], [101, 101]);
      const c = await upgrade(t, port);
      assert.equal(c.status, 503);
      assert.equal(c.headers.get("retry-after"), "7");
      assert.equal(stats().limits.maxConnections, 1);
      assert.deepEqual(stats().refusedByStatus, { "503": 1 });
      a.client.destroy();
      await eventually(() => stats().connections === 1, 5000, "the first connection closed");
      assert.equal((await upgrade(t, port)).status, 101, "a place freed by a close is taken again");
    });

    test(`${kind}: maxConnectionsPerIp answers 429; X-Forwarded-For is ignored from untrusted peers`, async (t) => {
      const { port, stats } = await limited(t, kind, hold, { maxConnectionsPerIp: 2 });
      assert.equal((await upgrade(t, port, { "X-Forwarded-For": "10.0.0.1" })).status, 101);
      assert.equal((await upgrade(t, port, { "X-Forwarded-For": "10.0.0.2" })).status, 101);
      const third = await upgrade(t, port, { "X-Forwarded-For": "10.0.0.3" });
      assert.equal(third.status, 429, "all three come from 127.0.0.1, whatever they claim");
      assert.equal(third.headers.get("retry-after"), "5", "the default Retry-After");
      assert.equal(stats().limits.maxConnectionsPerIp, 1);
      assert.deepEqual(stats().refusedByStatus, { "429": 1 });
    });

    test(`${kind}: behind a trusted proxy, clients count under their X-Forwarded-For address`, async (t) => {
      const { port, stats } = await limited(t, kind, hold, { maxConnectionsPerIp: 2, trustProxy: ["127.0.0.1"] });
      assert.equal((await upgrade(t, port, { "X-Forwarded-For": "10.0.0.1" })).status, 101);
      // The client wrote 10.0.0.9 itself; the proxy appended the address it saw: 10.0.0.1 counts.
      assert.equal((await upgrade(t, port, { "X-Forwarded-For": "10.0.0.9, 10.0.0.1" })).status, 101);
      assert.equal((await upgrade(t, port, { "X-Forwarded-For": "10.0.0.1" })).status, 429, "a third from 10.0.0.1");
      assert.equal((await upgrade(t, port, { "X-Forwarded-For": "10.0.0.2" })).status, 101, "another client");
      assert.equal((await upgrade(t, port, { "X-Forwarded-For": "::ffff:10.0.0.2" })).status, 101);
      assert.equal((await upgrade(t, port, { "X-Forwarded-For": "10.0.0.2" })).status, 429, "IPv4-mapped is the same");
      assert.equal(stats().connections, 4);
    });
  }

  test("requestHandler refuses limits without a hub to count in, and invalid limits", () => {
    assert.throws(() => requestHandler(hold, undefined, { maxConnections: 10 }), TypeError);
    assert.throws(() => requestHandler(hold, undefined, { hub: new Hub(), maxConnectionsPerIp: 0 }), RangeError);
    assert.throws(() => requestHandler(hold, undefined, { maxMessagesPerSecond: -1 }), RangeError);
    assert.throws(() => requestHandler(hold, undefined, { maxBytesPerSecond: 10, rateLimitAction: "drop" as "close" }), RangeError);
  });
});

describe("maxMessagesPerSecond and maxBytesPerSecond", () => {
  test("close: a peer over maxMessagesPerSecond gets 1008 after its burst, counted", async (t) => {
    const got: Message[] = [];
    const { port, stats } = await limited(t, "serve", async (ws) => {
      for await (const msg of ws) got.push(msg);
    }, { maxMessagesPerSecond: 10, rateLimitAction: "close" });
    const { client, status } = await upgrade(t, port);
    assert.equal(status, 101);
    const frames = Array.from({ length: 50 }, (_, i) => rawFrame(0x81, `m${i}`));
    await client.send(...frames);
    let close = await client.expectFrame();
    while (close.opcode !== 8) close = await client.expectFrame();
    assert.equal(closeCodeOf(close), 1008);
    await eventually(() => stats().closed === 1, 5000, "the connection closed");
    assert.ok(got.length >= 10 && got.length <= 11, `the burst of 10 went through, no more: ${got.length}`);
    assert.equal(stats().drops.rateLimit, 1);
    assert.equal(stats().limits.maxMessagesPerSecond, 1);
    assert.deepEqual(stats().closeCodes, { "1008": 1 });
  });

  test("pause: messages beyond the bucket wait for it to refill, in order, none lost (manual clock)", async (t) => {
    const clock = new ManualClock();
    const got: string[] = [];
    const { port, stats } = await limited(t, "serve", async (ws) => {
      for await (const msg of ws) got.push(msg.data as string);
    }, { maxMessagesPerSecond: 20, clock });
    const { client } = await upgrade(t, port);
    await client.send(...Array.from({ length: 60 }, (_, i) => rawFrame(0x81, `m${i}`)));
    await eventually(() => got.length === 20, 5000, "the burst of 20");
    await client.expectSilence("no more than the bucket before time passes");
    assert.equal(got.length, 20);
    await clock.advance(500);
    await eventually(() => got.length === 30, 5000, "ten more after half a second");
    await clock.advance(1000);
    await eventually(() => got.length === 50, 5000, "twenty more after a second");
    await clock.advance(1000);
    await eventually(() => got.length === 60, 5000, "all of them");
    assert.deepEqual(got, Array.from({ length: 60 }, (_, i) => `m${i}`));
    assert.ok(stats().limits.maxMessagesPerSecond >= 3, "each wait counted");
    assert.equal(stats().connections, 1, "still open: pausing closes nothing");
  });

  test("pause: a raw peer flooding bytes is read at maxBytesPerSecond, and another client's latency is unaffected", async (t) => {
    const RATE = 256 * 1024;
    let flooded = 0;
    const { port, stats } = await limited(t, "serve", async (ws) => {
      for await (const msg of ws) {
        if (msg.type === "binary") flooded += (msg.data as Uint8Array).length;
        else await ws.send(msg);
      }
    }, { maxBytesPerSecond: RATE });
    const flooder = await RawClient.connect(t, port);
    flooder.write(upgradeRequest());
    await flooder.readHead();
    const probe = await connect(`ws://127.0.0.1:${port}/`);
    t.after(() => probe.terminate());

    const frame = rawFrame(0x82, new Uint8Array(16 * 1024).fill(1));
    const batch = new Uint8Array(frame.length * 8);
    for (let i = 0; i < 8; i++) batch.set(frame, i * frame.length);
    const started = Date.now();
    const DURATION = 1500;
    let written = 0;
    // The flooder writes as fast as its socket takes bytes, for DURATION ms.
    const flood = (async () => {
      while (Date.now() - started < DURATION) {
        written += batch.length;
        if (!flooder.socket.write(batch)) {
          await Promise.race([
            new Promise((resolve) => flooder.socket.once("drain", resolve)),
            new Promise((resolve) => setTimeout(resolve, Math.max(1, DURATION - (Date.now() - started)))),
          ]);
        }
      }
    })();
    // A round trip every 5 ms: a latency probe, itself far below the limit.
    const rtts: number[] = [];
    while (Date.now() - started < DURATION) {
      const sent = performance.now();
      await probe.send("ping?");
      await withTimeout(probe.recv(), 5000, "the probe's echo");
      rtts.push(performance.now() - sent);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await flood;
    const elapsed = (Date.now() - started) / 1000;
    // What the server read from the flooder: everything but the probe's frames (2 + 4 + 5 bytes each).
    const received = stats().bytesReceived - 11 * rtts.length;
    // One burst (a second's worth), the rate since, and the read that crossed the limit (Bun reads up to
    // 512 KiB at once) with the reads already under way when the socket paused.
    const bound = RATE * (1 + elapsed) + 1024 * 1024;
    assert.ok(received <= bound, `the server read ${received} bytes in ${elapsed} s: at most ${bound}`);
    assert.ok(written > 2 * received, `the flooder wrote ${written} bytes; the rest waits in TCP, not in the server`);
    assert.ok(stats().limits.maxBytesPerSecond > 0, "the limit was hit");
    assert.ok(flooded <= received, "the handler saw no more than was read");
    rtts.sort((a, b) => a - b);
    const median = rtts[Math.floor(rtts.length / 2)];
    const worst = rtts[rtts.length - 1];
    assert.ok(rtts.length >= 10, `the probe made ${rtts.length} round trips`);
    assert.ok(median < 50 && worst < 1000, `the probe's round trips: median ${median.toFixed(1)} ms, worst ${worst.toFixed(1)} ms`);
  });
});
