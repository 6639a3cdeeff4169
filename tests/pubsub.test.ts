// Topics on one server: subscribe / publish over real sockets, behind serve()
// and behind requestHandler with a Hub on node:http; the per-connection
// backpressure bound against a peer that never reads; and the topic tables
// after 100,000 subscribe/close cycles.
import { assertBytesEqual, describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import process from "node:process";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import WebSocket from "ws";
import { connect } from "../src/client/connect.ts";
import type { WebSocketConnection } from "../src/connection/connection.ts";
import { WebSocketConnection as Connection } from "../src/connection/connection.ts";
import { Message } from "../src/message.ts";
import { Hub } from "../src/pubsub/hub.ts";
import { requestHandler } from "../src/server/request_handler.ts";
import { serve, type Server } from "../src/server/serve.ts";
import type { Transport, TransportSink } from "../src/transport/types.ts";
import { RawClient, upgradeRequest } from "./_server.ts";

const T = 20_000;

/** A serve() server running `onSocket`, closed when the test ends. */
async function serveTopics(
  t: Owner,
  onSocket: (ws: WebSocketConnection, server: Server) => void | Promise<void>,
  options: Parameters<typeof requestHandler>[2] = {},
): Promise<Server> {
  const server: Server = serve(
    { hostname: "127.0.0.1", port: 0 },
    requestHandler((ws) => onSocket(ws, server), undefined, options),
  );
  t.after(() => server.close());
  await server.ready;
  return server;
}

function recvData(ws: WebSocketConnection): Promise<string | Uint8Array> {
  return withTimeout(ws.recvAll().then((msg) => msg.data), T, "a message");
}

describe("topics on one server", () => {
  test("ws.publish reaches the other subscribers, not the sender; server.publish reaches all; text and binary exact", async (t) => {
    const server = await serveTopics(t, async (ws) => {
      ws.subscribe("room");
      ws.subscribe("other");
      await ws.send("ready");
      for await (const msg of ws) ws.publish("room", msg.data);
    });
    const url = `ws://127.0.0.1:${server.port}/`;
    const clients = await Promise.all([connect(url), connect(url), connect(url)]);
    for (const client of clients) assert.equal(await recvData(client), "ready");
    assert.equal(server.subscriberCount("room"), 3);
    assert.equal(server.subscriberCount("nobody"), 0);
    const [a, b, c] = clients;
    await a.send("héllo ✓");
    const bytes = new Uint8Array([0, 1, 2, 255, 254]);
    await a.send(bytes);
    for (const peer of [b, c]) {
      assert.equal(await recvData(peer), "héllo ✓");
      assert.deepEqual(await recvData(peer), bytes);
    }
    assert.equal(server.publish("room", "to all"), 3);
    for (const client of clients) assert.equal(await recvData(client), "to all");
    for (const client of clients) await client.close();
    await eventually(
      () => server.subscriberCount("room") === 0 && server.hub.clients.size === 0,
      T,
      "closed subscribers to leave",
    );
    assert.deepEqual([...server.hub.topics], []);
  });

  test("includeSelf, isSubscribed, topics (ws.topics and hub.topics both arrays) and unsubscribe", async (t) => {
    const seen: unknown[] = [];
    const server = await serveTopics(t, async (ws, server) => {
      ws.subscribe("a");
      ws.subscribe("b");
      seen.push(ws.topics, ws.isSubscribed("a"), ws.isSubscribed("zzz"));
      // hub.topics has the same shape as ws.topics: an array, which serialises.
      seen.push(ws.topics.length === 2 && Array.isArray(server.hub.topics), JSON.stringify(server.hub.topics.sort()));
      ws.publish("a", "to me too", { includeSelf: true });
      assert.equal(ws.unsubscribe("a"), true);
      assert.equal(ws.unsubscribe("a"), false);
      ws.publish("a", "not to me", { includeSelf: true });
      seen.push(ws.topics);
      await ws.send("end");
      await ws.closed;
    });
    const client = await connect(`ws://127.0.0.1:${server.port}/`);
    assert.equal(await recvData(client), "to me too");
    assert.equal(await recvData(client), "end");
    assert.deepEqual(seen, [["a", "b"], true, false, true, '["a","b"]', ["b"]]);
    await client.close();
  });

  test("published messages keep their order, also among the connection's own sends and around a fragmented message", async (t) => {
    const count = 500;
    const server = await serveTopics(t, async (ws, srv) => {
      ws.subscribe("t");
      await ws.recv(); // the client is ready
      ws.send("own 1").catch(() => {});
      for (let i = 0; i < count; i++) srv.publish("t", `pub ${i}`);
      ws.send("own 2").catch(() => {});
      // A fragmented message of our own: a publish meanwhile waits for its end.
      await ws.send(new Message("frag", "text", true));
      srv.publish("t", "after fragments");
      await ws.send(new Message("mented", "text"));
      await ws.sendAll("x".repeat(3 * ws.maxFrameSize + 5));
      await ws.closed;
    }, { maxFrameSize: 1000 });
    const client = await connect(`ws://127.0.0.1:${server.port}/`, { maxFrameSize: 1 << 20 });
    await client.send("go");
    const got: (string | Uint8Array)[] = [];
    for (let i = 0; i < count + 5; i++) got.push(await recvData(client));
    const expected = ["own 1", ...Array.from({ length: count }, (_, i) => `pub ${i}`), "own 2", "fragmented"];
    assert.deepEqual(got.slice(0, count + 3), expected);
    assert.equal(got[count + 3], "after fragments");
    assert.equal(got[count + 4], "x".repeat(3005));
    await client.close();
  });

  test("compressed and uncompressed subscribers both get every message, exactly", async (t) => {
    const server = await serveTopics(t, (ws) => {
      ws.subscribe("mix");
      return ws.closed.then(() => {});
    }, { compression: true });
    const url = `ws://127.0.0.1:${server.port}/`;
    const deflated = await connect(url); // offers permessage-deflate by default
    const plain = await connect(url, { compression: false });
    assert.match(deflated.extensions, /permessage-deflate/);
    assert.equal(plain.extensions, "");
    await eventually(() => server.subscriberCount("mix") === 2, T, "both to subscribe");
    const text = "compress me ".repeat(100);
    const bytes = new Uint8Array(3000).map((_, i) => i * 7);
    server.publish("mix", text);
    server.publish("mix", bytes);
    for (const client of [deflated, plain]) {
      assertBytesEqual(await recvData(client), text, `the text, ${client.extensions || "uncompressed"}`);
      assertBytesEqual(await recvData(client), bytes, `the bytes, ${client.extensions || "uncompressed"}`);
      await client.close();
    }
  });

  test("a Hub joins requestHandler connections on node:http; close() sends 1001 to all and waits", async (t) => {
    const hub = new Hub();
    const http = createServer().on(
      "upgrade",
      requestHandler(
        (ws) => {
          ws.subscribe("news");
          return ws.closed.then(() => {});
        },
        undefined,
        { hub },
      ),
    );
    t.after(() => {
      http.close();
      http.closeAllConnections?.();
      return hub.close();
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const port = (http.address() as { port: number }).port;
    const codes: Promise<number>[] = [];
    for (let i = 0; i < 3; i++) {
      const client = new WebSocket(`ws://127.0.0.1:${port}/`);
      t.after(() => client.terminate());
      const got: string[] = [];
      client.on("message", (data) => got.push(String(data)));
      codes.push(
        new Promise((resolve) =>
          client.on("close", (code) => {
            assert.deepEqual(got, ["hello"]);
            resolve(code);
          })
        ),
      );
    }
    await eventually(() => hub.subscriberCount("news") === 3, T, "three subscribers");
    assert.equal(hub.clients.size, 3);
    assert.equal(hub.publish("news", "hello"), 3);
    await withTimeout(hub.close(), T, "hub.close()");
    assert.deepEqual(await withTimeout(Promise.all(codes), T, "the clients' close"), [1001, 1001, 1001]);
    assert.equal(hub.clients.size, 0);
    assert.equal(hub.subscriberCount("news"), 0);
  });
});

/** A raw client past the handshake that never reads another byte. */
async function stalledClient(t: Owner, port: number, fields: Record<string, string> = {}): Promise<RawClient> {
  const raw = await RawClient.connect(t, port);
  raw.write(upgradeRequest(fields, "GET / HTTP/1.1"));
  const head = await raw.readHead(T);
  if (fields["Sec-WebSocket-Extensions"] !== undefined) {
    assert.match(head.headers.get("sec-websocket-extensions") ?? "", /permessage-deflate/);
  }
  raw.socket.pause();
  return raw;
}

const yieldIO = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("slow subscribers cannot grow server memory", () => {
  const BOUND = 256 * 1024;
  const chunk = new Uint8Array(64 * 1024);

  // A peer that never reads never sees the 1013 queued behind what it did not
  // read: the connection is dropped after closeTimeout, as for any closing
  // handshake left unanswered.
  test("publishes to a peer that never reads: failed with 1013 once maxBackpressure bytes wait (the default policy), dropped after closeTimeout", async (t) => {
    let closed!: Promise<number>;
    let maxQueued = 0;
    const server = await serveTopics(t, (ws) => {
      ws.subscribe("feed");
      closed = ws.closed.then((info) => info.code);
      return ws.closed.then(() => {});
    }, { maxBackpressure: BOUND, closeTimeout: 300 });
    await stalledClient(t, server.port);
    await eventually(() => server.subscriberCount("feed") === 1, T, "the subscriber");
    const ws = [...server.hub.clients][0];
    // Bounded: far more than any kernel buffer plus the bound.
    for (let i = 0; i < 4000 && server.subscriberCount("feed") > 0; i++) {
      server.publish("feed", chunk);
      maxQueued = Math.max(maxQueued, ws.bufferedAmount);
      await yieldIO();
    }
    assert.equal(await withTimeout(closed, T, "the close"), 1013);
    assert.equal(server.subscriberCount("feed"), 0);
    assert.ok(maxQueued < BOUND + chunk.length + 64 * 1024, `queued at most ${maxQueued} bytes`);
  });

  test("a compressed subscriber that never reads is bounded too, compression queue included", async (t) => {
    let closed!: Promise<number>;
    const server = await serveTopics(t, (ws) => {
      ws.subscribe("feed");
      closed = ws.closed.then((info) => info.code);
      return ws.closed.then(() => {});
    }, { maxBackpressure: BOUND, compression: true, closeTimeout: 300 });
    await stalledClient(t, server.port, { "Sec-WebSocket-Extensions": "permessage-deflate" });
    await eventually(() => server.subscriberCount("feed") === 1, T, "the subscriber");
    // Incompressible bytes, so the wire carries as much as is published.
    const noise = crypto.getRandomValues(new Uint8Array(64 * 1024));
    for (let i = 0; i < 4000 && server.subscriberCount("feed") > 0; i++) {
      server.publish("feed", noise);
      await yieldIO();
    }
    assert.equal(await withTimeout(closed, T, "the close"), 1013);
  });

  test("policy drop: messages past the bound are skipped, counted and reported; the connection stays open", async (t) => {
    const dropped: string[] = [];
    const hub = new Hub({ onDrop: (_ws, topic) => dropped.push(topic) });
    const server = serve(
      { hostname: "127.0.0.1", port: 0 },
      requestHandler(
        (ws) => {
          ws.subscribe("feed");
          return ws.closed.then(() => {});
        },
        undefined,
        { hub, maxBackpressure: BOUND, backpressurePolicy: "drop" },
      ),
    );
    t.after(() => server.close());
    t.after(() => server.close());
    await server.ready;
    await stalledClient(t, server.port);
    await eventually(() => hub.subscriberCount("feed") === 1, T, "the subscriber");
    const ws = [...hub.clients][0];
    let maxQueued = 0;
    for (let i = 0; i < 4000 && hub.dropped < 10; i++) {
      hub.publish("feed", chunk);
      maxQueued = Math.max(maxQueued, ws.bufferedAmount);
      await yieldIO();
    }
    assert.ok(hub.dropped >= 10, `dropped ${hub.dropped}`);
    assert.equal(dropped.length, hub.dropped);
    assert.equal(dropped[0], "feed");
    assert.equal(hub.subscriberCount("feed"), 1, "still subscribed");
    assert.ok(maxQueued < BOUND + chunk.length + 64 * 1024, `queued at most ${maxQueued} bytes`);
    await assert.rejects(ws.send(chunk), { code: "ERR_BACKPRESSURE" });
  });

  test("fire-and-forget sends at a peer that never reads are bounded too: closed with 1013", async (t) => {
    let outcome!: Promise<{ code: number; maxQueued: number; rejected: Set<string> }>;
    const server = await serveTopics(t, (ws) => {
      outcome = (async () => {
        let maxQueued = 0;
        const rejected = new Set<string>();
        let open = true;
        void ws.closed.then(() => (open = false));
        for (let i = 0; i < 4000 && open; i++) {
          ws.send(chunk).catch((err) => rejected.add(err.code)); // not awaited, as examples/chat.ts did
          maxQueued = Math.max(maxQueued, ws.bufferedAmount);
          await yieldIO();
        }
        return { code: (await ws.closed).code, maxQueued, rejected };
      })();
      return ws.closed.then(() => {});
    }, { maxBackpressure: BOUND, closeTimeout: 300 });
    await stalledClient(t, server.port);
    await eventually(() => outcome !== undefined, T, "the connection");
    const { code, maxQueued, rejected } = await withTimeout(outcome, T, "the sends");
    assert.equal(code, 1013);
    // The send past the bound says why; those already queued see the close.
    assert.ok(rejected.has("ERR_BACKPRESSURE"), [...rejected].join());
    assert.ok(maxQueued < BOUND + chunk.length + 64 * 1024, `queued at most ${maxQueued} bytes`);
  });
});

describe("the bound on the client side", () => {
  test("connect honours maxBackpressure: fire-and-forget sends at a server that stopped reading end with 1013", async (t) => {
    // The server never reads: its connection stops reading its socket once
    // 1 MiB is unread, then the kernel's buffers fill, then the client's queue.
    const server = await serveTopics(t, (ws) => ws.closed.then(() => {}));
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { maxBackpressure: 256 * 1024, closeTimeout: 300 });
    const chunk = new Uint8Array(64 * 1024);
    let open = true;
    void ws.closed.then(() => (open = false));
    let maxQueued = 0;
    for (let i = 0; i < 4000 && open; i++) {
      ws.send(chunk).catch(() => {});
      maxQueued = Math.max(maxQueued, ws.bufferedAmount);
      await yieldIO();
    }
    assert.equal((await withTimeout(ws.closed, T, "the close")).code, 1013);
    assert.ok(maxQueued < 256 * 1024 + chunk.length + 64 * 1024, `queued at most ${maxQueued} bytes`);
  });
});

/** A transport that accepts and discards writes; `drop()` is the peer vanishing. */
function nullTransport(): Transport & { drop(): void } {
  let sink: TransportSink | null = null;
  return {
    mutableChunks: true,
    bufferedAmount: 0,
    start: (s) => void (sink = s),
    write: () => true,
    pause() {},
    resume() {},
    end() {},
    destroy() {},
    drop: () => sink?.end(),
  };
}

/** A full garbage collection, where the runtime lets a test ask for one. */
function collector(): (() => void) | undefined {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun !== undefined) return () => bun.gc(true);
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) return exposed;
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as (() => void) | undefined;
    if (typeof gc === "function") return gc;
  } catch {
    // Not V8, or the flag cannot be set at run time.
  }
  console.warn("pubsub.test.ts: no way to force a garbage collection here; the heap growth is not measured");
  return undefined;
}

describe("topic tables", () => {
  test("no trace is left after 100,000 subscribe/close cycles", async () => {
    const hub = new Hub();
    const cycles = 100_000;
    const gc = collector();
    let heapBefore = 0;
    for (let i = 0; i < cycles; i++) {
      if (i === 1000) {
        gc?.();
        heapBefore = process.memoryUsage().heapUsed;
      }
      const transport = nullTransport();
      const ws = new Connection(transport, { role: "server", pingInterval: 0 });
      hub.add(ws);
      ws.subscribe(`room-${i % 1000}`);
      ws.subscribe(`user-${i}`); // a topic that exists only for this connection
      if (i % 2 === 0) ws.unsubscribe(`room-${i % 1000}`);
      transport.drop();
      if (i % 1000 === 999) {
        await ws.closed;
        await yieldIO();
      }
    }
    await eventually(() => hub.clients.size === 0, T, "every connection to leave");
    assert.deepEqual([...hub.topics], []);
    assert.equal(hub.subscriberCount("room-1"), 0);
    assert.equal(hub.subscriberCount(`user-${cycles - 1}`), 0);
    if (gc !== undefined) {
      gc();
      const grown = process.memoryUsage().heapUsed - heapBefore;
      console.log(`heap grew ${Math.round(grown / 1024)} KiB over ${cycles - 1000} subscribe/close cycles`);
      assert.ok(grown < 8 * 1024 * 1024, `heap grew ${grown} bytes`);
    }
  });
});

describe("reusePort", () => {
  test("two servers share one port where the runtime can, and ready rejects saying why where it cannot", async (t) => {
    const first = serve({ hostname: "127.0.0.1", port: 0, reusePort: true }, (ws) => ws.send("first"));
    t.after(() => first.close());
    let supported = true;
    try {
      await first.ready;
    } catch (err) {
      supported = false;
      // Node < 22.12: our message; Deno without --unstable-net: Deno's.
      assert.match(String(err), /reusePort|unstable-net/);
      console.warn(`reusePort is not available here (${err}); the refusal is what is tested`);
    }
    if (!supported) return;
    const second = serve({ hostname: "127.0.0.1", port: first.port, reusePort: true }, (ws) => ws.send("second"));
    t.after(() => second.close());
    await second.ready;
    assert.equal(second.port, first.port);
    // Both answer on the shared port: the kernel spreads connections over them.
    const seen = new Set<string>();
    for (let i = 0; i < 50 && seen.size < 2; i++) {
      const ws = await connect(`ws://127.0.0.1:${first.port}/`);
      seen.add(String(await recvData(ws)));
      await ws.close();
    }
    assert.deepEqual([...seen].sort(), ["first", "second"]);
  });
});
