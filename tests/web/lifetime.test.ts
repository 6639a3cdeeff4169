// The standard's lifetime rules where they matter outside a browser: an open
// WebSocket with listeners keeps the process alive (it receives a message the
// server sends only after the program's last line ran), and a closed one does
// not (the program exits by itself right after its close event, leaving no
// timer behind: not the close timeout, not keepalive). Child processes on the
// runtime running the tests.
import assert from "node:assert/strict";
import { serve } from "../../mod.ts";
import { start } from "../_spawn.ts";
import { describe, test, withTimeout } from "../_test.ts";

const CLIENT = "tests/web/fixtures/lifetime_client.ts";

describe("WebSocket lifetime", () => {
  test("an open WebSocket keeps the process alive until the server closes it, then the process exits", async (t) => {
    let seenOpen: () => void = () => {};
    const childOpen = new Promise<void>((resolve) => (seenOpen = resolve));
    const server = serve({ port: 0, hostname: "127.0.0.1" }, async (ws) => {
      await childOpen;
      await ws.send("late");
      await ws.close(1000, "bye");
    });
    t.after(() => server.close());
    t.after(() => seenOpen());
    await server.ready;
    const child = start(t, CLIENT, [`ws://127.0.0.1:${server.port}/`, "listen"]);
    await child.waitFor(/^open$/m);
    seenOpen();
    await child.waitFor(/^message late$/m);
    await child.waitFor(/^close 1000 true$/m);
    const closedAt = Date.now();
    const { code } = await child.finished(10_000);
    assert.equal(code, 0, child.stderr);
    assert.ok(Date.now() - closedAt < 3000, `the process exited ${Date.now() - closedAt} ms after its close event`);
  });

  test("a WebSocket closed by the program lets it exit at once", async (t) => {
    const server = serve({ port: 0, hostname: "127.0.0.1" }, async (ws) => {
      for await (const _ of ws) { /* until closed */ }
    });
    t.after(() => server.close());
    await server.ready;
    const child = start(t, CLIENT, [`ws://127.0.0.1:${server.port}/`, "close-self"]);
    await child.waitFor(/^close 1000 true$/m);
    const closedAt = Date.now();
    const { code, stdout } = await withTimeout(child.finished(10_000), 10_000, "the program's exit");
    assert.equal(code, 0, child.stderr);
    assert.deepEqual(stdout.trim().split("\n"), ["open", "close 1000 true"]);
    assert.ok(Date.now() - closedAt < 3000, `the process exited ${Date.now() - closedAt} ms after its close event`);
  });

  test("a WebSocket that cannot connect reports error and close, and lets the process exit", async (t) => {
    const server = serve({ port: 0, hostname: "127.0.0.1" }, () => {});
    t.after(() => server.close());
    await server.ready;
    const port = server.port;
    await server.close();
    const child = start(t, CLIENT, [`ws://127.0.0.1:${port}/`, "listen"]);
    const { code, stdout } = await child.finished(15_000);
    assert.equal(code, 0, child.stderr);
    assert.deepEqual(stdout.trim().split("\n"), ["error", "close 1006 false"]);
  });
});
