// The handshake hooks streamsock/ws is built on, each on its own: the
// server's onHeaders (the 101 read byte for byte, and an HTTP/2 response's
// fields), requireProtocol, selectProtocol's request argument,
// UpgradeRequest.nodeRequest, the client's onUpgrade, and echoCloseReason
// with the close frames read by the suite's own parser (tests/_frames.ts).
import { describe, eventually, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect as http2Connect,
  type IncomingHttpHeaders,
} from "node:http2";
import type { Socket } from "node:net";
import type { WebSocketConnection } from "../src/connection.ts";
import { connect } from "../src/client.ts";
import type { UpgradeResponse } from "../src/client/options.ts";
import { HandshakeError } from "../src/errors.ts";
import {
  type NodeUpgradeRequest,
  requestHandler,
  type RequestHandlerOptions,
  type SelectProtocol,
  serve,
  type UpgradeRequest,
} from "../src/server.ts";
import { rawFrame } from "./_helpers.ts";
import { rawServer, type RecordedRequest, switchingProtocols } from "./_raw_http.ts";
import { KINDS, RawClient, SAMPLE_ACCEPT, start, type StartOptions, upgradeRequest } from "./_server.ts";
import { closeCodeOf, Wire, type WireFrame } from "./_wire.ts";

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

function reasonOf(frame: WireFrame): string {
  return new TextDecoder().decode(frame.payload.subarray(2));
}

/** Runs a handler behind `kind`, and the body with its port; everything is released after. */
async function withServer(
  kind: (typeof KINDS)[number],
  onSocket: (ws: WebSocketConnection, request: UpgradeRequest) => void | Promise<void>,
  options: StartOptions,
  body: (port: number) => Promise<void>,
): Promise<void> {
  const running = await start(kind, onSocket, options);
  try {
    await body(running.port);
  } finally {
    await running.close();
  }
}

/** A raw client past the handshake `request` (whose answer must be a 101), with the answer's head. */
async function upgraded(port: number, request = upgradeRequest()): Promise<{ client: RawClient; head: string }> {
  const client = await RawClient.connect(port);
  client.write(request);
  const { startLine, text } = await client.readHead();
  assert.equal(startLine, "HTTP/1.1 101 Switching Protocols", `a 101, got: ${text}`);
  return { client, head: text };
}

/** A cleartext HTTP/2 server (h2c, prior knowledge) running `handler`, a bare node:http2 session on it, and the body. */
async function withH2(
  onSocket: (ws: WebSocketConnection, request: UpgradeRequest) => void | Promise<void>,
  selectProtocol: SelectProtocol | undefined,
  options: RequestHandlerOptions,
  body: (session: ClientHttp2Session, port: number) => Promise<void>,
): Promise<void> {
  const server = serve(
    { hostname: "127.0.0.1", port: 0, http2: true },
    requestHandler(onSocket, selectProtocol, options),
  );
  await server.ready;
  const session = http2Connect(`http://127.0.0.1:${server.port}`);
  session.on("error", () => {});
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        session.once("remoteSettings", () => resolve());
        session.once("error", reject);
      }),
      5000,
      "the server's SETTINGS",
    );
    await body(session, server.port);
  } finally {
    session.destroy();
    await server.close();
  }
}

/** An RFC 8441 extended CONNECT, and its response head. */
async function h2Open(
  session: ClientHttp2Session,
  fields: Record<string, string> = {},
  path = "/chat",
): Promise<{ stream: ClientHttp2Stream; headers: IncomingHttpHeaders; wire: Wire }> {
  const stream = session.request({
    ":method": "CONNECT",
    ":protocol": "websocket",
    ":scheme": "http",
    ":path": path,
    ":authority": "127.0.0.1",
    "sec-websocket-version": "13",
    ...fields,
  });
  const wire = new Wire(stream as unknown as Socket, false);
  const headers = await withTimeout(
    new Promise<IncomingHttpHeaders>((resolve, reject) => {
      stream.once("response", resolve);
      stream.once("error", reject);
    }),
    5000,
    "the response head",
  );
  return { stream, headers, wire };
}

for (const kind of KINDS) {
  describe(`onHeaders (${kind})`, () => {
    test("sees the 101's fields and the request; what it adds goes out after them, in order, repeats kept", async () => {
      const seen: { fields: [string, string][]; url: string }[] = [];
      const onHeaders = (fields: [string, string][], request: UpgradeRequest) => {
        seen.push({ fields: fields.map(([name, value]): [string, string] => [name, value]), url: request.url });
        fields.push(["Set-Cookie", "a=1; HttpOnly"], ["Set-Cookie", "b=2"], ["X-Trace", "t-1"]);
      };
      await withServer(kind, echo, { onHeaders, selectProtocol: (offered) => offered[0] }, async (port) => {
        const { client, head } = await upgraded(port, upgradeRequest({ "Sec-WebSocket-Protocol": "chat" }));
        try {
          assert.equal(
            head,
            "HTTP/1.1 101 Switching Protocols\r\n" +
              "Upgrade: websocket\r\n" +
              "Connection: Upgrade\r\n" +
              `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}\r\n` +
              "Sec-WebSocket-Protocol: chat\r\n" +
              "Set-Cookie: a=1; HttpOnly\r\n" +
              "Set-Cookie: b=2\r\n" +
              "X-Trace: t-1\r\n" +
              "\r\n",
          );
          assert.deepEqual(seen, [{
            fields: [
              ["Upgrade", "websocket"],
              ["Connection", "Upgrade"],
              ["Sec-WebSocket-Accept", SAMPLE_ACCEPT],
              ["Sec-WebSocket-Protocol", "chat"],
            ],
            url: "/chat",
          }]);
          // The connection after such a 101 is an ordinary one.
          client.write(rawFrame(TEXT, "after the cookies"));
          const frame = await client.expectFrame();
          assert.equal(frame.opcode, 1);
          assert.equal(new TextDecoder().decode(frame.payload), "after the cookies");
        } finally {
          client.destroy();
        }
      });
    });

    const BAD: [string, (fields: [string, string][]) => void, RegExp][] = [
      ["a value with CR LF (response splitting)", (f) => f.push(["X-Evil", "a\r\nSet-Cookie: stolen=1"]), /Invalid value for header X-Evil/],
      ["a name that is not a token", (f) => f.push(["Bad Name", "x"]), /Invalid header name "Bad Name"/],
      ["a throw", () => {
        throw new Error("no cookies today");
      }, /no cookies today/],
    ];
    for (const [label, onHeaders, message] of BAD) {
      test(`${label}: 500, nothing of the 101 is sent, onError gets the error`, async () => {
        const errors: unknown[] = [];
        let sockets = 0;
        await withServer(kind, () => void sockets++, { onHeaders, onError: (err) => errors.push(err) }, async (port) => {
          const client = await RawClient.connect(port);
          try {
            client.write(upgradeRequest());
            const response = await client.readResponse();
            assert.equal(response.startLine, "HTTP/1.1 500 Internal Server Error");
            assert.equal(response.headers.get("sec-websocket-accept"), null);
            assert.doesNotMatch(response.body + [...response.headers].join(), /stolen|X-Evil/i);
          } finally {
            client.destroy();
          }
        });
        assert.equal(sockets, 0, "no connection was opened");
        assert.equal(errors.length, 1, `one error reported: ${errors}`);
        assert.match(String((errors[0] as Error).message), message);
      });
    }
  });

  describe(`requireProtocol (${kind})`, () => {
    const offer = upgradeRequest({ "Sec-WebSocket-Protocol": "chat.v3, chat.v4" });
    const none: SelectProtocol = () => null;

    test("by default a client whose subprotocols are all declined is refused with 400", async () => {
      await withServer(kind, echo, { selectProtocol: none }, async (port) => {
        const client = await RawClient.connect(port);
        try {
          client.write(offer);
          assert.equal((await client.readResponse()).startLine, "HTTP/1.1 400 Bad Request");
        } finally {
          client.destroy();
        }
      });
    });

    test("false: it is accepted without Sec-WebSocket-Protocol, and the connection works", async () => {
      const protocols: (string | null)[] = [];
      const onSocket = async (ws: WebSocketConnection) => {
        protocols.push(ws.protocol);
        await echo(ws);
      };
      await withServer(kind, onSocket, { selectProtocol: none, requireProtocol: false }, async (port) => {
        const { client, head } = await upgraded(port, offer);
        try {
          assert.doesNotMatch(head, /sec-websocket-protocol/i);
          client.write(rawFrame(TEXT, "no subprotocol"));
          assert.equal(new TextDecoder().decode((await client.expectFrame()).payload), "no subprotocol");
          assert.deepEqual(protocols, [null]);
        } finally {
          client.destroy();
        }
      });
    });

    test("false: a subprotocol selectProtocol picks is still answered", async () => {
      await withServer(kind, echo, { selectProtocol: (offered) => offered[1], requireProtocol: false }, async (port) => {
        const { client, head } = await upgraded(port, offer);
        client.destroy();
        assert.match(head, /\r\nSec-WebSocket-Protocol: chat\.v4\r\n/);
      });
    });
  });

  describe(`selectProtocol's request argument (${kind})`, () => {
    test("gets the upgrade request, the same that onSocket gets, to choose by its query or fields", async () => {
      const given: UpgradeRequest[] = [];
      const selectProtocol: SelectProtocol = (offered, request) => {
        given.push(request);
        const wanted = `chat.v${new URL(request.url, "http://x").searchParams.get("v") ?? request.headers.get("x-version")}`;
        return offered.includes(wanted) ? wanted : null;
      };
      const opened: UpgradeRequest[] = [];
      const onSocket = (ws: WebSocketConnection, request: UpgradeRequest) => {
        opened.push(request);
        void ws.close();
      };
      await withServer(kind, onSocket, { selectProtocol }, async (port) => {
        const byQuery = await upgraded(
          port,
          upgradeRequest({ "Sec-WebSocket-Protocol": "chat.v1, chat.v2" }, "GET /chat?v=2 HTTP/1.1"),
        );
        byQuery.client.destroy();
        assert.match(byQuery.head, /\r\nSec-WebSocket-Protocol: chat\.v2\r\n/);
        const byField = await upgraded(port, upgradeRequest({ "Sec-WebSocket-Protocol": "chat.v1, chat.v2", "X-Version": "1" }));
        byField.client.destroy();
        assert.match(byField.head, /\r\nSec-WebSocket-Protocol: chat\.v1\r\n/);
      });
      assert.equal(given.length, 2);
      assert.equal(given[0].url, "/chat?v=2");
      assert.deepEqual(given[0].protocols, ["chat.v1", "chat.v2"]);
      assert.equal(given[1].headers.get("x-version"), "1");
      await eventually(() => opened.length === 2, 5000, "both connections opened");
      assert.equal(opened[0], given[0], "onSocket gets the very request selectProtocol saw");
      assert.equal(opened[1], given[1]);
    });
  });
}

describe("UpgradeRequest.nodeRequest", () => {
  test("requestHandler on node:http: it is node:http's request, with what earlier listeners put on it, in every callback", async () => {
    const http = createHttpServer();
    let original: IncomingMessage | undefined;
    // A session middleware before the WebSocket handler.
    http.on("upgrade", (req: IncomingMessage & { user?: string }) => {
      original = req;
      req.user = "alice";
    });
    const seen: [string, NodeUpgradeRequest | undefined][] = [];
    const handler = requestHandler(
      (ws, request) => {
        seen.push(["onSocket", request.nodeRequest]);
        void ws.close();
      },
      (offered, request) => {
        seen.push(["selectProtocol", request.nodeRequest]);
        return offered[0];
      },
      {
        verify: (request) => {
          seen.push(["verify", request.nodeRequest]);
          return (request.nodeRequest as { user?: string } | undefined)?.user === "alice";
        },
        onHeaders: (_fields, request) => void seen.push(["onHeaders", request.nodeRequest]),
      },
    );
    http.on("upgrade", handler);
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    try {
      const port = (http.address() as { port: number }).port;
      const { client } = await upgraded(port, upgradeRequest({ "Sec-WebSocket-Protocol": "chat" }));
      await withTimeout(client.expectFrame(), 5000, "the server's close frame");
      client.destroy();
      assert.deepEqual(seen.map(([where]) => where), ["verify", "selectProtocol", "onHeaders", "onSocket"]);
      for (const [where, request] of seen) assert.equal(request, original, `${where} gets node:http's request`);
      assert.equal(original?.method, "GET");
      assert.deepEqual(original?.rawHeaders.slice(0, 2), ["Host", "127.0.0.1"]);
    } finally {
      http.closeAllConnections?.();
      await new Promise((resolve) => http.close(resolve));
    }
  });

  test("serve's own listener and HTTP/2 streams have none", async () => {
    const nodeRequests: unknown[] = [];
    const onSocket = (ws: WebSocketConnection, request: UpgradeRequest) => {
      nodeRequests.push(request.nodeRequest);
      void ws.close();
    };
    await withServer("serve", onSocket, {}, async (port) => {
      const { client } = await upgraded(port);
      await withTimeout(client.expectFrame(), 5000, "the server's close frame");
      client.destroy();
    });
    await withH2(onSocket, undefined, {}, async (session) => {
      const opened = await h2Open(session);
      assert.equal(opened.headers[":status"], 200);
      await withTimeout(opened.wire.expectFrame(), 5000, "the server's close frame");
    });
    assert.deepEqual(nodeRequests, [undefined, undefined]);
  });
});

describe("the hooks over HTTP/2 (RFC 8441)", () => {
  test("onHeaders sees the 200's fields and adds to them; a repeated field arrives as several values", async () => {
    const seen: [string, string][][] = [];
    const onHeaders = (fields: [string, string][]) => {
      seen.push(fields.map(([name, value]): [string, string] => [name, value]));
      fields.push(["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"], ["X-Trace", "t-2"]);
    };
    await withH2(echo, (offered) => offered[0], { onHeaders }, async (session) => {
      const opened = await h2Open(session, { "sec-websocket-protocol": "chat" });
      assert.equal(opened.headers[":status"], 200);
      assert.deepEqual(opened.headers["set-cookie"], ["a=1", "b=2"]);
      assert.equal(opened.headers["x-trace"], "t-2");
      assert.equal(opened.headers["sec-websocket-protocol"], "chat");
      opened.stream.write(rawFrame(TEXT, "over h2"));
      assert.equal(new TextDecoder().decode((await opened.wire.expectFrame()).payload), "over h2");
    });
    assert.deepEqual(seen, [[["sec-websocket-protocol", "chat"]]]);
  });

  test("onHeaders adding a connection-specific field (RFC 9113 §8.2.2) gets 500 and onError", async () => {
    const errors: unknown[] = [];
    const onHeaders = (fields: [string, string][]) => void fields.push(["Connection", "keep-alive"]);
    await withH2(echo, undefined, { onHeaders, onError: (err) => errors.push(err) }, async (session) => {
      const opened = await h2Open(session);
      assert.equal(opened.headers[":status"], 500);
      // The session is still usable.
      const next = await h2Open(session);
      assert.equal(next.headers[":status"], 500);
    });
    assert.equal(errors.length, 2);
    assert.match(String((errors[0] as Error).message), /Connection is connection-specific/);
  });

  test("requireProtocol: false accepts declined subprotocols with a 200 that names none; selectProtocol gets the request", async () => {
    const requests: UpgradeRequest[] = [];
    const select: SelectProtocol = (_offered, request) => {
      requests.push(request);
      return null;
    };
    await withH2(echo, select, { requireProtocol: false }, async (session) => {
      const opened = await h2Open(session, { "sec-websocket-protocol": "chat.v9" }, "/chat?room=7");
      assert.equal(opened.headers[":status"], 200);
      assert.equal(opened.headers["sec-websocket-protocol"], undefined);
    });
    assert.equal(requests.length, 1);
    assert.equal(requests[0].httpVersion, "2");
    assert.equal(requests[0].url, "/chat?room=7");
  });

  test("the client's onUpgrade gets the 200 and its fields", async () => {
    const responses: UpgradeResponse[] = [];
    const onHeaders = (fields: [string, string][]) => void fields.push(["X-Trace", "t-3"]);
    await withH2(echo, undefined, { onHeaders }, async (_session, port) => {
      const ws = await connect(`ws://127.0.0.1:${port}/chat`, {
        http2: true,
        timeout: 5000,
        onUpgrade: (response) => void responses.push(response),
      });
      await ws.close();
    });
    assert.equal(responses.length, 1);
    assert.equal(responses[0].status, 200);
    assert.equal(responses[0].statusText, "");
    assert.equal(responses[0].headers.get("x-trace"), "t-3");
  });
});

describe("ConnectOptions.onUpgrade", () => {
  test("gets the 101 (status, reason phrase, every Set-Cookie) before connect resolves, once", async () => {
    const server = await rawServer(async (request) => {
      request.socket.write(await switchingProtocols(request, ["Set-Cookie: a=1", "Set-Cookie: b=2; Path=/", "X-Trace: t-4"]));
    });
    const events: string[] = [];
    const responses: UpgradeResponse[] = [];
    try {
      const ws = await connect(`${server.base()}/`, {
        onUpgrade: (response) => {
          events.push("onUpgrade");
          responses.push(response);
        },
      });
      events.push("connected");
      await ws.terminate();
    } finally {
      await server.close();
    }
    assert.deepEqual(events, ["onUpgrade", "connected"]);
    assert.equal(responses[0].status, 101);
    assert.equal(responses[0].statusText, "Switching Protocols");
    assert.deepEqual(responses[0].headers.getSetCookie(), ["a=1", "b=2; Path=/"]);
    assert.equal(responses[0].headers.get("x-trace"), "t-4");
  });

  test("is called for a 101 that then fails its checks, before the check's error", async () => {
    const server = await rawServer((request) => {
      request.socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n");
    });
    let called = 0;
    try {
      const err = await connect(`${server.base()}/`, { onUpgrade: () => void called++ }).then(
        () => assert.fail("connect resolved"),
        (e) => e,
      );
      assert.ok(err instanceof HandshakeError && err.code === "ERR_HANDSHAKE_ACCEPT", String(err));
    } finally {
      await server.close();
    }
    assert.equal(called, 1);
  });

  test("a throw fails connect with that error and closes the TCP connection", async () => {
    let recorded: RecordedRequest | undefined;
    const server = await rawServer(async (request) => {
      recorded = request;
      request.socket.write(await switchingProtocols(request));
    });
    const refusal = new Error("not this server");
    try {
      await assert.rejects(connect(`${server.base()}/`, {
        onUpgrade: () => {
          throw refusal;
        },
      }), (err) => err === refusal);
      await withTimeout(recorded!.closed, 5000, "the client closing its TCP connection");
    } finally {
      await server.close();
    }
  });

  test("is not called for a refusal", async () => {
    const server = await rawServer((request) => {
      request.socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    });
    let called = 0;
    try {
      const err = await connect(`${server.base()}/`, { onUpgrade: () => void called++ }).then(
        () => assert.fail("connect resolved"),
        (e) => e,
      );
      assert.ok(err instanceof HandshakeError && err.status === 403, String(err));
    } finally {
      await server.close();
    }
    assert.equal(called, 0);
  });
});

describe("echoCloseReason", () => {
  for (const kind of KINDS) {
    for (const echoCloseReason of [true, false, undefined]) {
      test(`a server (${kind}) with echoCloseReason ${echoCloseReason} answers close 4000 "bye" with 4000 ${echoCloseReason ? '"bye"' : "alone"}`, async () => {
        await withServer(kind, echo, { echoCloseReason }, async (port) => {
          const { client } = await upgraded(port);
          try {
            client.write(rawFrame(CLOSE, closePayload(4000, "bye")));
            const frame = await client.expectFrame();
            assert.equal(frame.opcode, 8);
            assert.equal(closeCodeOf(frame), 4000);
            assert.equal(reasonOf(frame), echoCloseReason ? "bye" : "");
            await client.expectEnd();
          } finally {
            client.destroy();
          }
        });
      });
    }

    test(`a server (${kind}) with echoCloseReason answers an empty close with an empty one`, async () => {
      await withServer(kind, echo, { echoCloseReason: true }, async (port) => {
        const { client } = await upgraded(port);
        try {
          client.write(rawFrame(CLOSE, []));
          const frame = await client.expectFrame();
          assert.equal(frame.opcode, 8);
          assert.equal(frame.payload.length, 0);
        } finally {
          client.destroy();
        }
      });
    });
  }

  for (const echoCloseReason of [true, false]) {
    test(`a client with echoCloseReason ${echoCloseReason} answers the server's close 4001 "server says" with ${echoCloseReason ? "its reason" : "the code alone"}`, async () => {
      let resolveFrame!: (frame: WireFrame) => void;
      let rejectFrame!: (err: unknown) => void;
      const answered = new Promise<WireFrame>((resolve, reject) => {
        resolveFrame = resolve;
        rejectFrame = reject;
      });
      const server = await rawServer(async (request) => {
        request.socket.write(await switchingProtocols(request));
        const wire = new Wire(request.socket, true);
        request.socket.write(rawFrame(CLOSE, closePayload(4001, "server says"), null));
        wire.expectFrame().then(resolveFrame, rejectFrame);
      });
      let ws: WebSocketConnection | undefined;
      try {
        ws = await connect(`${server.base()}/`, { echoCloseReason });
        const frame = await withTimeout(answered, 5000, "the client's close frame");
        assert.equal(frame.opcode, 8);
        assert.ok(frame.masked, "a client's frame is masked");
        assert.equal(closeCodeOf(frame), 4001);
        assert.equal(reasonOf(frame), echoCloseReason ? "server says" : "");
        // Whatever it answers, the client reports the server's code and reason.
        await server.close();
        const info = await withTimeout(ws.closed, 5000, "the client's close");
        assert.equal(info.code, 4001);
        assert.equal(info.reason, "server says");
      } finally {
        await ws?.terminate();
        await server.close();
      }
    });
  }
});
