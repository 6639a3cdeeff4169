// Durable topics and the streamsock.resume.v1 subprotocol over real sockets:
// positions, resume without loss or duplicate, gap notices (trimmed, expired,
// a new epoch), idempotent publishes, plain subscribers of durable topics, the
// subprotocol's errors, and frames checked by the suite's own parser. The
// Redis log has its own describe block against a real redis-server.
import assert from "node:assert/strict";
import { connect, Hub, MemoryLog, reconnecting, requestHandler, RESUME_PROTOCOL, serve } from "../mod.ts";
import type { DurableLog, HubOptions, ResumeEvent, ResumingClient } from "../mod.ts";
import { RedisBackplane } from "../src/pubsub/redis.ts";
import { rawFrame } from "./_helpers.ts";
import { RedisServer, redisServerBinary } from "./_redis.ts";
import { upgradeRequest } from "./_server.ts";
import { after, before, describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import { closeCodeOf, Wire } from "./_wire.ts";

const T = 20_000;

/** A server whose hub has durable topics: resume sessions, and a plain room per URL path. */
async function durableServer(t: Owner, options: HubOptions = { durable: { prefix: "" } }) {
  const hub = new Hub(options);
  const server = serve(
    { hostname: "127.0.0.1", port: 0, hub },
    requestHandler(async (ws, request) => {
      if (ws.protocol === RESUME_PROTOCOL) return hub.resume(ws);
      const room = new URL(request.url, "ws://x").pathname;
      ws.subscribe(room);
      for await (const msg of ws) ws.publish(room, msg.data);
    }, (offered) => offered.includes(RESUME_PROTOCOL) ? RESUME_PROTOCOL : ""),
  );
  t.after(() => server.close());
  await server.ready;
  return { hub, server, url: `ws://127.0.0.1:${server.port}/` };
}

function resuming(t: Owner, url: string): ResumingClient {
  const client = reconnecting(url, { resume: true, initialDelay: 20, maxDelay: 200 });
  t.after(() => client.close());
  return client;
}

/** The next `n` events, bounded. */
async function take(client: ResumingClient, n: number, what = `${n} events`): Promise<ResumeEvent[]> {
  const events: ResumeEvent[] = [];
  await withTimeout(
    (async () => {
      while (events.length < n) {
        const next = await client.next();
        if (next.done) throw new Error(`the client ended after ${JSON.stringify(events)}`);
        events.push(next.value);
      }
    })(),
    T,
    what,
  );
  return events;
}

const texts = (events: ResumeEvent[]) => events.map((e) => e.type === "message" ? `${e.offset}:${String(e.data)}` : e.type);

describe("durable topics (in-memory log)", () => {
  test("a resuming client gets what it missed while away, in order, once, then live messages", async (t) => {
    const { hub, url } = await durableServer(t);
    const client = resuming(t, url);
    client.subscribe("news", { from: "start" });
    for (let i = 1; i <= 3; i++) await hub.append("news", `m${i}`);
    assert.deepEqual(texts(await take(client, 3)), ["1:m1", "2:m2", "3:m3"]);
    // The connection dies; what is published meanwhile is replayed after the reconnect.
    client.connection!.terminate();
    for (let i = 4; i <= 6; i++) hub.publish("news", `m${i}`);
    assert.deepEqual(texts(await take(client, 3)), ["4:m4", "5:m5", "6:m6"]);
    hub.publish("news", "m7");
    assert.deepEqual(texts(await take(client, 1)), ["7:m7"]);
    assert.equal(client.connections, 2);
    assert.equal(client.skipped, 0);
    assert.deepEqual(client.position("news"), { epoch: (await hub.append("news", "m8")).epoch, offset: 7 });
  });

  test("publishes are acknowledged with their positions, and a producer's retry is stored once", async (t) => {
    const { hub, url } = await durableServer(t);
    const client = resuming(t, url);
    client.subscribe("orders", { from: "start" });
    const first = await client.publish("orders", "one");
    const second = await client.publish("orders", new Uint8Array([0, 255, 7]));
    assert.equal(first.offset, 1);
    assert.equal(second.offset, 2);
    assert.equal(first.duplicate, false);
    const events = await take(client, 2);
    assert.deepEqual(events[1], { type: "message", topic: "orders", data: new Uint8Array([0, 255, 7]), epoch: first.epoch, offset: 2 });
    // The same key again (what a retry after a lost acknowledgement sends).
    const again = await hub.append("orders", "one", { producer: client.producer, seq: 2 });
    assert.deepEqual(again, { epoch: first.epoch, offset: 2, duplicate: true });
    const older = await hub.append("orders", "one", { producer: client.producer, seq: 1 });
    assert.equal(older.duplicate, true);
    assert.equal((await hub.append("orders", "three", { producer: client.producer, seq: 3 })).offset, 3);
  });

  test("a subscriber whose position was trimmed gets a gap notice with the exact range, then the rest", async (t) => {
    const { hub, url } = await durableServer(t, { durable: { prefix: "", maxLen: 5 } });
    const { epoch } = await hub.append("feed", "m1");
    await hub.append("feed", "m2");
    for (let i = 3; i <= 20; i++) await hub.append("feed", `m${i}`);
    const client = resuming(t, url);
    client.subscribe("feed", { from: { epoch, offset: 2 } });
    const events = await take(client, 6);
    assert.deepEqual(events[0], { type: "gap", topic: "feed", epoch, from: 3, to: 15, reason: "trimmed" });
    assert.deepEqual(texts(events.slice(1)), ["16:m16", "17:m17", "18:m18", "19:m19", "20:m20"]);
  });

  test("messages older than maxAge are not replayed: a trimmed gap", async (t) => {
    let now = 1_000_000;
    const log = new MemoryLog(() => now);
    const { hub, url } = await durableServer(t, { durable: { prefix: "", maxLen: 100, maxAge: 60_000 }, log });
    const { epoch } = await hub.append("ticks", "old1");
    await hub.append("ticks", "old2");
    now += 61_000;
    await hub.append("ticks", "fresh");
    const client = resuming(t, url);
    client.subscribe("ticks", { from: { epoch, offset: 0 } });
    const events = await take(client, 2);
    assert.deepEqual(events[0], { type: "gap", topic: "ticks", epoch, from: 1, to: 2, reason: "trimmed" });
    assert.deepEqual(texts(events.slice(1)), ["3:fresh"]);
  });

  test("a restarted server without its log starts a new epoch: the old position gets an epoch gap, not wrong messages", async (t) => {
    const first = await durableServer(t);
    const { epoch } = await first.hub.append("room", "before");
    const second = await durableServer(t);
    await second.hub.append("room", "new 1");
    const client = resuming(t, second.url);
    client.subscribe("room", { from: { epoch, offset: 1 } });
    const [gap, message] = await take(client, 2);
    assert.equal(gap.type, "gap");
    assert.ok(gap.type === "gap" && gap.reason === "epoch" && gap.epoch === epoch && gap.from === 2 && gap.to === null);
    assert.ok(gap.type === "gap" && gap.next !== undefined && gap.next !== epoch);
    assert.deepEqual(texts([message]), ["1:new 1"]);
    assert.equal(client.position("room")?.epoch, gap.type === "gap" ? gap.next : "");
  });

  test("plain subscribers of a durable topic keep working: raw messages, in log order, not back to the sender", async (t) => {
    const { hub, url } = await durableServer(t);
    const [a, b] = await Promise.all([connect(`${url}lobby`), connect(`${url}lobby`)]);
    t.after(() => Promise.all([a.terminate(), b.terminate()]));
    assert.equal(a.protocol, null);
    await eventually(() => hub.subscriberCount("/lobby") === 2, T, "both joined");
    const watcher = resuming(t, url);
    watcher.subscribe("/lobby", { from: "start" });
    await a.send("from a");
    assert.equal((await withTimeout(b.recvAll(), T, "b's message")).data, "from a");
    await b.send(new Uint8Array([1, 2]));
    // a's first message is b's: its own did not come back to it.
    assert.deepEqual((await withTimeout(a.recvAll(), T, "a's message")).data, new Uint8Array([1, 2]));
    // The resuming watcher sees both, with positions.
    assert.deepEqual(texts(await take(watcher, 2)), ["1:from a", "2:1,2"]);
    await Promise.all([a.close(), b.close()]);
  });

  test("durable topics need a backplane that keeps a log: a TypeError otherwise", () => {
    const backplane = {
      instanceId: "memory",
      attach() {},
      publish() {},
      subscribe() {},
      unsubscribe() {},
      close: () => Promise.resolve(),
    };
    assert.throws(() => new Hub({ backplane }).durable("t"), TypeError);
    assert.throws(() => new Hub({ backplane, durable: { prefix: "/" } }), /backplane that keeps a log/);
    assert.throws(() => new Hub().durable("t", { maxLen: 0 }), RangeError);
    // A log of one's own is fine with any backplane.
    const hub = new Hub({ backplane, log: new MemoryLog() });
    hub.durable("t");
    assert.equal(hub.isDurable("t"), true);
    assert.equal(hub.isDurable("u"), false);
  });

  test("a topic that is not durable is refused to subscribers and published at most once", async (t) => {
    const { url } = await durableServer(t, { durable: { prefix: "/kept/" } });
    const client = resuming(t, url);
    client.subscribe("/status");
    assert.deepEqual(await take(client, 1), [{ type: "refused", topic: "/status", reason: "not-durable" }]);
    assert.deepEqual(await client.publish("/status", "up"), { topic: "/status", duplicate: false });
  });

  test("ordinary clients that offer other subprotocols get none, and a plain room as before", async (t) => {
    const { hub, url } = await durableServer(t);
    const ws = await connect(`${url}x`, { protocol: "chat" });
    t.after(() => ws.terminate());
    assert.equal(ws.protocol, null);
    await eventually(() => hub.subscriberCount("/x") === 1, T, "the plain client joined its room");
    hub.publish("/x", "to the room");
    assert.equal((await withTimeout(ws.recvAll(), T, "the room's message")).data, "to the room");
    await ws.close();
  });
});

describe("the subprotocol on the wire", () => {
  async function handshake(t: Owner, port: number): Promise<Wire> {
    const wire = await Wire.dial(t, port, false);
    await wire.send(upgradeRequest({ "Sec-WebSocket-Protocol": `chat, ${RESUME_PROTOCOL}` }));
    const head = await wire.readHead();
    assert.equal(head.headers.get("sec-websocket-protocol"), RESUME_PROTOCOL);
    return wire;
  }
  const MASK = [0x11, 0x22, 0x33, 0x44];
  const send = (wire: Wire, frame: object) => wire.send(rawFrame(0x81, JSON.stringify(frame), MASK));
  const json = async (wire: Wire) => {
    const frame = await wire.expectFrame(T);
    assert.equal(frame.opcode, 1, "a text frame");
    assert.ok(frame.fin && frame.rsv === 0 && !frame.masked, "one final unmasked frame");
    return JSON.parse(new TextDecoder().decode(frame.payload));
  };

  test("sub, pub twice with one key, msg: the frames as the spec writes them", async (t) => {
    const { hub, server } = await durableServer(t);
    const wire = await handshake(t, server.port);
    await send(wire, { op: "sub", topic: "t", offset: 0 });
    const subscribed = await json(wire);
    assert.deepEqual(subscribed, { op: "subscribed", topic: "t", durable: true, epoch: subscribed.epoch, offset: 0 });
    const pub = { op: "pub", topic: "t", producer: "p1", seq: 1, ref: "r1", text: "héllo" };
    // Both in one write: a retry that crossed the acknowledgement.
    await wire.send(rawFrame(0x81, JSON.stringify(pub), MASK), rawFrame(0x81, JSON.stringify(pub), MASK));
    const frames = [await json(wire), await json(wire), await json(wire)];
    const epoch = subscribed.epoch;
    const acks = frames.filter((f) => f.op === "ack");
    assert.deepEqual(acks, [
      { op: "ack", topic: "t", producer: "p1", seq: 1, ref: "r1", epoch, offset: 1, duplicate: false },
      { op: "ack", topic: "t", producer: "p1", seq: 1, ref: "r1", epoch, offset: 1, duplicate: true },
    ]);
    assert.deepEqual(frames.filter((f) => f.op === "msg"), [{ op: "msg", topic: "t", epoch, offset: 1, text: "héllo" }]);
    await send(wire, { op: "pub", topic: "t", base64: "AP8=" });
    const [ack, msg] = [await json(wire), await json(wire)].sort((x) => (x.op === "ack" ? -1 : 1));
    assert.deepEqual(ack, { op: "ack", topic: "t", epoch, offset: 2, duplicate: false });
    assert.deepEqual(msg, { op: "msg", topic: "t", epoch, offset: 2, base64: "AP8=" });
    assert.deepEqual((await hub.append("t", "x")).offset, 3);
    await wire.send(rawFrame(0x88, [0x03, 0xe8], MASK));
  });

  for (
    const [what, bytes, code] of [
      ["a frame that is not JSON", rawFrame(0x81, "{nope", MASK), 1008],
      ["an unknown op", rawFrame(0x81, JSON.stringify({ op: "dance", topic: "t" }), MASK), 1008],
      ["a pub with a producer and no seq", rawFrame(0x81, JSON.stringify({ op: "pub", topic: "t", producer: "p", text: "" }), MASK), 1008],
      ["a binary frame", rawFrame(0x82, [1, 2, 3], MASK), 1003],
    ] as const
  ) {
    test(`${what} is answered with an error and closed with ${code}`, async (t) => {
      const { server } = await durableServer(t);
      const wire = await handshake(t, server.port);
      await wire.send(bytes);
      let frame = await wire.expectFrame(T);
      if (frame.opcode === 1) {
        const error = JSON.parse(new TextDecoder().decode(frame.payload));
        assert.equal(error.op, "error");
        assert.ok(error.reason.length > 0);
        frame = await wire.expectFrame(T);
      }
      assert.equal(closeCodeOf(frame), code);
    });
  }
});

const binary = redisServerBinary();
if (binary === null) console.warn("!!! durable.test.ts: the Redis log is NOT tested: redis-server is not installed");

describe("durable topics in Redis Streams", { skip: binary === null ? "redis-server is not installed" : false }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start(binary!);
  });
  after(async () => {
    await redis?.kill("SIGTERM");
  });

  async function redisHub(t: Owner, durable: HubOptions["durable"] = { prefix: "" }): Promise<Hub> {
    const backplane = new RedisBackplane({ url: redis.url, maxReconnectDelay: 200 });
    const hub = new Hub({ backplane, durable });
    t.after(() => hub.close());
    await withTimeout(backplane.ready, T, "Redis");
    return hub;
  }

  test("two hubs share one log: same positions, dedupe across processes, resume through the other", async (t) => {
    const topic = `shared-${Math.random()}`;
    const [one, two] = [await redisHub(t), await redisHub(t)];
    const first = await one.append(topic, "a", { producer: "p", seq: 1 });
    assert.deepEqual(await two.append(topic, "a", { producer: "p", seq: 1 }), { ...first, duplicate: true });
    const second = await two.append(topic, new Uint8Array([9, 0, 10]));
    assert.equal(second.offset, first.offset + 1);
    const server = serve({ hostname: "127.0.0.1", port: 0, hub: one }, requestHandler((ws) => one.resume(ws), () => RESUME_PROTOCOL));
    t.after(() => server.close());
    await server.ready;
    const client = resuming(t, `ws://127.0.0.1:${server.port}/`);
    client.subscribe(topic, { from: "start" });
    const events = await take(client, 2);
    assert.deepEqual(events.map((e) => e.type === "message" ? e.data : e), ["a", new Uint8Array([9, 0, 10])]);
    // Live: a publish in the other process reaches this subscriber through the stream's notification.
    two.publish(topic, "live");
    assert.deepEqual(texts(await take(client, 1)), [`3:live`]);
  });

  test("Redis restarted without its data: a new epoch, announced, and the log goes on", async (t) => {
    const topic = `lost-${Math.random()}`;
    const hub = await redisHub(t);
    const server = serve({ hostname: "127.0.0.1", port: 0, hub }, requestHandler((ws) => hub.resume(ws), () => RESUME_PROTOCOL));
    t.after(() => server.close());
    await server.ready;
    const client = resuming(t, `ws://127.0.0.1:${server.port}/`);
    client.subscribe(topic, { from: "start" });
    const { epoch } = await hub.append(topic, "before");
    assert.deepEqual(texts(await take(client, 1)), ["1:before"]);
    await redis.kill(); // persistence is off here: the log is gone
    await redis.restart();
    let appended;
    for (let i = 0; appended === undefined; i++) {
      appended = await hub.append(topic, "after", { producer: "p", seq: 1 }).catch(() => undefined);
      if (i > 100) throw new Error("Redis did not come back");
    }
    assert.notEqual(appended.epoch, epoch);
    const events = await take(client, 2, "the epoch gap and the new message");
    assert.deepEqual(events[0], { type: "gap", topic, epoch, from: 2, to: null, reason: "epoch", next: appended.epoch });
    assert.deepEqual(texts([events[1]]), ["1:after"]);
  });

  test("maxAge trims old entries in Redis and they are announced as gone", async (t) => {
    const topic = `aged-${Math.random()}`;
    const hub = await redisHub(t, { prefix: "", maxLen: 1000, maxAge: 50 });
    const { epoch } = await hub.append(topic, "old");
    const stored = Date.now();
    // A sleep, because it must be: maxAge is measured on Redis's own clock (its stream IDs), which no test moves.
    await eventually(() => Date.now() > stored + 100, T, "time passed maxAge");
    await hub.append(topic, "new");
    const server = serve({ hostname: "127.0.0.1", port: 0, hub }, requestHandler((ws) => hub.resume(ws), () => RESUME_PROTOCOL));
    t.after(() => server.close());
    await server.ready;
    const client = resuming(t, `ws://127.0.0.1:${server.port}/`);
    client.subscribe(topic, { from: { epoch, offset: 0 } });
    const events = await take(client, 2);
    assert.equal(events[0].type, "gap");
    assert.ok(events[0].type === "gap" && events[0].from === 1 && events[0].to === 1, JSON.stringify(events[0]));
    assert.deepEqual(texts([events[1]]), ["2:new"]);
  });
});

describe("the in-memory log on its own", () => {
  test("keeps maxLen entries, reads pages after an offset, remembers producers for producerTtl", async () => {
    let now = 0;
    const log: DurableLog = new MemoryLog(() => now);
    const window = { maxLen: 3, maxAge: 0, producerTtl: 1000 };
    for (let i = 1; i <= 5; i++) await log.append("t", `m${i}`, { ...window, producer: "p", seq: i });
    const page = await log.read("t", 0, 10);
    assert.deepEqual(page.entries.map((e) => e.offset), [3, 4, 5]);
    assert.equal(page.last, 5);
    assert.deepEqual((await log.read("t", 3, 1)).entries.map((e) => e.data), ["m4"]);
    assert.equal((await log.append("t", "again", { ...window, producer: "p", seq: 5 })).duplicate, true);
    now += 1001;
    assert.equal((await log.append("t", "forgotten", { ...window, producer: "p", seq: 5 })).duplicate, false);
  });
});
