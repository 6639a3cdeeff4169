// The Redis backplane against a real redis-server (Debian's package, started
// here on a free port and stopped by PID): hubs in one process, then two
// server processes with clients on each, and Redis killed and restarted in
// the middle. Skips loudly when redis-server is not installed.
import { after, before, describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { connect } from "../src/client/connect.ts";
import type { WebSocketConnection } from "../src/connection/connection.ts";
import { RedisBackplane } from "../src/pubsub/redis.ts";
import { serve, type Server } from "../src/server/serve.ts";
import { RedisServer, redisServerBinary } from "./_redis.ts";
import { start, type Started } from "./_spawn.ts";

const T = 20_000;
const binary = redisServerBinary();
if (binary === null) {
  console.warn(
    "!!! redis_backplane.test.ts: SKIPPED: redis-server is not installed (apt-get install redis-server); " +
      "the Redis backplane is NOT tested",
  );
}
const skip = binary === null ? "redis-server is not installed" : false;

/** A client that records every message it receives. */
class Member {
  readonly ws: WebSocketConnection;
  readonly got: (string | Uint8Array)[] = [];
  #wake: (() => void) | null = null;

  private constructor(ws: WebSocketConnection) {
    this.ws = ws;
    void (async () => {
      try {
        for await (const msg of ws) {
          this.got.push(msg.data);
          this.#wake?.();
        }
      } catch {
        // Closed by the test or the server.
      }
    })();
  }

  /** Connects (the connection is dropped when `t` ends) and waits for the server's "joined" line. */
  static async join(t: Owner, url: string): Promise<Member> {
    const ws = await connect(url);
    t.after(() => ws.terminate());
    const member = new Member(ws);
    await member.waitFor((data) => typeof data === "string" && data.startsWith("joined "));
    return member;
  }

  /** Waits for a received message matching `match`; bounded. */
  async waitFor(match: (data: string | Uint8Array) => boolean, ms = T): Promise<string | Uint8Array> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.got.find(match);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no matching message within ${ms} ms; got ${JSON.stringify(this.got.map(String))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  texts(): string[] {
    return this.got.filter((data): data is string => typeof data === "string");
  }
}

/** Sends numbered probes from `from` until `to` hears one (a subscription reaches Redis asynchronously). */
async function crosses(from: Member, to: Member, tag: string): Promise<void> {
  let i = 0;
  const probed = async () => to.texts().some((text) => text.startsWith(tag)) || (await from.ws.send(`${tag} ${i++}`), false);
  await eventually(probed, 10_000, `${tag}: a probe crossing`);
}

describe("Redis backplane", { skip }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start(binary!);
  });
  after(async () => {
    await redis?.kill("SIGTERM");
  });

  test("two servers in one process: messages cross exactly once, text and binary exact, origin known", async (t) => {
    const origins: string[] = [];
    const servers: Server[] = [];
    for (const id of ["one", "two"]) {
      const backplane = new RedisBackplane({
        url: redis.url,
        instanceId: id,
        onMessage: (_topic, _data, origin) => origins.push(`${id}<-${origin}`),
      });
      const server = serve({ hostname: "127.0.0.1", port: 0, backplane }, async (ws) => {
        ws.subscribe("room");
        await ws.send("joined room");
        for await (const msg of ws) ws.publish("room", msg.data);
      });
      t.after(() => server.close());
      servers.push(server);
      await server.ready;
      await withTimeout(backplane.ready, T, "Redis");
    }
    const [a1, a2, b1] = await Promise.all([
      Member.join(t, `ws://127.0.0.1:${servers[0].port}/`),
      Member.join(t, `ws://127.0.0.1:${servers[0].port}/`),
      Member.join(t, `ws://127.0.0.1:${servers[1].port}/`),
    ]);
    const bytes = new Uint8Array([0, 255, 0xc3, 0x28, 10, 13]); // not valid UTF-8: must stay binary
    // The subscription of server two reaches Redis asynchronously: probe until it does.
    await crosses(a1, b1, "probe");
    await a1.ws.send("héllo ✓ from one");
    await a1.ws.send(bytes);
    await b1.ws.send("from two");
    assert.equal(await b1.waitFor((d) => d === "héllo ✓ from one"), "héllo ✓ from one");
    assert.deepEqual(await b1.waitFor((d) => d instanceof Uint8Array), bytes);
    assert.equal(await a1.waitFor((d) => d === "from two"), "from two");
    assert.equal(await a2.waitFor((d) => d === "from two"), "from two");
    await a2.waitFor((d) => d instanceof Uint8Array);
    // A message from server two, published after everything above reached Redis: a copy of
    // anything above, coming back to server one through Redis, would arrive before it.
    await b1.ws.send("last");
    await a1.waitFor((d) => d === "last");
    await a2.waitFor((d) => d === "last");
    const count = (m: Member, text: string) => m.texts().filter((got) => got === text).length;
    assert.equal(count(a2, "héllo ✓ from one"), 1, "the publishing process delivers its own message once");
    assert.equal(count(a1, "héllo ✓ from one"), 0, "not back to the sender");
    assert.equal(count(a1, "from two"), 1);
    assert.equal(a2.got.filter((d) => d instanceof Uint8Array).length, 1);
    assert.ok(origins.includes("two<-one") && origins.includes("one<-two"), origins.join());
    assert.ok(!origins.some((o) => o === "one<-one" || o === "two<-two"), "no process hears itself");
    await Promise.all([a1, a2, b1].map((m) => m.ws.close()));
  });

  test("two server processes; Redis killed and restarted: local delivery goes on, remote copies are dropped, traffic resumes", async (t) => {
    const processes: Started[] = [];
    const ports: number[] = [];
    for (const id of ["proc-a", "proc-b"]) {
      const child = start(t, "tests/fixtures/redis_topics_server.ts", [], { REDIS_URL: redis.url, INSTANCE_ID: id });
      processes.push(child);
      const [, port] = await child.waitFor(/ws:\/\/127\.0\.0\.1:(\d+)\//, T);
      ports.push(Number(port));
    }
    const [a1, a2, b1] = await Promise.all([
      Member.join(t, `ws://127.0.0.1:${ports[0]}/chat`),
      Member.join(t, `ws://127.0.0.1:${ports[0]}/chat`),
      Member.join(t, `ws://127.0.0.1:${ports[1]}/chat`),
    ]);
    await crosses(a1, b1, "before");
    await crosses(b1, a1, "back");

    await redis.kill(); // SIGKILL: a crash, by PID
    await processes[0].waitFor(/redis error/, T); // process a noticed
    for (let i = 0; i < 5; i++) await a1.ws.send(`outage ${i}`);
    // Local delivery does not wait for Redis.
    for (let i = 0; i < 5; i++) await a2.waitFor((d) => d === `outage ${i}`);

    await redis.restart();
    await crosses(a1, b1, "after");
    await crosses(b1, a1, "after-back");
    // At most once, and no buffering: what was published while Redis was down never crosses
    // (it would have come before the "after" probes that did).
    assert.deepEqual(b1.texts().filter((text) => text.startsWith("outage")), []);

    const stopped = await Promise.all(processes.map((p) => p.stop("SIGTERM", T)));
    const dropped = Number(stopped[0].stdout.match(/dropped (\d+)/)?.[1]);
    assert.ok(dropped >= 5, `process a counted ${dropped} dropped publishes:\n${stopped[0].stdout}`);
  });
});
