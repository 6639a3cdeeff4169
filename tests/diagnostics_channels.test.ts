// The node:diagnostics_channel channels a server publishes to (issue #28),
// one test per channel, each over real sockets on the runtime running it.
// The channels are process-wide: every test keeps only the messages of its
// own server (its hub), and unsubscribes when it ends.
import { describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { connect } from "../mod.ts";
import type { WebSocketConnection } from "../mod.ts";
import { Hub } from "../src/pubsub/hub.ts";
import type { UpgradeRequest } from "../mod.ts";
import { rawFrame } from "./_helpers.ts";
import { RawClient, start, type StartOptions, upgradeRequest } from "./_server.ts";

// deno-lint-ignore no-explicit-any
type Payload = Record<string, any>;

/** Collects what `name` publishes for `hub` (or for its connections) until the test ends. */
function listen(t: Owner, name: string, hub: Hub): Payload[] {
  const seen: Payload[] = [];
  const own = new Set<WebSocketConnection>();
  const onMessage = (message: unknown) => {
    const payload = message as Payload;
    if (payload.hub === hub || (payload.ws !== undefined && (own.has(payload.ws) || hub.clients.has(payload.ws)))) {
      if (payload.ws !== undefined) own.add(payload.ws);
      seen.push(payload);
    }
  };
  subscribe(name, onMessage);
  t.after(() => unsubscribe(name, onMessage));
  return seen;
}

/** A server (serve) with its own hub, running `onSocket`. */
async function served(
  t: Owner,
  onSocket: (ws: WebSocketConnection, request: UpgradeRequest) => void | Promise<void>,
  options: StartOptions = {},
): Promise<{ hub: Hub; port: number }> {
  const hub = new Hub();
  const running = await start(t, "serve", onSocket, { hub, ...options });
  return { hub, port: running.port };
}

async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const msg of ws) await ws.send(msg);
}

async function client(t: Owner, port: number, protocol?: string): Promise<WebSocketConnection> {
  const ws = await connect(`ws://127.0.0.1:${port}/room?x=1`, { protocol });
  t.after(() => ws.terminate());
  return ws;
}

describe("diagnostics channels", () => {
  test("streamsock:connection.open: the request, protocol, extensions and HTTP version", async (t) => {
    const hub = new Hub();
    const seen = listen(t, "streamsock:connection.open", hub);
    const { port } = await served(t, echo, { hub, selectProtocol: (offered) => offered[0] });
    const ws = await client(t, port, "chat.v1");
    await eventually(() => seen.length === 1, 5000, "connection.open published");
    const [open] = seen;
    assert.equal(open.request.url, "/room?x=1");
    assert.equal(open.protocol, "chat.v1");
    assert.equal(open.extensions, "");
    assert.equal(open.httpVersion, "1.1");
    assert.equal(open.remoteAddress, "127.0.0.1");
    assert.equal(open.ws.protocol, "chat.v1", "the server's connection itself");
    await ws.close();
  });

  test("streamsock:connection.close: code, reason, wasClean, duration, bytes and messages each way", async (t) => {
    const hub = new Hub();
    const seen = listen(t, "streamsock:connection.close", hub);
    const { port } = await served(t, echo, { hub });
    const ws = await client(t, port);
    await ws.send("hello");
    assert.equal((await ws.recv()).data, "hello");
    await ws.send(new Uint8Array(200));
    await ws.recv();
    await ws.close(4002, "done here");
    await eventually(() => seen.length === 1, 5000, "connection.close published");
    const [closed] = seen;
    assert.equal(closed.code, 4002);
    assert.equal(closed.reason, "done here");
    assert.equal(closed.wasClean, true);
    assert.ok(closed.duration >= 0 && closed.duration < 30_000, `a duration in ms: ${closed.duration}`);
    assert.equal(closed.messagesReceived, 2);
    assert.equal(closed.messagesSent, 2);
    // Client frames: "hello" 2+4+5, 200 bytes 4+4+200, close 2+4+2+9; the server's: 2+5, 4+200, and its
    // close 2+2 (the code echoed without the reason, echoCloseReason being off).
    assert.equal(closed.bytesReceived, 11 + 208 + 17);
    assert.equal(closed.bytesSent, 7 + 204 + 4);
    assert.equal(hub.stats().bytesReceived, closed.bytesReceived, "consistent with stats()");
  });

  test("streamsock:handshake.refused: status and reason", async (t) => {
    const hub = new Hub();
    const seen = listen(t, "streamsock:handshake.refused", hub);
    const { port } = await served(t, echo, { hub, verify: () => 401 });
    const raw = await RawClient.connect(t, port);
    raw.write(upgradeRequest());
    const answer = await raw.readResponse();
    assert.match(answer.startLine, /^HTTP\/1.1 401/);
    await eventually(() => seen.length === 1, 5000, "handshake.refused published");
    assert.equal(seen[0].status, 401);
    assert.equal(typeof seen[0].reason, "string");
    assert.equal(seen[0].request.url, "/chat");
    assert.equal(seen[0].remoteAddress, "127.0.0.1");
    const bad = await RawClient.connect(t, port);
    bad.write(upgradeRequest({ "Sec-WebSocket-Version": "7" }));
    await bad.readResponse();
    await eventually(() => seen.length === 2, 5000, "the 426 published");
    assert.equal(seen[1].status, 426);
  });

  test("streamsock:message.received: type and size of whole messages, fragments summed", async (t) => {
    const hub = new Hub();
    const seen = listen(t, "streamsock:message.received", hub);
    const { port } = await served(t, echo, { hub });
    const raw = await RawClient.connect(t, port);
    raw.write(upgradeRequest());
    await raw.readHead();
    await raw.send(rawFrame(0x81, "héllo"), rawFrame(0x02, new Uint8Array(100)), rawFrame(0x80, new Uint8Array(50)), rawFrame(0x89, "p"));
    await eventually(() => seen.length === 2, 5000, "two message.received published");
    assert.deepEqual(seen.map(({ type, size }) => ({ type, size })), [{ type: "text", size: 6 }, { type: "binary", size: 150 }]);
  });

  test("streamsock:message.sent: type and size of whole messages sent, fragmented and published ones included", async (t) => {
    const hub = new Hub();
    const seen = listen(t, "streamsock:message.sent", hub);
    const { port } = await served(t, async (ws) => {
      ws.subscribe("news");
      await ws.send("ünï"); // 5 bytes of UTF-8
      await ws.sendAll(new Uint8Array(3000)); // three frames of 1 KiB
      for await (const _ of ws) { /* until closed */ }
    }, { hub, maxFrameSize: 1024 });
    const ws = await client(t, port);
    await eventually(() => hub.subscriberCount("news") === 1, 5000, "subscribed");
    hub.publish("news", "extra");
    await eventually(() => seen.length === 3, 5000, "three message.sent published");
    assert.deepEqual(seen.map(({ type, size }) => ({ type, size })), [
      { type: "text", size: 5 },
      { type: "binary", size: 3000 },
      { type: "text", size: 5 },
    ]);
    await ws.close();
  });

  test("streamsock:backpressure.start and .end: a peer that stops reading, then reads again", async (t) => {
    const hub = new Hub();
    const started = listen(t, "streamsock:backpressure.start", hub);
    const ended = listen(t, "streamsock:backpressure.end", hub);
    const chunk = new Uint8Array(256 * 1024);
    let sentAll!: () => void;
    const done = new Promise<void>((resolve) => (sentAll = resolve));
    const { port } = await served(t, async (ws) => {
      for (let i = 0; i < 32; i++) await ws.send(chunk);
      sentAll();
      for await (const _ of ws) { /* until closed */ }
    }, { hub });
    const raw = await RawClient.connect(t, port);
    raw.socket.pause();
    raw.write(upgradeRequest());
    await eventually(() => started.length === 1, 10_000, "backpressure.start published while the peer does not read");
    assert.ok(started[0].bufferedAmount > 0, "with the bytes waiting");
    assert.equal(ended.length, 0);
    raw.socket.resume();
    await raw.readHead();
    let received = 0;
    while (received < 32) {
      const frame = await raw.expectFrame(10_000);
      if (frame.opcode === 2) received++;
    }
    await withTimeout(done, 10_000, "the server's sends");
    await eventually(() => ended.length >= 1, 5000, "backpressure.end published once the peer read");
    assert.equal(ended.length, started.length, "every start has its end");
  });

  test("streamsock:keepalive.timeout: a peer that never answers pings", async (t) => {
    const hub = new Hub();
    const seen = listen(t, "streamsock:keepalive.timeout", hub);
    const { port } = await served(t, echo, { hub, pingInterval: 50, pingTimeout: 50 });
    const raw = await RawClient.connect(t, port); // reads, but never answers a ping
    raw.write(upgradeRequest());
    await raw.readHead();
    await eventually(() => seen.length === 1, 5000, "keepalive.timeout published");
    assert.equal(seen[0].pingTimeout, 50);
    await raw.waitEnded();
    assert.equal(hub.stats().drops.keepalive, 1, "counted as a drop");
    assert.equal(hub.stats().closeCodes["1011"] ?? hub.stats().closeCodes["1006"], 1, "closed");
  });

  test("streamsock:limit.hit: which limit, the client's address, what was done", async (t) => {
    const hub = new Hub();
    const seen = listen(t, "streamsock:limit.hit", hub);
    const { port } = await served(t, async (ws) => {
      for await (const _ of ws) { /* until closed */ }
    }, { hub, serve: { maxConnections: 1 }, maxMessagesPerSecond: 2, rateLimitAction: "close" });
    const first = await RawClient.connect(t, port);
    first.write(upgradeRequest());
    await first.readHead();
    const second = await RawClient.connect(t, port);
    second.write(upgradeRequest());
    assert.match((await second.readResponse()).startLine, /^HTTP\/1.1 503/);
    await first.send(...Array.from({ length: 5 }, () => rawFrame(0x81, "x")));
    await eventually(() => seen.length === 2, 5000, "two limit.hit published");
    assert.deepEqual(
      { limit: seen[0].limit, remoteAddress: seen[0].remoteAddress, action: seen[0].action },
      { limit: "maxConnections", remoteAddress: "127.0.0.1", action: "refused 503" },
    );
    assert.equal(seen[1].limit, "maxMessagesPerSecond");
    assert.equal(seen[1].action, "close");
    assert.equal(seen[1].remoteAddress, "127.0.0.1");
    assert.ok(hub.clients.has(seen[1].ws) || seen[1].ws.readyState >= 2, "the connection over its rate");
  });

  test("streamsock:topic.publish: topic, deliveries and drops", async (t) => {
    const hub = new Hub();
    const seen = listen(t, "streamsock:topic.publish", hub);
    const { port } = await served(t, async (ws) => {
      ws.subscribe("room");
      for await (const _ of ws) { /* until closed */ }
    }, { hub });
    const a = await client(t, port);
    const b = await client(t, port);
    await eventually(() => hub.subscriberCount("room") === 2, 5000, "two subscribers");
    hub.publish("room", "to both");
    hub.publish("empty", "to nobody");
    assert.deepEqual(seen.map(({ topic, deliveries, drops }) => ({ topic, deliveries, drops })), [
      { topic: "room", deliveries: 2, drops: 0 },
      { topic: "empty", deliveries: 0, drops: 0 },
    ]);
    assert.equal((await a.recv()).data, "to both");
    assert.equal((await b.recv()).data, "to both");
  });

  test("no subscriber, nothing published: a channel with no subscribers stays without", async (t) => {
    const { channel } = await import("node:diagnostics_channel");
    const { port } = await served(t, echo);
    const ws = await client(t, port);
    await ws.send("x");
    await ws.recv();
    await ws.close();
    assert.equal(channel("streamsock:message.received").hasSubscribers, false);
  });
});
