// requestHandler's trace option: every frame of every connection, read from
// the wire, with the request it belongs to, behind serve and behind node:http.
import { describe, test } from "./_test.ts";
import assert from "node:assert/strict";
import { connect } from "../src/client/connect.ts";
import type { UpgradeRequest } from "../src/handshake/server.ts";
import type { TracedFrame } from "../src/transport/trace.ts";
import { KINDS, start } from "./_server.ts";

describe("requestHandler trace", () => {
  for (const kind of KINDS) {
    test(`${kind}: sees the client's masked frames and its own unmasked answers, with the request`, async (t) => {
      const traced: { frame: TracedFrame; request: UpgradeRequest }[] = [];
      const running = await start(t, kind, async (ws) => {
        for await (const message of ws) await ws.send(message);
      }, { trace: (frame, request) => traced.push({ frame, request }) });
      const ws = await connect(`ws://127.0.0.1:${running.port}/traced?x=1`, { compression: false });
      await ws.send("hello");
      assert.equal((await ws.recvAll()).data, "hello");
      await ws.close();
      await running.close();
      const summary = traced.map(({ frame }) =>
        `${frame.direction} ${frame.opcode} ${frame.length} ${frame.mask === null}`
      );
      assert.deepEqual(summary.slice(0, 2), ["receive 1 5 false", "send 1 5 true"]);
      assert.ok(summary.includes("receive 8 2 false") && summary.includes("send 8 2 true"), summary.join(", "));
      assert.equal(new TextDecoder().decode(traced[0].frame.preview), "hello");
      assert.equal(traced[0].request.url, "/traced?x=1");
    });
  }
});
