// WebSockets over HTTP/2 (RFC 8441): our server (serve with http2: true, and
// http2Handler on a node:http2 server) against a bare node:http2 client that
// writes frames by hand and reads them back with the conformance suite's own
// parser, over TLS (ALPN h2) and cleartext h2c with prior knowledge.
import { after, assertBytesEqual, before, describe, type Owner, Releases, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect as http2Connect,
  constants,
  createSecureServer,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { Socket } from "node:net";
import type { WebSocketConnection } from "../src/connection/connection.ts";
import { connect } from "../src/client/connect.ts";
import { Http2Pool } from "../src/client/http2_pool.ts";
import { http2Handler } from "../src/server/http2_handler.ts";
import { requestHandler } from "../src/server/request_handler.ts";
import type { RequestHandlerOptions } from "../src/server/options.ts";
import { serve, type Server } from "../src/server/serve.ts";
import type { UpgradeRequest } from "../src/handshake/server.ts";
import { rawFrame } from "./_helpers.ts";
import { testCertificate } from "./_tls.ts";
import { Wire } from "./_wire.ts";

const TEXT = 0x81;
const CLOSE = 0x88;

async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const msg of ws) await ws.send(msg);
}

function closePayload(code: number, reason = ""): Uint8Array {
  const text = new TextEncoder().encode(reason);
  const out = new Uint8Array(2 + text.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

function codeOf(payload: Uint8Array): number {
  return (payload[0] << 8) | payload[1];
}

/**
 * A bare node:http2 client session, once the server's SETTINGS arrived (RFC
 * 8441 §4 needs them); destroyed when `t` ends.
 */
async function h2Session(t: Owner, port: number, secure: boolean, ca: string): Promise<ClientHttp2Session> {
  const session = secure ? http2Connect(`https://127.0.0.1:${port}`, { ca }) : http2Connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  session.on("error", () => {});
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      session.once("remoteSettings", () => resolve());
      session.once("error", reject);
    }),
    5000,
    "the server's SETTINGS",
  );
  return session;
}

/** Closes a node:http2 server when `t` ends, destroying the sessions it still has: close() alone waits for them. */
function closeAtEnd(t: Owner, server: Http2SecureServer): void {
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  t.after(() => {
    for (const session of sessions) session.destroy();
    server.close();
  });
}

interface Opened {
  stream: ClientHttp2Stream;
  status: number;
  headers: IncomingHttpHeaders;
  /** The stream's bytes, read with the conformance suite's frame parser. */
  wire: Wire;
}

/** Sends an extended CONNECT (RFC 8441 §4) and waits for the response head. */
async function openStream(
  session: ClientHttp2Session,
  fields: Record<string, string> = {},
  path = "/chat",
): Promise<Opened> {
  assert.equal(
    session.remoteSettings.enableConnectProtocol,
    true,
    "the server must send SETTINGS_ENABLE_CONNECT_PROTOCOL",
  );
  const stream = session.request({
    ":method": "CONNECT",
    ":protocol": "websocket",
    ":scheme": session.encrypted ? "https" : "http",
    ":path": path,
    ":authority": "127.0.0.1",
    "sec-websocket-version": "13",
    ...fields,
  });
  // The Wire reads from the start: Deno's client may report DATA before the response head.
  const wire = new Wire(stream as unknown as Socket, false);
  const headers = await withTimeout(
    new Promise<IncomingHttpHeaders>((resolve, reject) => {
      stream.once("response", resolve);
      stream.once("error", reject);
    }),
    5000,
    "the response head",
  );
  return { stream, status: Number(headers[":status"]), headers, wire };
}

async function readBody(opened: Opened): Promise<string> {
  const bytes: Uint8Array[] = [];
  for (;;) {
    try {
      bytes.push(await opened.wire.read(1, 2000));
    } catch {
      break;
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes.flatMap((b) => [...b])));
}

for (const secure of [true, false]) {
  const name = secure ? "TLS (ALPN h2)" : "h2c (prior knowledge)";
  describe(`RFC 8441 server: serve({ http2: true }) over ${name}, a bare node:http2 client`, () => {
    let cert: { cert: string; key: string };
    let server: Server;
    let session: ClientHttp2Session;
    const requests: UpgradeRequest[] = [];
    let failures: unknown[] = [];
    const options: RequestHandlerOptions = {
      maxFrameSize: 1024,
      compression: true,
      verify: (request) => request.headers.get("authorization") !== "Bearer wrong" || 403,
      onError: (err) => failures.push(err),
    };

    const releases = new Releases();
    before(async () => {
      cert = await testCertificate();
      const handler = requestHandler(
        async (ws, request) => {
          requests.push(request);
          if (request.url === "/close-4001") return void await ws.close(4001, "bye");
          await echo(ws);
        },
        (offered) => offered.includes("chat.v2") ? "chat.v2" : null,
        options,
      );
      server = serve({ hostname: "127.0.0.1", port: 0, tls: secure ? cert : undefined, http2: true }, handler);
      releases.after(() => server.close());
      await server.ready;
      session = await h2Session(releases, server.port, secure, cert.cert);
    });

    after(() => releases.release());

    test("a CONNECT stream gets 200 without Sec-WebSocket-Accept, and echoes an unmasked frame", async () => {
      failures = [];
      const opened = await openStream(session, {}, "/chat?room=1");
      assert.equal(opened.status, 200);
      assert.equal(opened.headers["sec-websocket-accept"], undefined);
      assert.equal(opened.headers["sec-websocket-protocol"], undefined);
      opened.stream.write(rawFrame(TEXT, "hello over h2"));
      const frame = await opened.wire.expectFrame();
      assert.equal(frame.opcode, 1);
      assert.equal(new TextDecoder().decode(frame.payload), "hello over h2");
      const request = requests.at(-1)!;
      assert.equal(request.httpVersion, "2");
      assert.equal(request.method, "CONNECT");
      assert.equal(request.url, "/chat?room=1");
      assert.equal(request.headers.get("host"), "127.0.0.1");
      // Closing: our close frame is echoed, then the server ends the stream (END_STREAM).
      opened.stream.write(rawFrame(CLOSE, closePayload(1000, "done")));
      const close = await opened.wire.expectFrame();
      assert.equal(close.opcode, 8);
      assert.equal(codeOf(close.payload), 1000);
      await opened.wire.expectEnd();
      opened.stream.end();
      assert.deepEqual(failures, []);
    });

    test("a server-initiated close sends the close frame, then ends the stream", async () => {
      const opened = await openStream(session, {}, "/close-4001");
      assert.equal(opened.status, 200);
      const close = await opened.wire.expectFrame();
      assert.equal(codeOf(close.payload), 4001);
      assert.equal(new TextDecoder().decode(close.payload.subarray(2)), "bye");
      opened.stream.write(rawFrame(CLOSE, closePayload(4001)));
      opened.stream.end();
      await opened.wire.expectEnd();
    });

    test("subprotocol and permessage-deflate are negotiated through the 200's header fields", async () => {
      const opened = await openStream(session, {
        "sec-websocket-protocol": "chat.v1, chat.v2",
        "sec-websocket-extensions": "permessage-deflate; client_max_window_bits",
      });
      assert.equal(opened.status, 200);
      assert.equal(opened.headers["sec-websocket-protocol"], "chat.v2");
      assert.match(String(opened.headers["sec-websocket-extensions"]), /^permessage-deflate/);
      opened.stream.close(constants.NGHTTP2_CANCEL);
    });

    test("refusals answer on the stream with the HTTP/1.1 statuses and leave the session usable", async () => {
      const version = await openStream(session, { "sec-websocket-version": "8" });
      assert.equal(version.status, 426);
      assert.equal(version.headers["sec-websocket-version"], "13");
      assert.match(await readBody(version), /version 13/);
      const protocol = await openStream(session, { "sec-websocket-protocol": "chat.v1" });
      assert.equal(protocol.status, 400);
      const verified = await openStream(session, { authorization: "Bearer wrong" });
      assert.equal(verified.status, 403);
      const get = session.request({ ":method": "GET", ":path": "/" });
      const getHead = await withTimeout(new Promise<IncomingHttpHeaders>((r) => get.once("response", r)), 5000, "GET");
      assert.equal(getHead[":status"], 405);
      assert.equal(getHead["allow"], "CONNECT");
      get.close();
      const ok = await openStream(session);
      assert.equal(ok.status, 200);
      ok.stream.close(constants.NGHTTP2_CANCEL);
    });

    test("a protocol violation fails that stream with 1002 and leaves the session and its other streams alone", async () => {
      const bystander = await openStream(session);
      const offender = await openStream(session);
      // An unmasked client frame breaks RFC 6455 §5.1.
      offender.stream.write(rawFrame(TEXT, "unmasked", null));
      const close = await offender.wire.expectFrame();
      assert.equal(codeOf(close.payload), 1002);
      offender.stream.end();
      await offender.wire.expectEnd();
      bystander.stream.write(rawFrame(TEXT, "still here"));
      const frame = await bystander.wire.expectFrame();
      assert.equal(new TextDecoder().decode(frame.payload), "still here");
      bystander.stream.close(constants.NGHTTP2_CANCEL);
      assert.equal(session.destroyed, false);
    });

    test("maxFrameSize holds per stream: a larger frame fails it with 1009", async () => {
      const opened = await openStream(session);
      opened.stream.write(rawFrame(TEXT, "x".repeat(2000)));
      const close = await opened.wire.expectFrame();
      assert.equal(codeOf(close.payload), 1009);
      opened.stream.end();
      await opened.wire.expectEnd();
    });

    test("a hundred WebSockets multiplex on one session, each echoing its own messages", async () => {
      const count = 100;
      const opened = await Promise.all(Array.from({ length: count }, () => openStream(session)));
      await Promise.all(opened.map(async (o, i) => {
        assert.equal(o.status, 200);
        for (let round = 0; round < 3; round++) {
          o.stream.write(rawFrame(TEXT, `stream ${i} round ${round}`));
          const frame = await o.wire.expectFrame(10_000);
          assert.equal(new TextDecoder().decode(frame.payload), `stream ${i} round ${round}`);
        }
        o.stream.write(rawFrame(CLOSE, closePayload(1000)));
        const close = await o.wire.expectFrame(10_000);
        assert.equal(codeOf(close.payload), 1000);
        o.stream.end();
        await o.wire.expectEnd(10_000);
      }));
    });

    test("HTTP/1.1 upgrades still work on the same port", async (t) => {
      const url = `${secure ? "wss" : "ws"}://127.0.0.1:${server.port}/h1`;
      const ws = await connect(url, { tls: { ca: cert.cert }, timeout: 5000 });
      t.after(() => ws.terminate());
      await ws.send("over HTTP/1.1");
      const msg = await withTimeout(ws.recv(), 5000, "echo");
      assert.equal(msg.data, "over HTTP/1.1");
      assert.equal(requests.at(-1)!.httpVersion, "1.1");
      await ws.close();
    });
  });
}

describe("RFC 8441 server: keepalive and shutdown per stream", () => {
  test("pingInterval pings each stream; serve.close() sends 1001 on every stream", async (t) => {
    const { cert, key } = await testCertificate();
    const server = serve(
      { hostname: "127.0.0.1", port: 0, tls: { cert, key }, http2: true },
      requestHandler(echo, undefined, { pingInterval: 200, pingTimeout: 5000 }),
    );
    t.after(() => server.close());
    await server.ready;
    const session = await h2Session(t, server.port, true, cert);
    const opened = await Promise.all([openStream(session), openStream(session)]);
    for (const o of opened) {
      const ping = await o.wire.expectFrame(5000);
      assert.equal(ping.opcode, 9, "a keepalive ping");
      o.stream.write(rawFrame(0x8a, ping.payload));
    }
    assert.equal(server.connections, 2);
    const closing = server.close();
    for (const o of opened) {
      let frame = await o.wire.expectFrame(5000);
      while (frame.opcode === 9) frame = await o.wire.expectFrame(5000);
      assert.equal(frame.opcode, 8);
      assert.equal(codeOf(frame.payload), 1001);
      o.stream.write(rawFrame(CLOSE, closePayload(1001)));
      o.stream.end();
    }
    await withTimeout(closing, 10_000, "shutdown");
  });
});

describe("http2Handler on a user's node:http2 server", () => {
  test("takes CONNECT streams on 'connect' beside a 'request' listener that serves pages", async (t) => {
    const { cert, key } = await testCertificate();
    const http2 = createSecureServer({ cert, key, allowHTTP1: true, settings: { enableConnectProtocol: true } });
    const seen: UpgradeRequest[] = [];
    const websocket = requestHandler(async (ws, request) => {
      seen.push(request);
      await echo(ws);
    });
    http2.on("request", (_req, res) => res.end("a page"));
    http2.on("connect", http2Handler(websocket));
    http2.on("upgrade", websocket);
    closeAtEnd(t, http2);
    await new Promise<void>((resolve) => http2.listen(0, "127.0.0.1", resolve));
    const port = (http2.address() as { port: number }).port;
    const session = await h2Session(t, port, true, cert);
    const page = session.request({ ":path": "/" });
    const chunks: Uint8Array[] = [];
    page.on("data", (c: Uint8Array) => chunks.push(c));
    await withTimeout(new Promise((r) => page.on("end", r)), 5000, "page");
    assert.equal(new TextDecoder().decode(Buffer.concat(chunks)), "a page");
    const opened = await openStream(session);
    assert.equal(opened.status, 200);
    opened.stream.write(rawFrame(TEXT, "beside a page"));
    const frame = await opened.wire.expectFrame();
    assert.equal(new TextDecoder().decode(frame.payload), "beside a page");
    assert.equal(seen[0].httpVersion, "2");
    opened.stream.write(rawFrame(CLOSE, closePayload(1000)));
    assert.equal(codeOf((await opened.wire.expectFrame()).payload), 1000);
    opened.stream.end();
    await opened.wire.expectEnd();
    // And an HTTP/1.1 client on the same port upgrades through "upgrade".
    const ws = await connect(`wss://127.0.0.1:${port}/`, { tls: { ca: cert }, timeout: 5000 });
    t.after(() => ws.terminate());
    await ws.send("h1");
    assert.equal((await withTimeout(ws.recv(), 5000, "echo")).data, "h1");
    await ws.close();
    assert.equal(seen[1].httpVersion, "1.1");
  });

  test("takes CONNECT streams on 'stream' and leaves other streams to the other listeners", async (t) => {
    const { cert, key } = await testCertificate();
    const http2 = createSecureServer({ cert, key, settings: { enableConnectProtocol: true } });
    http2.on("stream", http2Handler(echo));
    http2.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      if (headers[":method"] !== "CONNECT") stream.respond({ ":status": 204 }, { endStream: true });
    });
    closeAtEnd(t, http2);
    await new Promise<void>((resolve) => http2.listen(0, "127.0.0.1", resolve));
    const port = (http2.address() as { port: number }).port;
    const session = await h2Session(t, port, true, cert);
    const get = session.request({ ":path": "/" });
    const head = await withTimeout(new Promise<IncomingHttpHeaders>((r) => get.once("response", r)), 5000, "GET");
    assert.equal(head[":status"], 204);
    const opened = await openStream(session);
    assert.equal(opened.status, 200);
    opened.stream.write(rawFrame(TEXT, "via stream"));
    assert.equal(new TextDecoder().decode((await opened.wire.expectFrame()).payload), "via stream");
    opened.stream.close(constants.NGHTTP2_CANCEL);
  });
});

describe("our client: connect(url, { http2 })", () => {
  let cert: { cert: string; key: string };
  before(async () => {
    cert = await testCertificate();
  });

  for (const secure of [true, false]) {
    test(`against serve({ http2: true }) over ${secure ? "TLS" : "h2c"}: options, compression and closing carry over`, async (t) => {
      const seen: UpgradeRequest[] = [];
      const server = serve(
        { hostname: "127.0.0.1", port: 0, tls: secure ? cert : undefined, http2: true },
        requestHandler(
          async (ws, request) => {
            seen.push(request);
            for await (const msg of ws) {
              if (msg.data === "close please") return void await ws.close(4003, "as asked");
              await ws.send(msg);
            }
          },
          (offered) => offered.at(-1),
          { compression: true },
        ),
      );
      t.after(() => server.close());
      await server.ready;
      const url = `${secure ? "wss" : "ws"}://127.0.0.1:${server.port}/room?x=1`;
      const ws = await connect(url, {
        http2: secure ? "auto" : true,
        tls: { ca: cert.cert },
        protocol: ["a", "b"],
        headers: { "x-custom": "yes" },
        cookies: { session: "abc" },
        auth: { bearer: "t0ken" },
        params: { y: "2" },
        timeout: 5000,
      });
      assert.equal(ws.protocol, "b");
      assert.match(ws.extensions, /^permessage-deflate/);
      const request = seen[0];
      assert.equal(request.httpVersion, "2");
      assert.equal(request.url, "/room?x=1&y=2");
      assert.equal(request.headers.get("x-custom"), "yes");
      assert.equal(request.headers.get("cookie"), "session=abc");
      assert.equal(request.headers.get("authorization"), "Bearer t0ken");
      assert.equal(request.headers.get("host"), `127.0.0.1:${server.port}`);
      const big = "compress me ".repeat(10_000);
      await ws.send(big);
      assertBytesEqual((await withTimeout(ws.recvAll(), 5000, "echo")).data, big, "120 kB of text over HTTP/2");
      await ws.send(new Uint8Array([1, 2, 3]));
      assert.deepEqual([...(await withTimeout(ws.recvAll(), 5000, "echo")).data as Uint8Array], [1, 2, 3]);
      await ws.send("close please");
      const closed = await withTimeout(ws.closed, 5000, "close");
      assert.equal(closed.code, 4003);
      assert.equal(closed.reason, "as asked");
      assert.equal(closed.wasClean, true);
    });
  }

  test("wss:// with http2: 'auto' falls back to HTTP/1.1 when the server has no h2 or no RFC 8441", async (t) => {
    const seen: string[] = [];
    const handler = requestHandler(async (ws, request) => {
      seen.push(request.httpVersion ?? "?");
      await echo(ws);
    });
    const plain = serve({ hostname: "127.0.0.1", port: 0, tls: cert }, handler);
    t.after(() => plain.close());
    await plain.ready;
    const h2NoConnect = createSecureServer({ ...cert, allowHTTP1: true });
    h2NoConnect.on("upgrade", handler);
    closeAtEnd(t, h2NoConnect);
    await new Promise<void>((resolve) => h2NoConnect.listen(0, "127.0.0.1", resolve));
    for (const port of [plain.port, (h2NoConnect.address() as { port: number }).port]) {
      const ws = await connect(`wss://127.0.0.1:${port}/`, { http2: "auto", tls: { ca: cert.cert }, timeout: 5000 });
      await ws.send("fallback");
      assert.equal((await withTimeout(ws.recv(), 5000, "echo")).data, "fallback");
      assert.equal((await ws.close()).wasClean, true);
    }
    assert.deepEqual(seen, ["1.1", "1.1"]);
  });

  test("against a bare node:http2 server: an RFC 8441 request, masked frames, refusals, timeout and abort", async (t) => {
    const server = createSecureServer({ ...cert, settings: { enableConnectProtocol: true } });
    const streams: { headers: IncomingHttpHeaders; wire: Wire; stream: ServerHttp2Stream }[] = [];
    let onSilent = () => {};
    server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      const path = headers[":path"];
      if (path === "/refuse") {
        stream.respond({ ":status": 403, "content-type": "text/plain" });
        stream.end("go away");
      } else if (path === "/silent") {
        // Never answers: the client's timeout or signal must end the wait.
        onSilent();
      } else {
        stream.respond({ ":status": 200, "sec-websocket-protocol": "p2" });
        streams.push({
          headers,
          stream,
          wire: new Wire(stream as unknown as Socket, true),
        });
      }
    });
    server.on("sessionError", () => {});
    closeAtEnd(t, server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `wss://127.0.0.1:${(server.address() as { port: number }).port}`;
    const tls = { ca: cert.cert };
    const ws = await connect(`${base}/chat`, { http2: true, tls, protocol: ["p1", "p2"], compression: false });
    assert.equal(ws.protocol, "p2");
    const { headers, wire, stream } = streams[0];
    assert.equal(headers[":method"], "CONNECT");
    assert.equal(headers[":protocol"], "websocket");
    assert.equal(headers[":scheme"], "https");
    assert.equal(headers[":path"], "/chat");
    assert.equal(headers["sec-websocket-version"], "13");
    assert.equal(headers["sec-websocket-protocol"], "p1, p2");
    assert.equal(headers["sec-websocket-key"], undefined);
    await ws.send("masked?");
    const frame = await wire.expectFrame();
    assert.equal(new TextDecoder().decode(frame.payload), "masked?");
    stream.write(rawFrame(TEXT, "from a bare server", null));
    assert.equal((await withTimeout(ws.recv(), 5000, "frame")).data, "from a bare server");
    const closing = ws.close(1000, "done");
    const close = await wire.expectFrame();
    assert.equal(codeOf(close.payload), 1000);
    stream.write(rawFrame(CLOSE, closePayload(1000), null));
    stream.end();
    assert.equal((await withTimeout(closing, 5000, "close")).wasClean, true);
    await wire.expectEnd();

    await assert.rejects(
      connect(`${base}/refuse`, { http2: true, tls }),
      (err: Error & { status?: number; body?: Uint8Array }) => {
        assert.equal(err.name, "HandshakeError");
        assert.equal(err.status, 403);
        assert.equal(new TextDecoder().decode(err.body), "go away");
        return true;
      },
    );
    await assert.rejects(connect(`${base}/silent`, { http2: true, tls, timeout: 300 }), { name: "TimeoutError" });
    const controller = new AbortController();
    onSilent = () => controller.abort(new Error("given up")); // once the request is waiting
    await assert.rejects(connect(`${base}/silent`, { http2: true, tls, signal: controller.signal }), /given up/);
  });
});

describe("RFC 8441 flow control: HTTP/2 windows are each WebSocket's backpressure", () => {
  test("a stream whose reader stalls holds back its sender, while a sibling stream on the session keeps echoing", async (t) => {
    const { cert, key } = await testCertificate();
    let sent = 0;
    let floodDone = false;
    const server = serve(
      { hostname: "127.0.0.1", port: 0, tls: { cert, key }, http2: true },
      async (ws, request) => {
        if (request.url !== "/flood") return echo(ws);
        const chunk = new Uint8Array(64 * 1024);
        for (let i = 0; i < 64; i++) {
          await ws.send(chunk);
          sent++;
        }
        floodDone = true;
        await echo(ws);
      },
    );
    t.after(() => server.close());
    await server.ready;
    const session = await h2Session(t, server.port, true, cert);
    const flood = await openStream(session, {}, "/flood");
    flood.stream.pause();
    // A sleep, because it must be: "the sender waits for a window update" is the absence of progress, and no
    // event marks it; a sender that ignored the windows would have sent all 4 MiB well within this second.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // 4 MiB were offered; the stream window (64 KiB) plus our queue's high-water mark let only a few through.
    assert.ok(sent < 16, `the sender must wait for window updates (${sent} of 64 sends done)`);
    assert.equal(floodDone, false);
    const sibling = await openStream(session);
    sibling.stream.write(rawFrame(TEXT, "not blocked"));
    assert.equal(new TextDecoder().decode((await sibling.wire.expectFrame()).payload), "not blocked");
    flood.stream.resume();
    for (let i = 0; i < 64; i++) {
      const frame = await flood.wire.expectFrame(20_000);
      assert.equal(frame.payload.length, 64 * 1024);
    }
    assert.equal(floodDone, true);
    assert.equal(sent, 64);
  });
});

describe("our client: an opt-in Http2Pool shares one session per origin", () => {
  test("WebSockets with one pool are streams of one session; without it each has its own", async (t) => {
    const { cert, key } = await testCertificate();
    const server = createSecureServer({ cert, key, settings: { enableConnectProtocol: true } });
    let sessions = 0;
    server.on("session", () => sessions++);
    server.on("stream", http2Handler(echo));
    closeAtEnd(t, server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `wss://127.0.0.1:${(server.address() as { port: number }).port}/`;
    const http2Pool = new Http2Pool();
    t.after(() => http2Pool.close());
    const first = await connect(url, { http2: "auto", http2Pool, tls: { ca: cert } });
    const second = await connect(url, { http2: "auto", http2Pool, tls: { ca: cert } });
    assert.equal(sessions, 1);
    assert.equal(http2Pool.size, 1);
    await Promise.all([first.send("one"), second.send("two")]);
    assert.equal((await withTimeout(first.recv(), 5000, "echo")).data, "one");
    assert.equal((await withTimeout(second.recv(), 5000, "echo")).data, "two");
    assert.equal((await first.close()).wasClean, true);
    // The pooled session outlives its WebSockets: a third one reuses it.
    const third = await connect(url, { http2: "auto", http2Pool, tls: { ca: cert } });
    assert.equal(sessions, 1);
    http2Pool.close();
    assert.equal(http2Pool.size, 0);
    // GOAWAY lets open WebSockets finish.
    await third.send("after goaway");
    assert.equal((await withTimeout(third.recv(), 5000, "echo")).data, "after goaway");
    await Promise.all([second.close(), third.close()]);
    const alone = await connect(url, { http2: "auto", tls: { ca: cert } });
    assert.equal(sessions, 2);
    await alone.close();
  });
});
