// Durable rooms of `streamsock serve --broadcast` from the outside: `connect
// --resume` processes across a server killed with SIGKILL and restarted, gap
// notices on stderr, usage errors, and the chat page in headless Chromium
// losing no line across a server restart. Servers and clients run on the
// runtime running this file; a real redis-server joins them.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { reconnecting } from "../mod.ts";
import { freePort, RedisServer, redisServerBinary } from "./_redis.ts";
import { root, run, start, Started } from "./_spawn.ts";
import { after, before, describe, type Owner, test } from "./_test.ts";
import { findChromium, freshProfile } from "./interop/_peers.ts";

const CLI = "src/cli/main.ts";
const T = 30_000;

async function serveOn(t: Owner, port: number, args: string[]): Promise<Started> {
  const server = start(t, CLI, ["serve", "--port", String(port), "--broadcast", ...args]);
  await server.waitFor(/listening on ws:\/\/.*\n(rooms are durable.*\n)?/, T);
  return server;
}

const binary = redisServerBinary();
if (binary === null) console.warn("!!! durable_cli.test.ts: SKIPPED in part: redis-server is not installed");

describe("durable rooms from the command line", () => {
  test("a room's history is kept in memory without Redis: --from start, and a gap notice on stderr past --max-len", async (t) => {
    const port = await freePort();
    const server = await serveOn(t, port, ["--max-len", "3"]);
    await server.waitFor(/rooms are durable/, T);
    assert.match(server.stdout, /rooms are durable: the last 3 messages, in memory \(streamsock\.resume\.v1\)/);
    const url = `ws://127.0.0.1:${port}/r`;
    const writer = await run(CLI, ["connect", "--resume", url, "--wait", "0"], { input: "m1\nm2\nm3\nm4\nm5\n" });
    assert.equal(writer.code, 0, writer.stderr);
    const reader = await run(CLI, ["connect", "--resume", url, "--from", "start", "--wait", "500ms"], { input: "" });
    assert.equal(reader.code, 0, reader.stderr);
    assert.match(reader.stderr, /gap on \/r: messages 1-2 of epoch \w+ are gone: trimmed from the log/);
    assert.deepEqual(reader.stdout.trim().split("\n"), ["< text: m3", "< text: m4", "< text: m5"]);
  });

  test("usage errors: resume flags without --resume, window flags without --broadcast", async () => {
    const topic = await run(CLI, ["connect", "ws://127.0.0.1:1/", "--topic", "x"]);
    assert.equal(topic.code, 2);
    assert.match(topic.stderr, /--topic and --from go with --resume/);
    const from = await run(CLI, ["connect", "ws://127.0.0.1:1/", "--resume", "--from", "yesterday"]);
    assert.equal(from.code, 2);
    const window = await run(CLI, ["serve", "--port", "0", "--max-len", "5"]);
    assert.equal(window.code, 2);
    assert.match(window.stderr, /--max-len and --max-age go with --broadcast/);
  });

  describe("through Redis", { skip: binary === null ? "redis-server is not installed" : false }, () => {
    let redis: RedisServer;
    before(async () => {
      redis = await RedisServer.start(binary!);
    });
    after(async () => {
      await redis?.kill("SIGTERM");
    });

    test("connect --resume prints every line once, in order, across its server's SIGKILL and restart", async (t) => {
      const [port1, port2] = [await freePort(), await freePort()];
      await serveOn(t, port1, ["--redis", redis.url]);
      let server2 = await serveOn(t, port2, ["--redis", redis.url]);
      const room = `/cli-${Math.random().toString(36).slice(2)}`;
      const reader = start(t, CLI, ["connect", "--resume", `ws://127.0.0.1:${port2}${room}`, "--from", "start"]);
      await reader.waitFor(/connected to/, T, "stderr");
      const write = async (lines: string) => {
        const writer = await run(CLI, ["connect", "--resume", `ws://127.0.0.1:${port1}${room}`, "--wait", "0"], { input: lines });
        assert.equal(writer.code, 0, writer.stderr);
      };
      await write("one\ntwo\n");
      await reader.waitFor(/< text: two/, T);
      await server2.kill(); // SIGKILL: the reader's connection is gone
      await write("three\nfour\n"); // stored while the reader's server is down
      server2 = await serveOn(t, port2, ["--redis", redis.url]);
      await reader.waitFor(/< text: four/, T);
      await write("five\n");
      await reader.waitFor(/< text: five/, T);
      reader.process.stdin!.end();
      const done = await reader.finished(T);
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stderr, /reconnecting in \d+ ms/);
      assert.deepEqual(done.stdout.trim().split("\n"), ["< text: one", "< text: two", "< text: three", "< text: four", "< text: five"]);
    });

    const chromium = findChromium();
    test(
      "the chat page resumes after its server was SIGKILLed and restarted, without losing or repeating a line",
      { skip: "skip" in chromium ? chromium.skip : undefined, timeout: 120_000 },
      async (t) => {
        const [port1, port2] = [await freePort(), await freePort()];
        let server1 = await serveOn(t, port1, ["--redis", redis.url]);
        await serveOn(t, port2, ["--redis", redis.url]);
        const room = `/chat-${Math.random().toString(36).slice(2)}`;
        const profile = freshProfile();
        t.after(() => profile.remove());
        // playwright-core runs under Node, whichever runtime runs the servers.
        const page = new Started(
          spawn("node", [join(root, "tests/fixtures/chromium_resume.mjs"), `http://127.0.0.1:${port1}${room}`, profile.dir, "alice: offline line"], {
            cwd: root,
            stdio: ["pipe", "pipe", "pipe"],
          }),
        );
        // SIGTERM: playwright closes Chromium before the profile is removed (a SIGKILL would orphan it).
        t.after(() => page.stop("SIGTERM", 10_000));
        await page.waitFor(/"ready":true|"error"/, 90_000);
        assert.doesNotMatch(page.stdout, /"error"/, page.stdout);
        const bob = reconnecting(`ws://127.0.0.1:${port2}/`, { resume: true, initialDelay: 50 });
        t.after(() => bob.close());
        await server1.kill();
        for (let i = 1; i <= 3; i++) await bob.publish(room, `bob: while down ${i}`);
        page.process.stdin!.write("down\n");
        await page.waitFor(/"typed":true|"error"/, T);
        assert.match(page.stdout, /"outbox":\["alice: offline line \(sending\.\.\.\)"\]/, "the line waits in the outbox");
        server1 = await serveOn(t, port1, ["--redis", redis.url]);
        page.process.stdin!.write("up\n");
        await page.waitFor(/"log":|"error"/, 60_000);
        const result = JSON.parse(page.stdout.trim().split("\n").pop()!);
        assert.equal(result.error, undefined, result.error);
        assert.deepEqual(result.log, [
          "alice: before",
          "bob: while down 1",
          "bob: while down 2",
          "bob: while down 3",
          "alice: offline line",
        ]);
        assert.deepEqual(result.outbox, []);
        assert.match(result.status, /^connected to/);
        assert.match(server1.stdout, /< text: alice: offline line \(to \/chat-/);
      },
    );
  });
});
