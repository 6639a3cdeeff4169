// The handshake hooks streamsock/ws is built on, each on its own: the
// server's onHeaders (the 101 read byte for byte, and an HTTP/2 response's
// fields), requireProtocol, selectProtocol's request argument,
// UpgradeRequest.nodeRequest, the client's onUpgrade, and echoCloseReason
// with the close frames read by the suite's own parser (tests/_frames.ts).
import { describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect as http2Connect,
  type IncomingHttpHeaders,
} from "node:http2";
import type { Socket } from "node:net";
import { connect, type WebSocketConnection } from "../mod.ts";
import type { UpgradeResponse } from "../src/client/options.ts";
import { HandshakeError } from "../src/errors.ts";
import {
  type NodeUpgradeRequest,
  requestHandler,
  type RequestHandlerOptions,
  type SelectProtocol,
  serve,
  type UpgradeRequest,
} from "../mod.ts";
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

/** Runs a handler behind `kind` until the test ends; resolves with its port. */
async function served(
  t: Owner,
  kind: (typeof KINDS)[number],
  onSocket: (ws: WebSocketConnection, request: UpgradeRequest) => void | Promise<void>,
  options: StartOptions,
): Promise<number> {
  return (await start(t, kind, onSocket, options)).port;
}

/** A raw client past the handshake `request` (whose answer must be a 101), with the answer's head. */
async function upgraded(t: Owner, port: number, request = upgradeRequest()): Promise<{ client: RawClient; head: string }> {
  const client = await RawClient.connect(t, port);
  client.write(request);
  const { startLine, text } = await client.readHead();
  assert.equal(startLine, "HTTP/1.1 101 Switching Protocols", `a 101, got: ${text}`);
  return { client, head: text };
}

/**
 * A cleartext HTTP/2 server (h2c, prior knowledge) running `handler` and a
 * bare node:http2 session on it, both released when the test ends.
 */
async function h2Served(
  t: Owner,
  onSocket: (ws: WebSocketConnection, request: UpgradeRequest) => void | Promise<void>,
  selectProtocol: SelectProtocol | undefined,
  options: RequestHandlerOptions,
): Promise<{ session: ClientHttp2Session; port: number }> {
  const server = serve(
    { hostname: "127.0.0.1", port: 0, http2: true },
    requestHandler(onSocket, selectProtocol, options),
  );
  t.after(() => server.close());
  await server.ready;
  const session = http2Connect(`http://127.0.0.1:${server.port}`);
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
  return { session, port: server.port };
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
    test("sees the 101's fields and the request; what it adds goes out after them, in order, repeats kept", async (t) => {
      const seen: { fields: [string, string][]; url: string }[] = [];
      const onHeaders = (fields: [string, string][], request: UpgradeRequest) => {
        seen.push({ fields: fields.map(([name, value]): [string, string] => [name, value]), url: request.url });
        fields.push(["Set-Cookie", "a=1; HttpOnly"], ["Set-Cookie", "b=2"], ["X-Trace", "t-1"]);
      };
      const port = await served(t, kind, echo, { onHeaders, selectProtocol: (offered) => offered[0] });
      const { client, head } = await upgraded(t, port, upgradeRequest({ "Sec-WebSocket-Protocol": "chat" }));
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
    });

    const BAD: [string, (fields: [string, string][]) => void, RegExp][] = [
      ["a value with CR LF (response splitting)", (f) => f.push(["X-Evil", "a\r\nSet-Cookie: stolen=1"]), /Invalid value for header X-Evil/],
      ["a name that is not a token", (f) => f.push(["Bad Name", "x"]), /Invalid header name "Bad Name"/],
      ["a throw", () => {
        throw new Error("no cookies today");
      }, /no cookies today/],
    ];
    for (const [label, onHeaders, message] of BAD) {
      test(`${label}: 500, nothing of the 101 is sent, onError gets the error`, async (t) => {
        const errors: unknown[] = [];
        let sockets = 0;
        const port = await served(t, kind, () => void sockets++, { onHeaders, onError: (err) => errors.push(err) });
        const client = await RawClient.connect(t, port);
        client.write(upgradeRequest());
        const response = await client.readResponse();
        assert.equal(response.startLine, "HTTP/1.1 500 Internal Server Error");
        assert.equal(response.headers.get("sec-websocket-accept"), null);
        assert.doesNotMatch(response.body + [...response.headers].join(), /stolen|X-Evil/i);
        assert.equal(sockets, 0, "no connection was opened");
        assert.equal(errors.length, 1, `one error reported: ${errors}`);
        assert.match(String((errors[0] as Error).message), message);
      });
    }
  });

  describe(`requireProtocol (${kind})`, () => {
    const offer = upgradeRequest({ "Sec-WebSocket-Protocol": "chat.v3, chat.v4" });
    const none: SelectProtocol = () => null;

    test("by default a client whose subprotocols are all declined is refused with 400", async (t) => {
      const port = await served(t, kind, echo, { selectProtocol: none });
      const client = await RawClient.connect(t, port);
      client.write(offer);
      assert.equal((await client.readResponse()).startLine, "HTTP/1.1 400 Bad Request");
    });

    test("false: it is accepted without Sec-WebSocket-Protocol, and the connection works", async (t) => {
      const protocols: (string | null)[] = [];
      const onSocket = async (ws: WebSocketConnection) => {
        protocols.push(ws.protocol);
        await echo(ws);
      };
      const port = await served(t, kind, onSocket, { selectProtocol: none, requireProtocol: false });
      const { client, head } = await upgraded(t, port, offer);
      assert.doesNotMatch(head, /sec-websocket-protocol/i);
      client.write(rawFrame(TEXT, "no subprotocol"));
      assert.equal(new TextDecoder().decode((await client.expectFrame()).payload), "no subprotocol");
      assert.deepEqual(protocols, [null]);
    });

    test("false: a subprotocol selectProtocol picks is still answered", async (t) => {
      const port = await served(t, kind, echo, { selectProtocol: (offered) => offered[1], requireProtocol: false });
      const { head } = await upgraded(t, port, offer);
      assert.match(head, /\r\nSec-WebSocket-Protocol: chat\.v4\r\n/);
    });
  });

  describe(`selectProtocol's request argument (${kind})`, () => {
    test("gets the upgrade request, the same that onSocket gets, to choose by its query or fields", async (t) => {
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
      const port = await served(t, kind, onSocket, { selectProtocol });
      const byQuery = await upgraded(
        t,
        port,
        upgradeRequest({ "Sec-WebSocket-Protocol": "chat.v1, chat.v2" }, "GET /chat?v=2 HTTP/1.1"),
      );
      assert.match(byQuery.head, /\r\nSec-WebSocket-Protocol: chat\.v2\r\n/);
      const byField = await upgraded(t, port, upgradeRequest({ "Sec-WebSocket-Protocol": "chat.v1, chat.v2", "X-Version": "1" }));
      assert.match(byField.head, /\r\nSec-WebSocket-Protocol: chat\.v1\r\n/);
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
  test("requestHandler on node:http: it is node:http's request, with what earlier listeners put on it, in every callback", async (t) => {
    const http = createHttpServer();
    t.after(() => {
      http.closeAllConnections?.();
      return new Promise((resolve) => http.close(resolve));
    });
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
    const port = (http.address() as { port: number }).port;
    const { client } = await upgraded(t, port, upgradeRequest({ "Sec-WebSocket-Protocol": "chat" }));
    await withTimeout(client.expectFrame(), 5000, "the server's close frame");
    assert.deepEqual(seen.map(([where]) => where), ["verify", "selectProtocol", "onHeaders", "onSocket"]);
    for (const [where, request] of seen) assert.equal(request, original, `${where} gets node:http's request`);
    assert.equal(original?.method, "GET");
    assert.deepEqual(original?.rawHeaders.slice(0, 2), ["Host", "127.0.0.1"]);
  });

  test("serve's own listener and HTTP/2 streams have none", async (t) => {
    const nodeRequests: unknown[] = [];
    const onSocket = (ws: WebSocketConnection, request: UpgradeRequest) => {
      nodeRequests.push(request.nodeRequest);
      void ws.close();
    };
    const port = await served(t, "serve", onSocket, {});
    const { client } = await upgraded(t, port);
    await withTimeout(client.expectFrame(), 5000, "the server's close frame");
    const { session } = await h2Served(t, onSocket, undefined, {});
    const opened = await h2Open(session);
    assert.equal(opened.headers[":status"], 200);
    await withTimeout(opened.wire.expectFrame(), 5000, "the server's close frame");
    assert.deepEqual(nodeRequests, [undefined, undefined]);
  });
});

describe("the hooks over HTTP/2 (RFC 8441)", () => {
  test("onHeaders sees the 200's fields and adds to them; a repeated field arrives as several values", async (t) => {
    const seen: [string, string][][] = [];
    const onHeaders = (fields: [string, string][]) => {
      seen.push(fields.map(([name, value]): [string, string] => [name, value]));
      fields.push(["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"], ["X-Trace", "t-2"]);
    };
    const { session } = await h2Served(t, echo, (offered) => offered[0], { onHeaders });
    const opened = await h2Open(session, { "sec-websocket-protocol": "chat" });
    assert.equal(opened.headers[":status"], 200);
    assert.deepEqual(opened.headers["set-cookie"], ["a=1", "b=2"]);
    assert.equal(opened.headers["x-trace"], "t-2");
    assert.equal(opened.headers["sec-websocket-protocol"], "chat");
    opened.stream.write(rawFrame(TEXT, "over h2"));
    assert.equal(new TextDecoder().decode((await opened.wire.expectFrame()).payload), "over h2");
    assert.deepEqual(seen, [[["sec-websocket-protocol", "chat"]]]);
  });

  test("onHeaders adding a connection-specific field (RFC 9113 §8.2.2) gets 500 and onError", async (t) => {
    const errors: unknown[] = [];
    const onHeaders = (fields: [string, string][]) => void fields.push(["Connection", "keep-alive"]);
    const { session } = await h2Served(t, echo, undefined, { onHeaders, onError: (err) => errors.push(err) });
    const opened = await h2Open(session);
    assert.equal(opened.headers[":status"], 500);
    // The session is still usable.
    const next = await h2Open(session);
    assert.equal(next.headers[":status"], 500);
    assert.equal(errors.length, 2);
    assert.match(String((errors[0] as Error).message), /Connection is connection-specific/);
  });

  test("requireProtocol: false accepts declined subprotocols with a 200 that names none; selectProtocol gets the request", async (t) => {
    const requests: UpgradeRequest[] = [];
    const select: SelectProtocol = (_offered, request) => {
      requests.push(request);
      return null;
    };
    const { session } = await h2Served(t, echo, select, { requireProtocol: false });
    const opened = await h2Open(session, { "sec-websocket-protocol": "chat.v9" }, "/chat?room=7");
    assert.equal(opened.headers[":status"], 200);
    assert.equal(opened.headers["sec-websocket-protocol"], undefined);
    assert.equal(requests.length, 1);
    assert.equal(requests[0].httpVersion, "2");
    assert.equal(requests[0].url, "/chat?room=7");
  });

  test("the client's onUpgrade gets the 200 and its fields", async (t) => {
    const responses: UpgradeResponse[] = [];
    const onHeaders = (fields: [string, string][]) => void fields.push(["X-Trace", "t-3"]);
    const { port } = await h2Served(t, echo, undefined, { onHeaders });
    const ws = await connect(`ws://127.0.0.1:${port}/chat`, {
      http2: true,
      timeout: 5000,
      onUpgrade: (response) => void responses.push(response),
    });
    t.after(() => ws.terminate());
    await ws.close();
    assert.equal(responses.length, 1);
    assert.equal(responses[0].status, 200);
    assert.equal(responses[0].statusText, "");
    assert.equal(responses[0].headers.get("x-trace"), "t-3");
  });
});

describe("ConnectOptions.onUpgrade", () => {
  test("gets the 101 (status, reason phrase, every Set-Cookie) before connect resolves, once", async (t) => {
    const server = await rawServer(t, async (request) => {
      request.socket.write(await switchingProtocols(request, ["Set-Cookie: a=1", "Set-Cookie: b=2; Path=/", "X-Trace: t-4"]));
    });
    const events: string[] = [];
    const responses: UpgradeResponse[] = [];
    const ws = await connect(`${server.base()}/`, {
      onUpgrade: (response) => {
        events.push("onUpgrade");
        responses.push(response);
      },
    });
    t.after(() => ws.terminate());
    events.push("connected");
    assert.deepEqual(events, ["onUpgrade", "connected"]);
    assert.equal(responses[0].status, 101);
    assert.equal(responses[0].statusText, "Switching Protocols");
    assert.deepEqual(responses[0].headers.getSetCookie(), ["a=1", "b=2; Path=/"]);
    assert.equal(responses[0].headers.get("x-trace"), "t-4");
  });

  test("is called for a 101 that then fails its checks, before the check's error", async (t) => {
    const server = await rawServer(t, (request) => {
      request.socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n");
    });
    let called = 0;
    const err = await connect(`${server.base()}/`, { onUpgrade: () => void called++ }).then(
      (ws) => {
        t.after(() => ws.terminate());
        assert.fail("connect resolved");
      },
      (e) => e,
    );
    assert.ok(err instanceof HandshakeError && err.code === "ERR_HANDSHAKE_ACCEPT", String(err));
    assert.equal(called, 1);
  });

  test("a throw fails connect with that error and closes the TCP connection", async (t) => {
    let recorded: RecordedRequest | undefined;
    const server = await rawServer(t, async (request) => {
      recorded = request;
      request.socket.write(await switchingProtocols(request));
    });
    const refusal = new Error("not this server");
    await assert.rejects(connect(`${server.base()}/`, {
      onUpgrade: () => {
        throw refusal;
      },
    }), (err) => err === refusal);
    await withTimeout(recorded!.closed, 5000, "the client closing its TCP connection");
  });

  test("is not called for a refusal", async (t) => {
    const server = await rawServer(t, (request) => {
      request.socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    });
    let called = 0;
    const err = await connect(`${server.base()}/`, { onUpgrade: () => void called++ }).then(
      (ws) => {
        t.after(() => ws.terminate());
        assert.fail("connect resolved");
      },
      (e) => e,
    );
    assert.ok(err instanceof HandshakeError && err.status === 403, String(err));
    assert.equal(called, 0);
  });
});

describe("echoCloseReason", () => {
  for (const kind of KINDS) {
    for (const echoCloseReason of [true, false, undefined]) {
      test(`a server (${kind}) with echoCloseReason ${echoCloseReason} answers close 4000 "bye" with 4000 ${echoCloseReason ? '"bye"' : "alone"}`, async (t) => {
        const port = await served(t, kind, echo, { echoCloseReason });
        const { client } = await upgraded(t, port);
        client.write(rawFrame(CLOSE, closePayload(4000, "bye")));
        const frame = await client.expectFrame();
        assert.equal(frame.opcode, 8);
        assert.equal(closeCodeOf(frame), 4000);
        assert.equal(reasonOf(frame), echoCloseReason ? "bye" : "");
        await client.expectEnd();
      });
    }

    test(`a server (${kind}) with echoCloseReason answers an empty close with an empty one`, async (t) => {
      const port = await served(t, kind, echo, { echoCloseReason: true });
      const { client } = await upgraded(t, port);
      client.write(rawFrame(CLOSE, []));
      const frame = await client.expectFrame();
      assert.equal(frame.opcode, 8);
      assert.equal(frame.payload.length, 0);
    });
  }

  for (const echoCloseReason of [true, false]) {
    test(`a client with echoCloseReason ${echoCloseReason} answers the server's close 4001 "server says" with ${echoCloseReason ? "its reason" : "the code alone"}`, async (t) => {
      let resolveFrame!: (frame: WireFrame) => void;
      let rejectFrame!: (err: unknown) => void;
      const answered = new Promise<WireFrame>((resolve, reject) => {
        resolveFrame = resolve;
        rejectFrame = reject;
      });
      const server = await rawServer(t, async (request) => {
        request.socket.write(await switchingProtocols(request));
        const wire = new Wire(request.socket, true);
        request.socket.write(rawFrame(CLOSE, closePayload(4001, "server says"), null));
        wire.expectFrame().then(resolveFrame, rejectFrame);
      });
      const ws = await connect(`${server.base()}/`, { echoCloseReason });
      t.after(() => ws.terminate());
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
    });
  }
});
