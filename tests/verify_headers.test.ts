// Header fields on the 101 from verify's accept path (issue #28): verify
// answering { headers } accepts with them, next to what onHeaders adds, read
// from the raw 101 behind serve and node:http, and from the 200 of an RFC
// 8441 extended CONNECT over HTTP/2.
import { describe, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { connect as http2Connect, type IncomingHttpHeaders } from "node:http2";
import type { WebSocketConnection } from "../mod.ts";
import { requestHandler, type RequestHandlerOptions, serve, type UpgradeRequest, type VerifyResult } from "../mod.ts";
import { KINDS, RawClient, start, upgradeRequest } from "./_server.ts";

async function hold(ws: WebSocketConnection): Promise<void> {
  for await (const _ of ws) { /* until closed */ }
}

const verify = (request: UpgradeRequest): VerifyResult => {
  if (request.headers.get("authorization") !== "Bearer s3cret") return { status: 401, body: "who are you?" };
  return { headers: [["Set-Cookie", "session=abc; HttpOnly"], ["Set-Cookie", "theme=dark"], ["X-User", "alice"]] };
};

const options: RequestHandlerOptions = {
  verify,
  onHeaders: (fields) => void fields.push(["X-Served-By", "streamsock"]),
};

describe("verify's accept path puts header fields on the 101", () => {
  for (const kind of KINDS) {
    test(`${kind}: the raw 101 carries verify's fields, repeated Set-Cookie kept, and onHeaders' after them`, async (t) => {
      const { port } = await start(t, kind, hold, options);
      const client = await RawClient.connect(t, port);
      client.write(upgradeRequest({ Authorization: "Bearer s3cret" }));
      const { startLine, text } = await client.readHead();
      assert.equal(startLine, "HTTP/1.1 101 Switching Protocols");
      const lines = text.split("\r\n");
      const at = (line: string) => lines.indexOf(line);
      assert.ok(at("Set-Cookie: session=abc; HttpOnly") > 0, text);
      assert.ok(at("Set-Cookie: theme=dark") > at("Set-Cookie: session=abc; HttpOnly"), "both cookies, in order");
      assert.ok(at("X-User: alice") > 0, text);
      assert.ok(at("X-Served-By: streamsock") > at("X-User: alice"), "onHeaders sees verify's fields and adds after them");
      const refused = await RawClient.connect(t, port);
      refused.write(upgradeRequest());
      const answer = await refused.readResponse();
      assert.match(answer.startLine, /^HTTP\/1.1 401/);
      assert.doesNotMatch(answer.body, /session=/);
    });
  }

  test("serve: verify's fields given as an object and as Headers", async (t) => {
    for (const headers of [{ "X-Plan": "gold" }, new Headers([["X-Plan", "gold"], ["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]])]) {
      const { port } = await start(t, "serve", hold, { verify: () => ({ headers }) });
      const client = await RawClient.connect(t, port);
      client.write(upgradeRequest());
      const { startLine, text } = await client.readHead();
      assert.equal(startLine, "HTTP/1.1 101 Switching Protocols");
      assert.match(text, /\r\nx-plan: gold\r\n/i);
      if (headers instanceof Headers) assert.match(text, /set-cookie: a=1\r\nset-cookie: b=2\r\n/i);
    }
  });

  test("HTTP/2: the 200 of the extended CONNECT carries verify's fields", async (t) => {
    const server = serve({ hostname: "127.0.0.1", port: 0, http2: true }, requestHandler(hold, undefined, options));
    t.after(() => server.close());
    await server.ready;
    const session = http2Connect(`http://127.0.0.1:${server.port}`);
    t.after(() => session.destroy());
    session.on("error", () => {});
    await withTimeout(new Promise((resolve) => session.once("remoteSettings", resolve)), 5000, "the server's SETTINGS");
    const headers = await open(t, session, { authorization: "Bearer s3cret" });
    assert.equal(headers[":status"], 200);
    assert.deepEqual(headers["set-cookie"], ["session=abc; HttpOnly", "theme=dark"]);
    assert.equal(headers["x-user"], "alice");
    assert.equal(headers["x-served-by"], "streamsock");
    assert.equal((await open(t, session, {}))[":status"], 401);
  });
});

async function open(
  t: Owner,
  session: ReturnType<typeof http2Connect>,
  fields: Record<string, string>,
): Promise<IncomingHttpHeaders> {
  const stream = session.request({
    ":method": "CONNECT",
    ":protocol": "websocket",
    ":scheme": "http",
    ":path": "/chat",
    ":authority": "127.0.0.1",
    "sec-websocket-version": "13",
    ...fields,
  });
  t.after(() => stream.destroy());
  stream.on("error", () => {});
  return await withTimeout(
    new Promise<IncomingHttpHeaders>((resolve, reject) => {
      stream.once("response", resolve);
      stream.once("error", reject);
    }),
    5000,
    "the response head",
  );
}
