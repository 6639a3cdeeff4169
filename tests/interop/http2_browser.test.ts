// Headless Chromium against WebSockets over HTTP/2 (RFC 8441): a page loaded
// over HTTP/2 opens `new WebSocket("wss://<same origin>/...")`, and Chromium
// carries it as an extended CONNECT stream on the page's own connection when
// the server advertised SETTINGS_ENABLE_CONNECT_PROTOCOL, or falls back to an
// HTTP/1.1 upgrade when it did not. Messages, permessage-deflate and close
// codes must round-trip either way.
import { test } from "../_test.ts";
import assert from "node:assert/strict";
import { createSecureServer, type Http2ServerRequest, type Http2Session } from "node:http2";
import type { WebSocketConnection } from "../../src/connection/connection.ts";
import { http2Handler } from "../../src/server/http2_handler.ts";
import { requestHandler } from "../../src/server/request_handler.ts";
import { serve } from "../../src/server/serve.ts";
import type { UpgradeHandler } from "../../src/server/options.ts";
import { testCertificate } from "../_tls.ts";
import { findChromium, fixture, freshProfile, runClient } from "./_peers.ts";

const chromium = findChromium();
const skip = "skip" in chromium ? chromium.skip : undefined;

interface Seen {
  httpVersions: string[];
  closes: { code: number; reason: string }[];
}

function websocketHandler(seen: Seen): UpgradeHandler {
  return requestHandler(
    async (ws: WebSocketConnection, request) => {
      seen.httpVersions.push(request.httpVersion ?? "?");
      ws.closed.then(({ code, reason }) => seen.closes.push({ code, reason }));
      if (request.url === "/server-closes") return void await ws.close(4002, "server bye");
      for await (const msg of ws) await ws.send(msg);
    },
    (offered) => offered.includes("chat.v1") ? "chat.v1" : null,
    { compression: true, maxFrameSize: 1024 * 1024 },
  );
}

interface ChromiumResult {
  error?: string;
  pageStatus: number | null;
  nextHopProtocol: string | null;
  protocol: string;
  extensions: string;
  text: string;
  binary: number[];
  bigIntact: boolean;
  clientClose: { code: number; reason: string; wasClean: boolean };
  serverClose: { code: number; reason: string; wasClean: boolean };
}

async function runChromium(pageUrl: string): Promise<ChromiumResult> {
  const profile = freshProfile();
  try {
    const result = await runClient("node", [fixture("chromium_h2.mjs"), pageUrl, profile.dir], 120_000);
    return result as unknown as ChromiumResult;
  } finally {
    profile.remove();
  }
}

function assertExchange(result: ChromiumResult, seen: Seen, httpVersion: string): void {
  assert.equal(result.error, undefined, `Chromium failed: ${result.error}`);
  assert.equal(result.protocol, "chat.v1");
  assert.match(result.extensions, /^permessage-deflate/);
  assert.equal(result.text, "hello over h2");
  assert.deepEqual(result.binary, [1, 2, 3, 250]);
  assert.equal(result.bigIntact, true);
  // The server echoes the code of the client's close; RFC 6455 §5.5.1 leaves the reason out.
  assert.deepEqual(result.clientClose, { code: 4321, reason: "", wasClean: true });
  assert.deepEqual(result.serverClose, { code: 4002, reason: "server bye", wasClean: true });
  assert.deepEqual(seen.httpVersions, [httpVersion, httpVersion], "how the WebSockets arrived");
  assert.deepEqual(
    [...seen.closes].sort((a, b) => a.code - b.code),
    [{ code: 4002, reason: "server bye" }, { code: 4321, reason: "client bye" }],
  );
}

const PAGE = "<!doctype html><title>streamsock over HTTP/2</title><p>WebSockets to this origin share this connection.";

for (const enableConnectProtocol of [true, false]) {
  test(
    `Chromium: a page from a node:http2 server with http2Handler, enableConnectProtocol ${enableConnectProtocol}` +
      (enableConnectProtocol
        ? ": its WebSockets are RFC 8441 streams on the page's connection"
        : ": HTTP/1.1 fallback"),
    { skip, timeout: 180_000 },
    async (t) => {
      const { cert, key } = await testCertificate();
      const seen: Seen = { httpVersions: [], closes: [] };
      const websocket = websocketHandler(seen);
      const onConnect = http2Handler(websocket);
      const pageSessions = new Set<Http2Session>();
      const socketSessions = new Set<Http2Session>();
      const server = createSecureServer({ cert, key, allowHTTP1: true, settings: { enableConnectProtocol } });
      server.on("request", (req: Http2ServerRequest, res) => {
        if (req.stream?.session) pageSessions.add(req.stream.session);
        res.setHeader("content-type", "text/html; charset=utf-8");
        res.end(PAGE);
      });
      server.on("connect", (req: Http2ServerRequest) => {
        socketSessions.add(req.stream.session!);
        onConnect(req);
      });
      server.on("upgrade", websocket);
      t.after(() => {
        for (const session of [...pageSessions, ...socketSessions]) session.destroy();
        server.close();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const port = (server.address() as { port: number }).port;
      const result = await runChromium(`https://127.0.0.1:${port}/`);
      assert.equal(result.pageStatus, 200);
      assert.equal(result.nextHopProtocol, "h2", "the page itself came over HTTP/2");
      assertExchange(result, seen, enableConnectProtocol ? "2" : "1.1");
      if (enableConnectProtocol) {
        assert.equal(pageSessions.size, 1);
        assert.deepEqual([...socketSessions], [...pageSessions], "the WebSockets rode the page's HTTP/2 connection");
      } else {
        assert.equal(socketSessions.size, 0);
      }
    },
  );
}

for (const http2 of [true, false]) {
  test(
    `Chromium: serve({ tls, http2: ${http2} }) — WebSockets from a page of its origin arrive over HTTP/${
      http2 ? "2" : "1.1"
    }`,
    { skip, timeout: 180_000 },
    async (t) => {
      const tls = await testCertificate();
      const seen: Seen = { httpVersions: [], closes: [] };
      const server = serve({ hostname: "127.0.0.1", port: 0, tls, http2 }, websocketHandler(seen));
      t.after(() => server.close());
      await server.ready;
      // serve() is WebSocket-only: the page is its refusal of a plain GET
      // (405 over HTTP/2, 426 over HTTP/1.1), which still opens the connection.
      const result = await runChromium(`https://127.0.0.1:${server.port}/`);
      assert.equal(result.pageStatus, http2 ? 405 : 426);
      assert.equal(result.nextHopProtocol, http2 ? "h2" : "http/1.1");
      assertExchange(result, seen, http2 ? "2" : "1.1");
    },
  );
}
