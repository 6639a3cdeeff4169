// The server: the opening handshake byte for byte, protocol selection,
// verify(), onSocket's lifecycle and serve()'s own listener, run both behind
// serve() and behind requestHandler on a node:http server.
import { describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import type { WebSocketConnection } from "../src/connection/connection.ts";
import type { UpgradeRequest } from "../src/handshake/server.ts";
import { serve } from "../src/server/serve.ts";
import { rawFrame } from "./_helpers.ts";
import { ManualClock } from "./_clock.ts";
import {
  exchange,
  KINDS,
  RawClient,
  SAMPLE_ACCEPT,
  start,
  type StartOptions,
  upgradeRequest,
} from "./_server.ts";

async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const msg of ws) await ws.send(msg);
}

/** Completes a raw handshake and returns the client, past the 101. */
async function openRaw(t: Owner, port: number, fields: Record<string, string | null> = {}): Promise<RawClient> {
  const client = await RawClient.connect(t, port);
  client.write(upgradeRequest(fields));
  const head = await client.readHead();
  assert.equal(head.startLine, "HTTP/1.1 101 Switching Protocols");
  return client;
}

function closeCodeOf(payload: Uint8Array): number {
  return (payload[0] << 8) | payload[1];
}

function assertRefusal(
  response: { startLine: string; headers: Headers; body: string },
  startLine: string,
  headers: Record<string, string> = {},
): void {
  assert.equal(response.startLine, startLine);
  assert.equal(response.headers.get("connection"), "close");
  assert.equal(Number(response.headers.get("content-length")), new TextEncoder().encode(response.body).length);
  assert.ok(response.body.length > 0 && response.body.length < 200, `short body: ${JSON.stringify(response.body)}`);
  for (const [name, value] of Object.entries(headers)) assert.equal(response.headers.get(name), value, name);
  assert.equal(response.headers.get("sec-websocket-accept"), null);
}

/** Runs `body` against a server, then closes it (and if the test fails first, the test's end does). */
async function withServer(
  t: Owner,
  kind: (typeof KINDS)[number],
  onSocket: (ws: WebSocketConnection, request: UpgradeRequest) => void | Promise<void>,
  options: StartOptions,
  body: (port: number) => Promise<void>,
): Promise<void> {
  const running = await start(t, kind, onSocket, options);
  await body(running.port);
  await running.close();
}

for (const kind of KINDS) {
  describe(`opening handshake (${kind})`, () => {
    test("a valid request gets the exact 101 answer, and frames flow both ways", async (t) => {
      await withServer(t, kind, echo, {}, async (port) => {
        const client = await RawClient.connect(t, port);
        client.write(upgradeRequest());
        const head = await client.readHead();
        assert.equal(head.startLine, "HTTP/1.1 101 Switching Protocols");
        assert.equal(head.headers.get("upgrade"), "websocket");
        assert.equal(head.headers.get("connection"), "Upgrade");
        assert.equal(head.headers.get("sec-websocket-accept"), SAMPLE_ACCEPT);
        assert.equal(head.headers.get("sec-websocket-protocol"), null);
        assert.equal(head.headers.get("sec-websocket-extensions"), null);
        client.write(rawFrame(0x81, "hello"));
        const frame = await client.readFrame();
        assert.equal(frame?.opcode, 1);
        assert.equal(new TextDecoder().decode(frame!.payload), "hello");
        client.write(rawFrame(0x88, [0x03, 0xe8]));
        const close = await client.readFrame();
        assert.equal(close?.opcode, 8);
        assert.equal(closeCodeOf(close!.payload), 1000);
        await client.waitEnded();
      });
    });

    test("frames sent right behind the request head reach the connection first", async (t) => {
      const received: string[] = [];
      await withServer(t, 
        kind,
        async (ws) => {
          for await (const msg of ws) received.push(msg.data as string);
        },
        {},
        async (port) => {
          const client = await RawClient.connect(t, port);
          const head = new TextEncoder().encode(upgradeRequest());
          const frames = [rawFrame(0x81, "one"), rawFrame(0x81, "two"), rawFrame(0x88, [0x03, 0xe8])];
          const all = new Uint8Array(head.length + frames.reduce((n, f) => n + f.length, 0));
          all.set(head);
          let at = head.length;
          for (const f of frames) {
            all.set(f, at);
            at += f.length;
          }
          client.write(all);
          await client.readHead();
          await client.waitEnded();
          assert.deepEqual(received, ["one", "two"]);
        },
      );
    });

    const refusals: [string, string | (() => string), string, Record<string, string>][] = [
      ["a method other than GET", () => upgradeRequest({}, "POST /chat HTTP/1.1"), "HTTP/1.1 405 Method Not Allowed", {
        allow: "GET",
      }],
      ["HTTP/1.0", () => upgradeRequest({}, "GET /chat HTTP/1.0"), "HTTP/1.1 400 Bad Request", {}],
      ["a missing Host", () => upgradeRequest({ Host: null }), "HTTP/1.1 400 Bad Request", {}],
      [
        "an Upgrade field that does not name websocket",
        () => upgradeRequest({ Upgrade: "h2c" }),
        "HTTP/1.1 400 Bad Request",
        {},
      ],
      [
        "a missing Sec-WebSocket-Version",
        () => upgradeRequest({ "Sec-WebSocket-Version": null }),
        "HTTP/1.1 426 Upgrade Required",
        {
          "sec-websocket-version": "13",
        },
      ],
      [
        "Sec-WebSocket-Version 8",
        () => upgradeRequest({ "Sec-WebSocket-Version": "8" }),
        "HTTP/1.1 426 Upgrade Required",
        {
          "sec-websocket-version": "13",
        },
      ],
      // RFC 6455 §4.4: any version but 13 is answered 426 with the versions we speak,
      // a neighbouring draft's number and a list that merely includes 13 too.
      ...["12", "14", "13, 8"].map((version): [string, () => string, string, Record<string, string>] => [
        `Sec-WebSocket-Version ${version}`,
        () => upgradeRequest({ "Sec-WebSocket-Version": version }),
        "HTTP/1.1 426 Upgrade Required",
        { "sec-websocket-version": "13" },
      ]),
      [
        "a missing Sec-WebSocket-Key",
        () => upgradeRequest({ "Sec-WebSocket-Key": null }),
        "HTTP/1.1 400 Bad Request",
        {},
      ],
      [
        "a key of 15 bytes",
        () => upgradeRequest({ "Sec-WebSocket-Key": btoa("123456789012345") }),
        "HTTP/1.1 400 Bad Request",
        {},
      ],
      [
        "a key that is not base64",
        () => upgradeRequest({ "Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!==" }),
        "HTTP/1.1 400 Bad Request",
        {},
      ],
      [
        "a subprotocol that is not a token",
        () => upgradeRequest({ "Sec-WebSocket-Protocol": "chat, a/b" }),
        "HTTP/1.1 400 Bad Request",
        {},
      ],
    ];
    for (const [what, request, statusLine, headers] of refusals) {
      test(`${what} is refused with ${statusLine.slice(9)}`, async (t) => {
        let opened = 0;
        await withServer(t, kind, () => void opened++, {}, async (port) => {
          const text = typeof request === "string" ? request : request();
          assertRefusal(await exchange(port, text), statusLine, headers);
        });
        assert.equal(opened, 0);
      });
    }

    test("the subprotocol list is trimmed, selectProtocol's choice is answered and kept", async (t) => {
      const offers: string[][] = [];
      const protocols: (string | null)[] = [];
      await withServer(t, kind, (ws) => void protocols.push(ws.protocol), {
        selectProtocol: (offered) => {
          offers.push(offered);
          return offered.includes("chat.v2") ? "chat.v2" : null;
        },
      }, async (port) => {
        const client = await RawClient.connect(t, port);
        client.write(upgradeRequest({ "Sec-WebSocket-Protocol": " chat.v1 ,chat.v2  , x" }));
        const head = await client.readHead();
        assert.equal(head.startLine, "HTTP/1.1 101 Switching Protocols");
        assert.equal(head.headers.get("sec-websocket-protocol"), "chat.v2");
        await client.readFrame(); // the close after onSocket returned
        client.destroy();
      });
      assert.deepEqual(offers, [["chat.v1", "chat.v2", "x"]]);
      assert.deepEqual(protocols, ["chat.v2"]);
    });

    test("selectProtocol is not called when the client offers none", async (t) => {
      let calls = 0;
      await withServer(t, kind, () => {}, { selectProtocol: () => (calls++, "x") }, async (port) => {
        const client = await openRaw(t, port);
        client.destroy();
      });
      assert.equal(calls, 0);
    });

    test("selectProtocol returning null refuses with 400", async (t) => {
      await withServer(t, kind, () => {}, { selectProtocol: () => null }, async (port) => {
        assertRefusal(
          await exchange(port, upgradeRequest({ "Sec-WebSocket-Protocol": "a" })),
          "HTTP/1.1 400 Bad Request",
        );
      });
    });

    test("a protocol that was not offered is never sent: 500, and onError hears of it", async (t) => {
      const errors: unknown[] = [];
      await withServer(t, 
        kind,
        () => {},
        { selectProtocol: () => "secret-proto", onError: (e) => errors.push(e) },
        async (port) => {
          const response = await exchange(port, upgradeRequest({ "Sec-WebSocket-Protocol": "a, b" }));
          assertRefusal(response, "HTTP/1.1 500 Internal Server Error");
          assert.ok(!response.body.includes("secret-proto"));
          assert.equal(response.headers.get("sec-websocket-protocol"), null);
        },
      );
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof TypeError && /secret-proto/.test(errors[0].message));
    });

    test("verify sees the request and can refuse with false, a status or a full answer", async (t) => {
      const seen: UpgradeRequest[] = [];
      await withServer(t, kind, () => {}, {
        verify: async (request) => {
          seen.push(request);
          await new Promise((resolve) => setTimeout(resolve, 0)); // an asynchronous verify: a later turn
          const token = request.headers.get("authorization");
          if (token === "Bearer good") return true;
          if (token === "Bearer banned") return false;
          if (token === "Bearer slow-down") return 429;
          return {
            status: 401,
            headers: { "WWW-Authenticate": 'Bearer realm="chat"', Connection: "keep-alive" },
            body: "Token needed",
          };
        },
      }, async (port) => {
        const ok = await openRaw(t, port, { Authorization: "Bearer good", Origin: "https://example.com" });
        ok.destroy();
        assertRefusal(
          await exchange(port, upgradeRequest({ Authorization: "Bearer banned" })),
          "HTTP/1.1 403 Forbidden",
        );
        assertRefusal(
          await exchange(port, upgradeRequest({ Authorization: "Bearer slow-down" })),
          "HTTP/1.1 429 Too Many Requests",
        );
        const unauthorized = await exchange(port, upgradeRequest());
        assertRefusal(unauthorized, "HTTP/1.1 401 Unauthorized", { "www-authenticate": 'Bearer realm="chat"' });
        assert.equal(unauthorized.body, "Token needed\n");
      });
      assert.equal(seen.length, 4);
      assert.equal(seen[0].method, "GET");
      assert.equal(seen[0].url, "/chat");
      assert.equal(seen[0].headers.get("origin"), "https://example.com");
      assert.deepEqual(seen[0].protocols, []);
      assert.match(seen[0].remoteAddress ?? "", /127\.0\.0\.1/);
    });

    test("verify throwing or returning nonsense refuses with 500 and reports to onError", async (t) => {
      const errors: unknown[] = [];
      let calls = 0;
      await withServer(t, kind, () => {}, {
        // deno-lint-ignore no-explicit-any
        verify: (): any => {
          if (calls++ === 0) throw new Error("database down");
          return undefined;
        },
        onError: (e) => errors.push(e),
      }, async (port) => {
        assertRefusal(await exchange(port, upgradeRequest()), "HTTP/1.1 500 Internal Server Error");
        assertRefusal(await exchange(port, upgradeRequest()), "HTTP/1.1 500 Internal Server Error");
      });
      assert.equal(errors.length, 2);
      assert.equal((errors[0] as Error).message, "database down");
      assert.ok(errors[1] instanceof TypeError);
    });

    test("a verify slower than handshakeTimeout is answered 503 and reported", async (t) => {
      const errors: unknown[] = [];
      let release = () => {};
      await withServer(t, kind, () => {}, {
        handshakeTimeout: 200,
        verify: () => new Promise<boolean>((resolve) => (release = () => resolve(true))),
        onError: (e) => errors.push(e),
      }, async (port) => {
        assertRefusal(await exchange(port, upgradeRequest()), "HTTP/1.1 503 Service Unavailable");
      });
      release();
      assert.equal(errors.length, 1);
      assert.equal((errors[0] as { code?: string }).code, "ERR_TIMEOUT");
    });
  });

  describe(`onSocket (${kind})`, () => {
    test("when onSocket returns, the connection is closed with 1000", async (t) => {
      await withServer(t, 
        kind,
        async (ws) => {
          await ws.send("bye soon");
        },
        {},
        async (port) => {
          const client = await openRaw(t, port);
          assert.equal(new TextDecoder().decode((await client.readFrame())!.payload), "bye soon");
          const close = await client.readFrame();
          assert.equal(close?.opcode, 8);
          assert.equal(closeCodeOf(close!.payload), 1000);
          client.write(rawFrame(0x88, [0x03, 0xe8]));
          await client.waitEnded();
        },
      );
    });

    test("onSocket throwing closes with 1011, goes to onError, and the server keeps serving", async (t) => {
      const errors: unknown[] = [];
      let n = 0;
      await withServer(t, 
        kind,
        async (ws) => {
          n++;
          if (n === 1) throw new Error("sync-ish failure");
          if (n === 2) {
            await ws.recv();
            throw new Error("async failure");
          }
          await echo(ws);
        },
        { onError: (e) => errors.push(e) },
        async (port) => {
          const first = await openRaw(t, port);
          const close1 = await first.readFrame();
          assert.equal(closeCodeOf(close1!.payload), 1011);
          first.destroy();
          const second = await openRaw(t, port);
          second.write(rawFrame(0x81, "go"));
          const close2 = await second.readFrame();
          assert.equal(close2?.opcode, 8);
          assert.equal(closeCodeOf(close2!.payload), 1011);
          second.destroy();
          const third = await openRaw(t, port);
          third.write(rawFrame(0x81, "still here"));
          assert.equal(new TextDecoder().decode((await third.readFrame())!.payload), "still here");
          third.destroy();
        },
      );
      assert.deepEqual(errors.map((e) => (e as Error).message), ["sync-ish failure", "async failure"]);
    });

    test("onError itself throwing does not take the server down", async (t) => {
      const original = console.error;
      const logged: unknown[] = [];
      console.error = (...args: unknown[]) => void logged.push(args);
      t.after(() => (console.error = original));
      await withServer(t, kind, () => {
        throw new Error("handler failed");
      }, {
        onError: () => {
          throw new Error("onError failed");
        },
      }, async (port) => {
        for (let i = 0; i < 2; i++) {
          const client = await openRaw(t, port);
          assert.equal(closeCodeOf((await client.readFrame())!.payload), 1011);
          client.destroy();
        }
      });
      console.error = original;
      assert.equal(logged.length, 2);
    });

    test("maxFrameSize and closeTimeout reach the connection", async (t) => {
      await withServer(t, kind, echo, { maxFrameSize: 16 }, async (port) => {
        const client = await openRaw(t, port);
        client.write(rawFrame(0x82, new Uint8Array(17)));
        const close = await client.readFrame();
        assert.equal(closeCodeOf(close!.payload), 1009);
        client.destroy();
      });
      // A peer that never answers our close: closed resolves at closeTimeout
      // (300 ms here, on a clock the test moves), not at the default 5 s.
      const clock = new ManualClock();
      let closed: Promise<{ code: number; wasClean: boolean }> | undefined;
      let settled = false;
      const onSocket = (ws: WebSocketConnection) => void (closed = ws.close(1000, "bye").finally(() => (settled = true)));
      await withServer(t, kind, onSocket, { closeTimeout: 300, clock }, async (port) => {
        const client = await openRaw(t, port);
        const close = await client.readFrame();
        assert.equal(closeCodeOf(close!.payload), 1000);
        await clock.advance(299);
        assert.equal(settled, false, "gave up before closeTimeout");
        await clock.advance(1);
        const info = await withTimeout(closed!, 3000, "closed at closeTimeout 300");
        assert.deepEqual([info.code, info.wasClean], [1006, false]);
        client.destroy();
      });
    });
  });
}

describe("serve's own HTTP parsing", () => {
  test("a plain HTTP request is answered 426, naming websocket", async (t) => {
    await withServer(t, "serve", () => {}, {}, async (port) => {
      const response = await exchange(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      assertRefusal(response, "HTTP/1.1 426 Upgrade Required", { upgrade: "websocket", "sec-websocket-version": "13" });
    });
  });

  const bad: [string, string, string][] = [
    ["no upgrade in Connection", upgradeRequest({ Connection: "keep-alive" }), "HTTP/1.1 400 Bad Request"],
    ["a malformed start line", "GARBAGE\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request"],
    ["a header line without a colon", "GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", "HTTP/1.1 400 Bad Request"],
    [
      "a head over 16 KiB",
      upgradeRequest({ "X-Big": "a".repeat(17 * 1024) }),
      "HTTP/1.1 431 Request Header Fields Too Large",
    ],
    [
      "more than 100 header fields",
      upgradeRequest(Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`X-${i}`, "1"]))),
      "HTTP/1.1 431 Request Header Fields Too Large",
    ],
  ];
  for (const [what, request, statusLine] of bad) {
    test(`${what} is refused with ${statusLine.slice(9)}`, async (t) => {
      await withServer(t, "serve", () => {}, {}, async (port) => {
        assertRefusal(await exchange(port, request), statusLine);
      });
    });
  }

  test("an endless head is cut off at maxHeadSize without waiting for its end", async (t) => {
    await withServer(t, "serve", () => {}, { serve: { maxHeadSize: 1024 } }, async (port) => {
      const client = await RawClient.connect(t, port);
      client.write("GET / HTTP/1.1\r\nX-Endless: " + "a".repeat(2000));
      const response = await client.readResponse();
      client.destroy();
      assertRefusal(response, "HTTP/1.1 431 Request Header Fields Too Large");
    });
  });

  test("a head that trickles in slower than handshakeTimeout is answered 408 and dropped", async (t) => {
    // Time moves by hand: a header line every 50 ms must not hold the
    // 300 ms deadline back (the clock option covers handshakeTimeout).
    const clock = new ManualClock();
    await withServer(t, "serve", () => {}, { handshakeTimeout: 300, clock }, async (port) => {
      const client = await RawClient.connect(t, port);
      client.write("GET /chat HTTP/1.1\r\n");
      for (let i = 0; i < 5; i++) {
        await clock.advance(50);
        client.write("X: y\r\n");
      }
      await clock.advance(49);
      assert.equal(client.takeRest().length, 0, "answered before handshakeTimeout");
      await clock.advance(1);
      assertRefusal(await client.readResponse(), "HTTP/1.1 408 Request Timeout");
    });
  });

  test("a client that sends a whole frame flood before the 101 is dropped", async (t) => {
    let release = () => {};
    await withServer(t, "serve", () => {}, {
      verify: () => new Promise<boolean>((resolve) => (release = () => resolve(true))),
    }, async (port) => {
      const client = await RawClient.connect(t, port);
      client.write(upgradeRequest());
      client.write(new Uint8Array(128 * 1024));
      await client.waitEnded();
      client.destroy();
    });
    release();
  });

  test("port 0 picks a free port, reported by port and addr", async (t) => {
    const server = serve({ hostname: "127.0.0.1", port: 0 }, () => {});
    t.after(() => server.close());
    assert.throws(() => server.port, /await server.ready/);
    await server.ready;
    assert.ok(server.port > 0);
    assert.deepEqual(server.addr, { hostname: "127.0.0.1", port: server.port });
    await server.close();
  });

  test("a port in use makes ready reject", async (t) => {
    const first = serve({ hostname: "127.0.0.1", port: 0 }, () => {});
    t.after(() => first.close());
    await first.ready;
    const second = serve({ hostname: "127.0.0.1", port: first.port }, () => {});
    t.after(() => second.close());
    await assert.rejects(second.ready);
    await second.close();
    await first.close();
  });
});

describe("serve's shutdown", () => {
  test("close() stops accepting, sends 1001 to every connection and waits for their closing handshakes", async (t) => {
    const running = await start(t, "serve", echo);
    const server = running.server!;
    const clients = await Promise.all(Array.from({ length: 5 }, () => openRaw(t, running.port)));
    for (const c of clients) c.write(rawFrame(0x81, "x"));
    for (const c of clients) await c.readFrame();
    assert.equal(server.connections, 5);
    let closed = false;
    const closing = server.close().then(() => (closed = true));
    for (const c of clients) {
      const frame = await c.readFrame();
      assert.equal(frame?.opcode, 8);
      assert.equal(closeCodeOf(frame!.payload), 1001);
    }
    // One client answers and is let go: by then a close() that did not wait would have resolved.
    clients[0].write(rawFrame(0x88, [0x03, 0xe9]));
    await clients[0].waitEnded();
    assert.equal(closed, false, "close() waits for the closing handshakes");
    for (const c of clients.slice(1)) c.write(rawFrame(0x88, [0x03, 0xe9]));
    await withTimeout(closing, 3000, "close()");
    for (const c of clients) await c.waitEnded();
    assert.equal(server.connections, 0);
    await assert.rejects(RawClient.connect(t, running.port));
    await withTimeout(server.finished, 3000, "server.finished after close()");
  });

  test("connections that never answer are dropped after shutdownTimeout", async (t) => {
    const running = await start(t, "serve", echo, { closeTimeout: 60_000, serve: { shutdownTimeout: 300 } });
    const client = await openRaw(t, running.port);
    const began = Date.now();
    await withTimeout(running.server!.close(), 3000, "close()");
    const took = Date.now() - began;
    assert.ok(took >= 250, `took ${took} ms`);
    await client.waitEnded();
    assert.equal(running.server!.connections, 0);
  });

  test("handshakes in progress are dropped at shutdown", async (t) => {
    // The handshake's deadline, on a clock of ours, says when the server has begun it.
    const clock = new ManualClock();
    const running = await start(t, "serve", echo, { clock });
    assert.equal(clock.pending, 0, "a timer before any connection");
    const client = await RawClient.connect(t, running.port);
    client.write("GET /chat HTTP/1.1\r\n");
    await eventually(() => clock.pending > 0, 5000, "the server's handshake deadline (the handshake under way)");
    await withTimeout(running.server!.close(), 3000, "close()");
    await client.waitEnded();
  });

  test("aborting the signal shuts the server down", async (t) => {
    const controller = new AbortController();
    const server = serve({ hostname: "127.0.0.1", port: 0, signal: controller.signal }, echo);
    t.after(() => server.close());
    await server.ready;
    const client = await openRaw(t, server.port);
    controller.abort();
    const frame = await client.readFrame();
    assert.equal(closeCodeOf(frame!.payload), 1001);
    client.write(rawFrame(0x88, [0x03, 0xe9]));
    await withTimeout(server.finished, 3000, "finished");
    await client.waitEnded();
  });
});
