// `streamsock serve --broadcast [--redis URL] [--workers N]` end to end: the
// CLI runs as processes of the runtime running the tests, a real redis-server
// joins them (started here, stopped by PID), and headless Chromium chats
// through the page the CLI serves. Missing redis-server, Chromium or
// SO_REUSEPORT support skip loudly.
import { after, before, describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { connect, type WebSocketConnection } from "../mod.ts";
import { freePort, RedisServer, redisServerBinary } from "./_redis.ts";
import { root, start, type Started, workersCommand } from "./_spawn.ts";
import { findChromium, freshProfile } from "./interop/_peers.ts";

const CLI = "src/cli/main.ts";
const T = 30_000;

async function startServe(t: Owner, args: string[]): Promise<{ server: Started; port: number }> {
  const server = start(t, CLI, ["serve", ...args]);
  const [, port] = await server.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)\//, T);
  return { server, port: Number(port) };
}

/** Two `serve --broadcast --redis` processes (stopped when the test ends), pushed onto `servers` as they start; their ports. */
async function startRedisPair(t: Owner, redisUrl: string, servers: Started[]): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < 2; i++) {
    const { server, port } = await startServe(t, ["--port", "0", "--broadcast", "--redis", redisUrl]);
    servers.push(server);
    ports.push(port);
  }
  return ports;
}

function next(ws: WebSocketConnection): Promise<string | Uint8Array> {
  return withTimeout(ws.recvAll().then((m) => m.data), T, "a message");
}

/** Every text message `ws` receives from now on, as it arrives. */
function heard(ws: WebSocketConnection): string[] {
  const got: string[] = [];
  void (async () => {
    try {
      for await (const msg of ws) if (typeof msg.data === "string") got.push(msg.data);
    } catch {
      // Closed.
    }
  })();
  return got;
}

/** Sends numbered probes from `from` until `to` hears one (the other process may still be subscribing on Redis). */
async function crossed(from: WebSocketConnection, to: string[], tag: string): Promise<void> {
  let i = 0;
  const heard = () => to.some((text) => text.startsWith(`${tag} `));
  // A new probe each poll: one sent before the other process subscribed is lost for good.
  const probed = async () => heard() || (await from.send(`${tag} ${i++}`), false);
  await eventually(probed, 10_000, `${tag}: a probe crossing (heard ${JSON.stringify(to)})`);
}

function loud(message: string): string {
  console.warn(`\n!!! cli_broadcast.test.ts: SKIPPING: ${message}\n`);
  return message;
}

const redisBinary = redisServerBinary();
const noRedis = redisBinary === null ? loud("redis-server is not installed (apt-get install redis-server)") : false;

describe("streamsock serve --broadcast", () => {
  test("a room per URL path, and the chat page for a plain GET", async (t) => {
    const { server, port } = await startServe(t, ["--port", "0", "--broadcast"]);
    const clients = await Promise.all([
      connect(`ws://127.0.0.1:${port}/a`),
      connect(`ws://127.0.0.1:${port}/a`),
      connect(`ws://127.0.0.1:${port}/b`),
    ]);
    t.after(() => Promise.all(clients.map((ws) => ws.terminate())));
    const [a1, a2, b1] = clients;
    await server.waitFor(/\[#3\] open/);
    await a1.send("in room a");
    await b1.send("in room b");
    assert.equal(await next(a2), "in room a");
    await a2.send("back in a");
    assert.equal(await next(a1), "back in a"); // not "in room b"
    const page = await fetch(`http://127.0.0.1:${port}/a`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(await page.text(), /<title>streamsock chat<\/title>[\s\S]*import \{ ResumingSocket \} from "\/_streamsock\/resume\.js"/);
    const module = await fetch(`http://127.0.0.1:${port}/_streamsock/resume.js`);
    assert.match(module.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.match(await module.text(), /export class ResumingSocket[\s\S]*new WebSocket\(this\.#url, PROTOCOL\)/);
    await Promise.all(clients.map((ws) => ws.close()));
  });

  describe("across processes through Redis", { skip: noRedis }, () => {
    let redis: RedisServer;
    before(async () => {
      redis = await RedisServer.start(redisBinary!);
    });
    after(async () => {
      await redis?.kill("SIGTERM");
    });

    test("two serve processes on two ports form one chat", async (t) => {
      const servers: Started[] = [];
      const ports = await startRedisPair(t, redis.url, servers);
      assert.match(servers[0].stdout, /\(broadcast through redis:\/\/127\.0\.0\.1:\d+\)/);
      const one = await connect(`ws://127.0.0.1:${ports[0]}/room`);
      t.after(() => one.terminate());
      const two = await connect(`ws://127.0.0.1:${ports[1]}/room`);
      t.after(() => two.terminate());
      const [heardOne, heardTwo] = [heard(one), heard(two)];
      await crossed(one, heardTwo, "one to two");
      await crossed(two, heardOne, "two to one");
      assert.ok(!heardOne.some((text) => text.startsWith("one to two")), "no echo to the sender");
      await Promise.all([one.close(), two.close()]);
    });

    const workers = workersCommand();
    test(
      "--workers 2 share one port (SO_REUSEPORT) and their rooms meet through Redis",
      { skip: typeof workers === "string" ? loud(workers) : false },
      async (t) => {
        const port = await freePort();
        const args = ["serve", "--port", String(port), "--broadcast", "--redis", redis.url, "--workers", "2"];
        const primary = (workers as Exclude<typeof workers, string>)(t, args);
        const clients: WebSocketConnection[] = [];
        t.after(() => Promise.all(clients.map((ws) => ws.terminate())));
        await primary.waitFor(/listening on[\s\S]*listening on/, T);
        // The kernel spreads connections over the workers: open some until both have one.
        for (let i = 0; i < 40 && !/\[#1\] open[\s\S]*\[#1\] open/.test(primary.stdout); i++) {
          clients.push(await connect(`ws://127.0.0.1:${port}/w`));
          // Its "open" line, whichever worker printed it.
          await eventually(() => (primary.stdout.match(/\] open/g)?.length ?? 0) > i, T, `the open line of client ${i}`);
        }
        assert.match(primary.stdout, /\[#1\] open[\s\S]*\[#1\] open/, "both workers accepted connections");
        // Every client hears a message whichever worker it is on.
        const logs = clients.map(heard);
        await crossed(clients[0], logs[logs.length - 1], "w");
        for (const log of logs.slice(1)) {
          await eventually(() => log.some((text) => text.startsWith("w ")), T, "every client hears the w line");
        }
        const stopped = await primary.stop("SIGTERM", T);
        assert.equal(stopped.stdout.match(/^stopped$/gm)?.length, 2, stopped.stdout);
        await Promise.all(clients.map((ws) => ws.close()));
      },
    );

    const chromium = findChromium();
    const noChromium = "skip" in chromium ? chromium.skip : undefined;
    test("two Chromium pages on two server processes chat through the served page", { skip: noChromium }, async (t) => {
      const servers: Started[] = [];
      const profile = freshProfile();
      t.after(() => profile.remove());
      const ports = await startRedisPair(t, redis.url, servers);
      const output = await new Promise<string>((resolve, reject) => {
        // playwright-core runs under Node, whichever runtime runs the servers.
        execFile(
          "node",
          [
            join(root, "tests/fixtures/chromium_chat.mjs"),
            `http://127.0.0.1:${ports[0]}/lobby`,
            `http://127.0.0.1:${ports[1]}/lobby`,
            profile.dir,
          ],
          { cwd: root, timeout: 120_000 },
          (
            error,
            stdout,
            stderr,
          ) => (error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout)),
        );
      });
      const result = JSON.parse(output.trim().split("\n").pop()!);
      assert.equal(result.error, undefined, result.error);
      assert.equal(result.title, "streamsock chat");
      assert.ok(result.two.some((line: string) => /^alice: hello \d+$/.test(line)), JSON.stringify(result.two));
      assert.ok(result.one.includes("bob: hi alice ✓"), JSON.stringify(result.one));
      assert.match(servers[1].stdout, /< text: "?bob: hi alice/);
    });
  });
});
