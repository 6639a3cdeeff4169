// A send whose promise nobody observes must not end the process or print an
// unhandled-rejection warning, on the runtime's default unhandled-rejection
// mode (Node and Deno exit on one, Bun prints it): tests/fixtures/
// forgotten_sends.ts runs as a child process of the runtime running the
// tests. Whoever awaits the send still gets the rejection. The same program
// sends 20,000 un-awaited 1 KiB messages to a healthy client: past
// maxBackpressure the connection closes with 1013, which the client reads
// after every message queued before it. tests/fixtures/forgotten_sends_entries.ts
// does the same through streamsock/ws and streamsock/web.
import assert from "node:assert/strict";
import { DEFAULT_MAX_BACKPRESSURE } from "../src/connection/options.ts";
import { run } from "./_spawn.ts";
import { describe, test } from "./_test.ts";

describe("sends nobody awaits", () => {
  test("forgotten sends after close() and a fire-and-forget burst neither end the process nor print a warning", async () => {
    const done = await run("tests/fixtures/forgotten_sends.ts", [], { timeout: 50_000 });
    assert.equal(done.code, 0, `exit ${done.code} ${done.signal}:\n${done.stderr}`);
    assert.equal(done.stderr, "", "nothing on stderr (no unhandled-rejection warning)");
    const results = JSON.parse(done.stdout.trim().split("\n").at(-1)!);
    assert.equal(results.awaitedRejects, true, "an awaited send after close() rejects with ConnectionClosedError");
    const { received, code, wasClean, reason } = results.burst;
    assert.equal(code, 1013, `the client saw the close frame: ${JSON.stringify(results.burst)}`);
    assert.equal(wasClean, true, "a closing handshake, not a dropped socket (1006)");
    assert.match(reason, /maxBackpressure/);
    // At least maxBackpressure bytes were queued before the close, and all of them arrived.
    assert.ok(received >= DEFAULT_MAX_BACKPRESSURE / 1024 && received < 20_000, `received ${received} of 20000`);
    // maxBackpressure: Infinity queues everything, as ws does.
    assert.deepEqual(results.unbounded, { received: 20_000, code: 1000 });
  });

  test("through streamsock/ws and streamsock/web: sends after the close and sends in flight when the connection goes end nothing", async () => {
    const done = await run("tests/fixtures/forgotten_sends_entries.ts", [], { timeout: 50_000 });
    assert.equal(done.code, 0, `exit ${done.code} ${done.signal}:\n${done.stderr}`);
    assert.equal(done.stderr, "", "nothing on stderr (no unhandled-rejection warning)");
    const results = JSON.parse(done.stdout.trim().split("\n").at(-1)!);
    // ws's API: the callback gets ws's error; without one, nothing happens.
    assert.deepEqual(results.ws, {
      whileClosing: "WebSocket is not open: readyState 2 (CLOSING)",
      afterClose: "WebSocket is not open: readyState 3 (CLOSED)",
      pingAfterClose: "WebSocket is not open: readyState 3 (CLOSED)",
      serverAfterClose: "WebSocket is not open: readyState 3 (CLOSED)",
      // Each refused send or ping counts its bytes, as ws's does: 2 × 13 + 2 × 21 + 2 × 1.
      bufferedAmount: 70,
    });
    // The standard's: a send after close() is counted in bufferedAmount, never sent.
    assert.deepEqual(results.web, { afterCloseCall: 13, afterCloseEvent: 20 });
    assert.deepEqual(results.webDropped, { code: 1006, wasClean: false });
  });
});
