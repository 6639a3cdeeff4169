// connect() against a scripted server that records what it received: the
// request head, every option, redirects, each handshake failure, wss://.
import { describe, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createServer } from "node:net";
import { connect } from "../src/client/connect.ts";
import { ConnectError, HandshakeError, TimeoutError } from "../src/errors.ts";
import { isValidKey } from "../src/handshake/key.ts";
import { buildRequestHead } from "../src/handshake/client.ts";
import { acceptAll, type RawServer, rawServer, type RecordedRequest, switchingProtocols } from "./_raw_http.ts";
import { rawFrame } from "./_helpers.ts";
import { testCertificate } from "./_tls.ts";
import { ManualClock } from "./_clock.ts";
import type { WebSocketConnection } from "../src/connection/connection.ts";

const latin1 = new TextDecoder("latin1");

/** Runs `body` with a server, then closes the server and any connection (the end of the test does if it fails). */
async function withServer(
  t: Owner,
  respond: Parameters<typeof rawServer>[1],
  body: (server: RawServer) => Promise<void>,
  options?: Parameters<typeof rawServer>[2],
): Promise<void> {
  const server = await rawServer(t, respond, options);
  await body(server);
  await server.close();
}

async function done(ws: WebSocketConnection, server: RawServer): Promise<void> {
  await server.close();
  await withTimeout(ws.closed, 5000, "connection close");
}

/** Asserts that connect rejects with a HandshakeError and returns it. */
async function handshakeError(promise: Promise<unknown>, code: string): Promise<HandshakeError> {
  const err = await promise.then(() => assert.fail("connect resolved"), (e) => e);
  assert.ok(err instanceof HandshakeError, `expected a HandshakeError, got ${err}`);
  assert.equal(err.code, code, err.message);
  return err;
}

/** Answers with the given raw response text, then leaves the socket open. */
function answer(text: string | ((request: RecordedRequest) => string | Promise<string>)): Parameters<typeof rawServer>[1] {
  return async (request) => {
    request.socket.write(typeof text === "string" ? text : await text(request));
  };
}

describe("connect: the request", () => {
  test("sends GET with Host, Upgrade, Connection, a fresh 16-byte key and version 13", async (t) => {
    await withServer(t, acceptAll(), async (server) => {
      const first = await connect(`${server.base()}/`);
      const second = await connect(`${server.base()}/`);
      const [a, b] = server.requests;
      assert.equal(a.method, "GET");
      assert.equal(a.headers.get("host"), `127.0.0.1:${server.port}`);
      assert.equal(a.headers.get("upgrade"), "websocket");
      assert.equal(a.headers.get("connection"), "Upgrade");
      assert.equal(a.headers.get("sec-websocket-version"), "13");
      assert.ok(isValidKey(a.headers.get("sec-websocket-key")!));
      assert.notEqual(a.headers.get("sec-websocket-key"), b.headers.get("sec-websocket-key"));
      assert.equal(a.headers.get("sec-websocket-protocol"), null);
      assert.equal(a.headers.get("origin"), null);
      assert.equal(a.headers.get("authorization"), null);
      await server.close();
      await Promise.all([first.closed, second.closed]);
    });
  });

  test("Host carries the port only when it is not the scheme's default", () => {
    const head = (url: string) => latin1.decode(buildRequestHead({ url: new URL(url), key: "k", protocols: [] }));
    assert.match(head("ws://example.com:80/"), /\r\nHost: example\.com\r\n/);
    assert.match(head("wss://example.com:443/"), /\r\nHost: example\.com\r\n/);
    assert.match(head("ws://example.com:443/"), /\r\nHost: example\.com:443\r\n/);
    assert.match(head("wss://[::1]:8443/"), /\r\nHost: \[::1\]:8443\r\n/);
    assert.match(head("ws://example.com"), /^GET \/ HTTP\/1\.1\r\n/);
  });

  test("sends the path and query, never the fragment", async (t) => {
    await withServer(t, acceptAll(), async (server) => {
      const ws = await connect(`${server.base()}/a/b%20c?x=1&y=%C3%A9#section-2`);
      assert.equal(server.requests[0].target, "/a/b%20c?x=1&y=%C3%A9");
      await done(ws, server);
    });
  });

  test("params are appended to an existing query, which is kept byte for byte", async (t) => {
    await withServer(t, acceptAll(), async (server) => {
      const ws1 = await connect(`${server.base()}/p?a=1&b=x%20y`, { params: { c: "3", d: "é &=" } });
      const ws2 = await connect(`${server.base()}/p`, { params: new URLSearchParams([["k", "v"], ["k", "w"]]) });
      const ws3 = await connect(`${server.base()}/p?`, { params: { only: "1" } });
      assert.equal(server.requests[0].target, "/p?a=1&b=x%20y&c=3&d=%C3%A9+%26%3D");
      assert.equal(server.requests[1].target, "/p?k=v&k=w");
      assert.equal(server.requests[2].target, "/p?only=1");
      await server.close();
      await Promise.all([ws1.closed, ws2.closed, ws3.closed]);
    });
  });

  test("protocol as a string, a comma-separated string or an array offers each, and the choice is ws.protocol", async (t) => {
    const chooseLast = (offered: string | null) => offered === null ? null : offered.split(",").at(-1)!.trim();
    await withServer(t, acceptAll(chooseLast), async (server) => {
      const one = await connect(server.base(), { protocol: "chat" });
      const list = await connect(server.base(), { protocol: " chat.v1 ,chat.v2 , " });
      const array = await connect(server.base(), { protocol: ["a", "b", "c"] });
      const none = await connect(server.base());
      assert.deepEqual(
        server.requests.map((r) => r.headers.get("sec-websocket-protocol")),
        ["chat", "chat.v1, chat.v2", "a, b, c", null],
      );
      assert.deepEqual([one.protocol, list.protocol, array.protocol, none.protocol], ["chat", "chat.v2", "c", null]);
      await server.close();
      await Promise.all([one.closed, list.closed, array.closed, none.closed]);
    });
  });

  test("an invalid or repeated protocol is refused before connecting", async (t) => {
    await withServer(t, acceptAll(), async (server) => {
      await assert.rejects(connect(server.base(), { protocol: "a b" }), TypeError);
      await assert.rejects(connect(server.base(), { protocol: ["x", "x"] }), TypeError);
      await assert.rejects(connect(server.base(), { protocol: ["ok", "bad\r\nX-Injected: 1"] }), TypeError);
      assert.equal(server.connections, 0);
    });
  });

  test("headers, cookies and origin arrive as given", async (t) => {
    await withServer(t, acceptAll(), async (server) => {
      const ws1 = await connect(server.base(), {
        headers: { "X-Trace": "abc", "User-Agent": "streamsock-test" },
        cookies: { session: "s1", theme: "dark" },
        origin: "https://app.example",
      });
      const ws2 = await connect(server.base(), {
        headers: [["Cookie", "pre=0"], ["X-List", "1"]],
        cookies: [["a", "1"], ["b", "2"]],
      });
      const [a, b] = server.requests;
      assert.equal(a.headers.get("x-trace"), "abc");
      assert.equal(a.headers.get("user-agent"), "streamsock-test");
      assert.equal(a.headers.get("cookie"), "session=s1; theme=dark");
      assert.equal(a.headers.get("origin"), "https://app.example");
      assert.equal(b.headers.get("cookie"), "pre=0; a=1; b=2");
      assert.equal(b.headers.get("x-list"), "1");
      await server.close();
      await Promise.all([ws1.closed, ws2.closed]);
    });
  });

  test("headers that the handshake sets, and values with line breaks, are refused", async () => {
    await assert.rejects(connect("ws://127.0.0.1:1/", { headers: { "Sec-WebSocket-Key": "x" } }), TypeError);
    await assert.rejects(connect("ws://127.0.0.1:1/", { headers: { Upgrade: "h2c" } }), TypeError);
    await assert.rejects(connect("ws://127.0.0.1:1/", { headers: { "X-A": "1\r\nX-B: 2" } }), TypeError);
    await assert.rejects(connect("ws://127.0.0.1:1/", { cookies: { a: "1; b=2" } }), TypeError);
    await assert.rejects(connect("http://127.0.0.1:1/".replace("http", "ftp")), TypeError);
  });

  test("auth: basic, bearer, a raw value, and credentials in the URL", async (t) => {
    await withServer(t, acceptAll(), async (server) => {
      const sockets = [
        await connect(server.base(), { auth: { basic: ["aladdin", "open sesame"] } }),
        await connect(server.base(), { auth: { bearer: "t0k3n" } }),
        await connect(server.base(), { auth: "Custom xyz" }),
        await connect(server.base().replace("//", "//us%C3%A9r:p%40ss@")),
        await connect(server.base().replace("//", "//ignored:x@"), { auth: { bearer: "wins" } }),
      ];
      const got = server.requests.map((r) => r.headers.get("authorization"));
      assert.equal(got[0], "Basic " + btoa("aladdin:open sesame"));
      assert.equal(got[1], "Bearer t0k3n");
      assert.equal(got[2], "Custom xyz");
      // RFC 7617: user and password as UTF-8, percent-decoding undone first.
      const utf8 = new TextEncoder().encode("usér:p@ss");
      assert.equal(got[3], "Basic " + btoa(String.fromCharCode(...utf8)));
      assert.equal(got[4], "Bearer wins");
      // The credentials never appear in the Host field.
      assert.equal(server.requests[3].headers.get("host"), `127.0.0.1:${server.port}`);
      await server.close();
      await Promise.all(sockets.map((ws) => ws.closed));
    });
  });

  test("an IPv6 literal URL connects", async (t) => {
    let server: RawServer;
    try {
      server = await rawServer(t, acceptAll(), { hostname: "::1" });
    } catch {
      t.skip("IPv6 loopback is not available here");
      return;
    }
    const ws = await connect(`ws://[::1]:${server.port}/v6?q=1`);
    assert.equal(server.requests[0].headers.get("host"), `[::1]:${server.port}`);
    assert.equal(server.requests[0].target, "/v6?q=1");
    await done(ws, server);
  });
});

describe("connect: the response", () => {
  test("frames sent in the same write as the 101 reach recv()", async (t) => {
    const early = async (request: RecordedRequest) => {
      const head = new TextEncoder().encode(await switchingProtocols(request));
      const frames = [rawFrame(0x81, "first", null), rawFrame(0x82, [1, 2, 3], null), rawFrame(0x81, "third", null)];
      const all = new Uint8Array(head.length + frames.reduce((n, f) => n + f.length, 0));
      let at = 0;
      for (const part of [head, ...frames]) {
        all.set(part, at);
        at += part.length;
      }
      request.socket.write(all);
    };
    await withServer(t, early, async (server) => {
      for (let i = 0; i < 5; i++) {
        const ws = await connect(server.base());
        assert.equal((await ws.recv()).data, "first");
        assert.deepEqual((await ws.recv()).data, new Uint8Array([1, 2, 3]));
        assert.equal((await ws.recv()).data, "third");
      }
    });
  });

  test("Connection may be a list holding the upgrade token, in any case", async (t) => {
    const respond = answer(async (request) =>
      (await switchingProtocols(request)).replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE")
        .replace("Upgrade: websocket", "Upgrade: WebSocket")
    );
    await withServer(t, respond, async (server) => {
      const ws = await connect(server.base());
      await done(ws, server);
    });
  });

  test("maxFrameSize and the other connection options pass to the connection", async (t) => {
    const respond = async (request: RecordedRequest) => {
      request.socket.write(await switchingProtocols(request));
      request.socket.write(rawFrame(0x82, new Uint8Array(2000), null));
    };
    await withServer(t, respond, async (server) => {
      const ws = await connect(server.base(), { maxFrameSize: 1000, closeTimeout: 100 });
      assert.equal(ws.maxFrameSize, 1000);
      const info = await withTimeout(ws.closed, 5000, "close after an oversized frame");
      assert.equal(info.code, 1009);
    });
  });

  test("clock, which connect used to drop, reaches the connection: its idle timer runs on it", async (t) => {
    // A clock that only moves when the test says so: if connect dropped it,
    // the connection would run on the platform clock and stay open.
    let now = 0;
    const pending: (() => void)[] = [];
    const clock = {
      now: () => now,
      setTimeout: (fn: () => void) => pending.push(fn),
      clearTimeout: () => {},
    };
    const received: Uint8Array[] = [];
    const respond = async (request: RecordedRequest) => {
      request.socket.on("data", (chunk: Uint8Array) => received.push(chunk));
      request.socket.write(await switchingProtocols(request));
    };
    await withServer(t, respond, async (server) => {
      const ws = await connect(server.base(), { clock, idleTimeout: 60_000, closeTimeout: 100, pingInterval: 0 });
      assert.ok(pending.length > 0, "the connection armed no timer on the given clock");
      // Time passes on that clock only: the idle timeout, then the wait for
      // the server's close frame, which this server never sends.
      const pump = setInterval(() => {
        now += 60_000;
        for (const fire of pending.splice(0)) fire();
      }, 10);
      t.after(() => clearInterval(pump));
      await withTimeout(ws.closed, 5000, "close after the idle timeout");
      clearInterval(pump);
      // The client's close frame: FIN + close, masked, the code first (RFC 6455 §5.5.1).
      const bytes = Buffer.concat(received);
      assert.equal(bytes[0], 0x88, "the client sent no close frame");
      const mask = bytes.subarray(2, 6);
      assert.equal(((bytes[6] ^ mask[0]) << 8) | (bytes[7] ^ mask[1]), 1001);
    });
  });

  const failures: [string, (request: RecordedRequest) => Promise<string>, string, { protocol?: string; compression?: boolean }?][] = [
    [
      "a wrong Sec-WebSocket-Accept",
      async (r) => (await switchingProtocols(r)).replace(/Accept: .*/, "Accept: dGhlIHNhbXBsZSBub25jZQ=="),
      "ERR_HANDSHAKE_ACCEPT",
    ],
    ["a missing Sec-WebSocket-Accept", async (r) => (await switchingProtocols(r)).replace(/Sec-WebSocket-Accept: .*\r\n/, ""), "ERR_HANDSHAKE_ACCEPT"],
    ["a missing Upgrade", async (r) => (await switchingProtocols(r)).replace("Upgrade: websocket\r\n", ""), "ERR_HANDSHAKE_UPGRADE"],
    ["Upgrade other than websocket", async (r) => (await switchingProtocols(r)).replace("Upgrade: websocket", "Upgrade: h2c"), "ERR_HANDSHAKE_UPGRADE"],
    ["Connection without upgrade", async (r) => (await switchingProtocols(r)).replace("Connection: Upgrade", "Connection: keep-alive"), "ERR_HANDSHAKE_CONNECTION"],
    ["a protocol when none was offered", (r) => switchingProtocols(r, ["Sec-WebSocket-Protocol: chat"]), "ERR_HANDSHAKE_PROTOCOL"],
    ["a protocol that was not offered", (r) => switchingProtocols(r, ["Sec-WebSocket-Protocol: other"]), "ERR_HANDSHAKE_PROTOCOL", { protocol: "chat" }],
    ["two protocols", (r) => switchingProtocols(r, ["Sec-WebSocket-Protocol: a, b"]), "ERR_HANDSHAKE_PROTOCOL", { protocol: "a,b" }],
    ["an extension that was not offered", (r) => switchingProtocols(r, ["Sec-WebSocket-Extensions: permessage-deflate"]), "ERR_HANDSHAKE_EXTENSION", { compression: false }],
    ["an unknown extension", (r) => switchingProtocols(r, ["Sec-WebSocket-Extensions: x-webkit-deflate-frame"]), "ERR_HANDSHAKE_EXTENSION"],
    ["a status line that is not HTTP", () => Promise.resolve("SSH-2.0-OpenSSH\r\n\r\n"), "ERR_HANDSHAKE_MALFORMED"],
    ["a malformed header line", () => Promise.resolve("HTTP/1.1 101 Switching Protocols\r\nno colon here\r\n\r\n"), "ERR_HANDSHAKE_MALFORMED"],
  ];
  for (const [what, respond, code, options] of failures) {
    test(`${what} fails with ${code} and closes the socket`, async (t) => {
      await withServer(t, answer(respond), async (server) => {
        const err = await handshakeError(connect(server.base(), options), code);
        if (code !== "ERR_HANDSHAKE_MALFORMED") assert.equal(err.status, 101);
        await withTimeout(server.requests[0].closed, 5000, "socket close");
      });
    });
  }

  test("a 403 with a body rejects with its status, headers and body", async (t) => {
    const body = "<h1>Forbidden</h1>\nno ticket";
    const respond = answer(
      `HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nX-Reason: ticket\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await withServer(t, respond, async (server) => {
      const err = await handshakeError(connect(server.base()), "ERR_HANDSHAKE_STATUS");
      assert.equal(err.status, 403);
      assert.equal(err.headers.get("x-reason"), "ticket");
      assert.equal(err.headers.get("content-type"), "text/html");
      assert.equal(new TextDecoder().decode(err.body), body);
      assert.match(err.message, /403 Forbidden/);
      await withTimeout(server.requests[0].closed, 5000, "socket close");
    });
  });

  test("a refusal's body is decoded when chunked, read to the close otherwise, and bounded to 64 KiB", async (t) => {
    const chunked = answer(
      "HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
    );
    await withServer(t, chunked, async (server) => {
      const err = await handshakeError(connect(server.base()), "ERR_HANDSHAKE_STATUS");
      assert.equal(new TextDecoder().decode(err.body), "hello, world");
    });
    const untilClose = async (request: RecordedRequest) => {
      // Two writes: the second once the first was handed to the kernel.
      await new Promise((resolve) => request.socket.write("HTTP/1.0 404 Not Found\r\n\r\npart one, ", resolve));
      request.socket.end("part two");
    };
    await withServer(t, untilClose, async (server) => {
      const err = await handshakeError(connect(server.base()), "ERR_HANDSHAKE_STATUS");
      assert.equal(err.status, 404);
      assert.equal(new TextDecoder().decode(err.body), "part one, part two");
    });
    const huge = answer(`HTTP/1.1 400 Bad Request\r\nContent-Length: 200000\r\n\r\n${"x".repeat(200000)}`);
    await withServer(t, huge, async (server) => {
      const err = await handshakeError(connect(server.base()), "ERR_HANDSHAKE_STATUS");
      assert.equal(err.body.length, 64 * 1024);
    });
  });

  test("a server that closes without answering fails with ERR_HANDSHAKE_EOF", async (t) => {
    await withServer(t, (request) => void request.socket.end(), async (server) => {
      await handshakeError(connect(server.base()), "ERR_HANDSHAKE_EOF");
    });
  });

  test("a refused TCP connection rejects with ConnectError, the system's error as its cause", async (t) => {
    const probe = await rawServer(t, acceptAll());
    const port = probe.port;
    await probe.close();
    const err = await connect(`ws://127.0.0.1:${port}/`).then(() => assert.fail("connected"), (e) => e);
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, "ECONNREFUSED");
    assert.ok(err.cause instanceof Error);
    assert.ok(!(err instanceof HandshakeError));
  });
});

describe("connect: timeout and abort", () => {
  test("a server that accepts TCP and never answers rejects with TimeoutError, and the socket is closed", async (t) => {
    await withServer(t, () => {}, async (server) => {
      const started = Date.now();
      const err = await connect(server.base(), { timeout: 300 }).then(() => assert.fail("connected"), (e) => e);
      const elapsed = Date.now() - started;
      assert.ok(err instanceof TimeoutError, `got ${err}`);
      assert.equal(err.code, "ERR_TIMEOUT");
      assert.ok(elapsed >= 250 && elapsed < 5000, `took ${elapsed} ms`);
      await withTimeout(server.requests[0].closed, 5000, "socket close");
    });
  });

  test("a timeout that does not fire leaves the connection alone", async (t) => {
    await withServer(t, acceptAll(), async (server) => {
      const clock = new ManualClock();
      const ws = await connect(server.base(), { timeout: 200, clock });
      await clock.advance(350);
      server.requests[0].socket.write(rawFrame(0x81, "still here", null));
      assert.equal((await ws.recv()).data, "still here");
      await done(ws, server);
    });
  });

  test("a timeout covers a slow TLS handshake too", async (t) => {
    // A TCP server that never speaks TLS: the TLS handshake stalls.
    const silent = createServer(() => {});
    const open = new Set<import("node:net").Socket>();
    const closed: Promise<void>[] = [];
    silent.on("connection", (s) => {
      open.add(s);
      s.resume(); // read (and drop) the ClientHello, so the client's FIN is seen
      s.on("error", () => {});
      closed.push(new Promise((resolve) => s.once("close", () => resolve())));
    });
    t.after(() => {
      for (const s of open) s.destroy();
      silent.close();
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    const err = await connect(`wss://127.0.0.1:${port}/`, { timeout: 300 }).then(() => assert.fail("connected"), (e) => e);
    assert.ok(err instanceof TimeoutError, `got ${err}`);
    // The half-open TLS socket was closed by the client, not left to linger.
    assert.equal(closed.length, 1);
    await withTimeout(closed[0], 3000, "client closing the stalled TLS socket");
  });

  test("abort during the handshake rejects with the signal's reason and closes the socket", async (t) => {
    const controller = new AbortController();
    const reason = new Error("user gave up");
    await withServer(t, () => controller.abort(reason), async (server) => {
      const err = await connect(server.base(), { signal: controller.signal }).then(() => assert.fail("connected"), (e) => e);
      assert.equal(err, reason);
      await withTimeout(server.requests[0].closed, 5000, "socket close");
    });
  });

  test("an already aborted signal rejects without connecting", async (t) => {
    await withServer(t, acceptAll(), async (server) => {
      const err = await connect(server.base(), { signal: AbortSignal.abort() }).then(() => assert.fail(), (e) => e);
      assert.equal((err as Error).name, "AbortError");
      // A connection that follows is the server's first: an earlier dial would have arrived before it.
      const ws = await connect(server.base());
      assert.equal(server.connections, 1, "only the later connect reached the server");
      await done(ws, server);
    });
  });

  test("abort during a refusal's body stops waiting for it", async (t) => {
    const controller = new AbortController();
    const respond = (request: RecordedRequest) => {
      request.socket.write("HTTP/1.1 503 Busy\r\nContent-Length: 100\r\n\r\nstart");
      // A sleep, because it must be: nothing says the client has read the head and waits for the body.
      setTimeout(() => controller.abort(), 50);
    };
    await withServer(t, respond, async (server) => {
      const err = await connect(server.base(), { signal: controller.signal }).then(() => assert.fail(), (e) => e);
      assert.equal((err as Error).name, "AbortError");
      await withTimeout(server.requests[0].closed, 5000, "socket close");
    });
  });
});

describe("connect: redirects", () => {
  /** A server that redirects `from` path to `to` (status 302 unless given) and accepts everything else. */
  function redirector(routes: Record<string, string | [number, string]>): Parameters<typeof rawServer>[1] {
    return (request) => {
      const route = routes[request.target];
      if (route === undefined) return acceptAll()(request);
      const [status, location] = typeof route === "string" ? [302, route] : route;
      request.socket.write(`HTTP/1.1 ${status} Moved\r\nLocation: ${location}\r\nContent-Length: 0\r\n\r\n`);
    };
  }

  test("follows relative and absolute redirects of every kind when asked", async (t) => {
    let port = 0;
    const routes = () => ({
      "/a": [301, "/b"] as [number, string],
      "/b": [303, "c?x=1"] as [number, string],
      "/c?x=1": [307, `http://127.0.0.1:${port}/d`] as [number, string],
      "/d": [308, `ws://127.0.0.1:${port}/final#frag`] as [number, string],
    });
    await withServer(t, (request) => redirector(routes())(request), async (server) => {
      port = server.port;
      const ws = await connect(`${server.base()}/a`, { redirect: true, protocol: "p1" });
      assert.deepEqual(server.requests.map((r) => r.target), ["/a", "/b", "/c?x=1", "/d", "/final"]);
      // Every hop is a complete handshake with the same options.
      assert.ok(server.requests.every((r) => r.headers.get("sec-websocket-protocol") === "p1"));
      await done(ws, server);
    });
  });

  test("a redirect is not followed unless asked: HandshakeError with the 3xx", async (t) => {
    await withServer(t, redirector({ "/": "/elsewhere" }), async (server) => {
      const err = await handshakeError(connect(server.base()), "ERR_HANDSHAKE_STATUS");
      assert.equal(err.status, 302);
      assert.equal(err.headers.get("location"), "/elsewhere");
      assert.equal(server.requests.length, 1);
    });
  });

  test("Authorization and cookies stay with the first origin; other headers follow", async (t) => {
    await withServer(t, acceptAll(), async (other) => {
      await withServer(t, redirector({ "/": "/same", "/same": `${other.base()}/there` }), async (server) => {
        const ws = await connect(server.base(), {
          redirect: true,
          auth: { bearer: "secret" },
          cookies: { sid: "1" },
          headers: { "X-Keep": "yes", Cookie: "c=2", Authorization: "ignored" },
          origin: "https://app.example",
        });
        for (const request of server.requests) {
          assert.equal(request.headers.get("authorization"), "Bearer secret");
          assert.equal(request.headers.get("cookie"), "c=2; sid=1");
        }
        const [there] = other.requests;
        assert.equal(there.target, "/there");
        assert.equal(there.headers.get("authorization"), null);
        assert.equal(there.headers.get("cookie"), null);
        assert.equal(there.headers.get("x-keep"), "yes");
        assert.equal(there.headers.get("origin"), "https://app.example");
        assert.equal(there.headers.get("host"), `127.0.0.1:${other.port}`);
        await done(ws, other);
      });
    });
  });

  test("URL credentials are not sent to another origin either", async (t) => {
    await withServer(t, acceptAll(), async (other) => {
      await withServer(t, redirector({ "/": `${other.base()}/` }), async (server) => {
        const ws = await connect(server.base().replace("//", "//user:pw@"), { redirect: 1 });
        assert.equal(server.requests[0].headers.get("authorization"), "Basic " + btoa("user:pw"));
        assert.equal(other.requests[0].headers.get("authorization"), null);
        await done(ws, other);
      });
    });
  });

  test("a redirect loop is detected", async (t) => {
    await withServer(t, redirector({ "/a": "/b", "/b": "/a" }), async (server) => {
      const err = await handshakeError(connect(`${server.base()}/a`, { redirect: 10 }), "ERR_REDIRECT_LOOP");
      assert.equal(err.status, 302);
      assert.equal(server.requests.length, 2);
    });
  });

  test("more hops than allowed fail with ERR_TOO_MANY_REDIRECTS", async (t) => {
    const chain: Record<string, string> = {};
    for (let i = 0; i < 10; i++) chain[`/${i}`] = `/${i + 1}`;
    await withServer(t, redirector(chain), async (server) => {
      await handshakeError(connect(`${server.base()}/0`, { redirect: 3 }), "ERR_TOO_MANY_REDIRECTS");
      assert.equal(server.requests.length, 4);
      await handshakeError(connect(`${server.base()}/0`, { redirect: true }), "ERR_TOO_MANY_REDIRECTS");
      assert.equal(server.requests.length, 4 + 6);
      const ws = await connect(`${server.base()}/5`, { redirect: 5 });
      assert.equal(server.requests.at(-1)!.target, "/10");
      await done(ws, server);
    });
  });

  test("a redirect to a scheme that is not WebSocket fails", async (t) => {
    await withServer(t, redirector({ "/": "ftp://127.0.0.1/" }), async (server) => {
      await handshakeError(connect(server.base(), { redirect: true }), "ERR_HANDSHAKE_REDIRECT");
    });
  });
});

describe("connect: wss://", () => {
  /** A TLS server that accepts the handshake and echoes one text frame back unmasked. */
  const tlsEcho = acceptAll();

  test("with the CA given, the connection works", async (t) => {
    const { cert, key } = await testCertificate();
    await withServer(t, tlsEcho, async (server) => {
      const ws = await connect(`wss://127.0.0.1:${server.port}/secure`, { tls: { ca: cert } });
      assert.equal(server.requests[0].target, "/secure");
      server.requests[0].socket.write(rawFrame(0x81, "over tls", null));
      assert.equal((await ws.recv()).data, "over tls");
      await ws.send("back");
      await done(ws, server);
    }, { tls: { cert, key } });
  });

  test("without the CA, the self-signed certificate is rejected", async (t) => {
    const { cert, key } = await testCertificate();
    await withServer(t, tlsEcho, async (server) => {
      const err = await connect(`wss://127.0.0.1:${server.port}/`).then(() => assert.fail("connected"), (e) => e);
      assert.ok(err instanceof Error);
      assert.ok(!(err instanceof HandshakeError));
      assert.equal(server.requests.length, 0);
    }, { tls: { cert, key } });
  });

  test("serverName is verified against the certificate", async (t) => {
    const { cert, key } = await testCertificate();
    await withServer(t, tlsEcho, async (server) => {
      const ws = await connect(`wss://127.0.0.1:${server.port}/`, { tls: { ca: cert, serverName: "localhost" } });
      await done(ws, server);
    }, { tls: { cert, key } });
    await withServer(t, tlsEcho, async (server) => {
      await assert.rejects(connect(`wss://127.0.0.1:${server.port}/`, { tls: { ca: cert, serverName: "wrong.example" } }));
      assert.equal(server.requests.length, 0);
    }, { tls: { cert, key } });
  });

  test("rejectUnauthorized: false accepts an unknown certificate", async (t) => {
    const { cert, key } = await testCertificate();
    await withServer(t, tlsEcho, async (server) => {
      const ws = await connect(`wss://127.0.0.1:${server.port}/`, { tls: { rejectUnauthorized: false } });
      await done(ws, server);
    }, { tls: { cert, key } });
  });

  test("a client certificate is presented to a server that asks for one", async (t) => {
    const { cert, key } = await testCertificate();
    const checkClient = async (request: RecordedRequest) => {
      const socket = request.socket as import("node:tls").TLSSocket;
      if (!socket.authorized) return void socket.end("HTTP/1.1 401 No Client Certificate\r\nContent-Length: 0\r\n\r\n");
      await acceptAll()(request);
    };
    // The server lets TLS finish without a client certificate so it can answer 401 itself.
    const options = { tls: { cert, key, requestCert: true, ca: cert, rejectUnauthorized: false } };
    await withServer(t, checkClient, async (server) => {
      const ws = await connect(`wss://127.0.0.1:${server.port}/`, { tls: { ca: cert, cert, key } });
      await done(ws, server);
    }, options);
    await withServer(t, checkClient, async (server) => {
      const err = await handshakeError(connect(`wss://127.0.0.1:${server.port}/`, { tls: { ca: cert } }), "ERR_HANDSHAKE_STATUS");
      assert.equal(err.status, 401);
    }, options);
  });
});
