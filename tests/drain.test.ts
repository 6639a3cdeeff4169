// Draining (issue #28): server.close({ drain }) and hub.close() refuse new
// upgrades with 503 and Retry-After, send 1001 to open connections, wait for
// their closes up to a timeout, then terminate the rest; plain HTTP is still
// answered meanwhile. Real sockets; a raw peer that never answers the close.
import { describe, eventually, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { connect } from "../mod.ts";
import type { WebSocketConnection } from "../mod.ts";
import { Hub } from "../src/pubsub/hub.ts";
import { serve } from "../mod.ts";
import { RawClient, start, upgradeRequest } from "./_server.ts";
import { closeCodeOf } from "./_wire.ts";

async function hold(ws: WebSocketConnection): Promise<void> {
  for await (const _ of ws) { /* until closed */ }
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("draining", () => {
  test("serve: close({ drain }) answers 503 + Retry-After to upgrades, HTTP still served, 1001 to the open, then terminates the rest", async (t) => {
    const server = serve({
      port: 0,
      hostname: "127.0.0.1",
      retryAfter: 3,
      onRequest: (request) => request.url === "/health" ? { status: 200, body: "draining is fine" } : undefined,
    }, hold);
    t.after(() => server.close());
    await server.ready;
    const port = server.port;
    const polite = await connect(`ws://127.0.0.1:${port}/`);
    t.after(() => polite.terminate());
    // A peer that reads the close frame but never answers it.
    const stubborn = await RawClient.connect(t, port);
    stubborn.write(upgradeRequest());
    await stubborn.readHead();
    await eventually(() => server.connections === 2, 5000, "both connected");

    const started = Date.now();
    const closing = server.close({ drain: 1500 });
    assert.equal((await withTimeout(polite.closed, 5000, "the polite client's close")).code, 1001);
    assert.equal(closeCodeOf(await stubborn.expectFrame()), 1001, "the stubborn peer got 1001 too");

    const late = await RawClient.connect(t, port);
    late.write(upgradeRequest());
    const refusal = await late.readResponse();
    assert.match(refusal.startLine, /^HTTP\/1.1 503/, "a new upgrade during the drain");
    assert.equal(refusal.headers.get("retry-after"), "3");
    assert.deepEqual(await get(port, "/health"), { status: 200, body: "draining is fine\n" }, "plain HTTP still answered");
    assert.equal(server.connections, 1, "the stubborn peer is still open");

    await withTimeout(stubborn.waitEnded(10_000), 10_000, "the stubborn peer terminated");
    await withTimeout(closing, 10_000, "the drain");
    const took = Date.now() - started;
    assert.ok(took >= 1400, `the drain waited for its timeout (${took} ms)`);
    const stats = server.stats();
    assert.equal(stats.drops.drainTimeout, 1, "one connection terminated by the drain's timeout");
    assert.deepEqual(stats.closeCodes, { "1001": 1, "1006": 1 });
    assert.equal(stats.limits.draining, 1);
    assert.deepEqual(stats.refusedByStatus, { "503": 1 });
    await assert.rejects(RawClient.connect(t, port), "the listener is closed after the drain");
  });

  test("serve: a drain ends as soon as the last connection closed", async (t) => {
    const server = serve({ port: 0, hostname: "127.0.0.1" }, hold);
    t.after(() => server.close());
    await server.ready;
    const ws = await connect(`ws://127.0.0.1:${server.port}/`);
    t.after(() => ws.terminate());
    await eventually(() => server.connections === 1, 5000, "connected");
    const started = Date.now();
    await withTimeout(server.close({ drain: 30_000 }), 10_000, "the drain");
    assert.ok(Date.now() - started < 5000, "no wait for the timeout once everyone left");
    assert.equal((await ws.closed).code, 1001);
    assert.equal(server.stats().drops.drainTimeout, 0);
  });

  test("requestHandler + hub: hub.close() answers upgrades 503 while the connections close", async (t) => {
    const hub = new Hub();
    const running = await start(t, "node:http", hold, { hub });
    const stubborn = await RawClient.connect(t, running.port);
    stubborn.write(upgradeRequest());
    await stubborn.readHead();
    await eventually(() => hub.clients.size === 1, 5000, "connected");
    const closing = hub.close();
    assert.equal(closeCodeOf(await stubborn.expectFrame()), 1001);
    const late = await RawClient.connect(t, running.port);
    late.write(upgradeRequest());
    const refusal = await late.readResponse();
    assert.match(refusal.startLine, /^HTTP\/1.1 503/);
    assert.equal(refusal.headers.get("retry-after"), "5");
    stubborn.destroy();
    await withTimeout(closing, 10_000, "hub.close()");
    assert.deepEqual(hub.stats().refusedByStatus, { "503": 1 });
  });
});
