// A library written for the standard WebSocket that takes a WebSocket
// constructor, `reconnecting-websocket` from npm, run unmodified with ours:
// directly, after our server is stopped and started again, through a real
// HTTP proxy (tinyproxy) and over HTTP/2 (h2c), on every runtime.
import assert from "node:assert/strict";
import ReconnectingWebSocketModule from "reconnecting-websocket";
import { serve, type Server } from "../../mod.ts";
import { WebSocket, type WebSocketOptions } from "../../src/web/mod.ts";
import { startTinyproxy, TINYPROXY } from "../_proxies.ts";
import { describe, type Owner, test, withTimeout } from "../_test.ts";

/** The library's class, typed by what the tests use (its CommonJS default export differs by runtime and checker). */
interface ReconnectingWebSocket {
  readonly readyState: number;
  binaryType: string;
  send(data: unknown): void;
  close(): void;
  addEventListener(type: string, listener: (event: { data?: unknown }) => void, options?: unknown): void;
}
const ReconnectingWebSocket = ((ReconnectingWebSocketModule as unknown as { default?: unknown }).default ??
  ReconnectingWebSocketModule) as unknown as new (
    url: string,
    protocols: string[],
    options: Record<string, unknown>,
  ) => ReconnectingWebSocket;

/** Our WebSocket with streamsock options bound, as the constructor the library calls. */
function withOptions(options: WebSocketOptions): typeof WebSocket {
  return class extends WebSocket {
    constructor(url: string | URL, protocols?: string | readonly string[]) {
      super(url, { ...options, protocols: typeof protocols === "string" ? [protocols] : protocols });
    }
  };
}

/** An echo server that tells each client which HTTP version carried it; closed when `t` ends. */
function echoServer(t: Owner, port = 0, http2 = false): Server {
  const server = serve({ port, hostname: "127.0.0.1", http2 }, async (ws, request) => {
    await ws.send(`hello over HTTP/${request.httpVersion}`);
    for await (const message of ws) await ws.sendAll(message);
  });
  t.after(() => server.close());
  return server;
}

/** The library's socket, closed when `t` ends (it stops reconnecting). */
function reconnecting(t: Owner, url: string, options: Record<string, unknown>): ReconnectingWebSocket {
  const rws = new ReconnectingWebSocket(url, [], options);
  t.after(() => rws.close());
  return rws;
}

/** Waits for the next message event of a ReconnectingWebSocket. */
function nextMessage(rws: ReconnectingWebSocket): Promise<unknown> {
  return withTimeout(
    new Promise((resolve) => rws.addEventListener("message", (event) => resolve(event.data), { once: true })),
    15_000,
    "a message through reconnecting-websocket",
  );
}

async function roundTrip(rws: ReconnectingWebSocket): Promise<void> {
  const reply = nextMessage(rws);
  rws.send("ping");
  assert.equal(await reply, "ping");
}

describe("reconnecting-websocket with streamsock's WebSocket", () => {
  test("connects, echoes, and reconnects after the server is stopped and started again on its port", async (t) => {
    const server = echoServer(t);
    await server.ready;
    const port = server.port;
    const rws = reconnecting(t, `ws://127.0.0.1:${port}/`, {
      WebSocket: withOptions({}),
      minReconnectionDelay: 50,
      maxReconnectionDelay: 200,
    });
    assert.equal(await nextMessage(rws), "hello over HTTP/1.1");
    await roundTrip(rws);
    const closed = new Promise((resolve) => rws.addEventListener("close", resolve, { once: true }));
    await server.close();
    await withTimeout(closed, 15_000, "the close event after the server stopped");
    const hello = nextMessage(rws);
    const again = echoServer(t, port);
    await again.ready;
    assert.equal(await hello, "hello over HTTP/1.1");
    await roundTrip(rws);
    assert.equal(rws.readyState, WebSocket.OPEN);
  });

  test("binaryType and a Blob round trip through the library", async (t) => {
    const server = echoServer(t);
    await server.ready;
    const rws = reconnecting(t, `ws://127.0.0.1:${server.port}/`, { WebSocket: withOptions({}) });
    rws.binaryType = "arraybuffer";
    await nextMessage(rws);
    const reply = nextMessage(rws);
    rws.send(new Blob([new Uint8Array([1, 2, 3])]));
    assert.deepEqual(Array.from(new Uint8Array(await reply as ArrayBuffer)), [1, 2, 3]);
  });

  test("through an HTTP proxy (tinyproxy)", { skip: TINYPROXY === null ? "tinyproxy is not installed" : false }, async (t) => {
    const server = echoServer(t);
    await server.ready;
    const proxy = await startTinyproxy(t);
    const rws = reconnecting(t, `ws://127.0.0.1:${server.port}/`, { WebSocket: withOptions({ proxy: proxy.url }) });
    assert.equal(await nextMessage(rws), "hello over HTTP/1.1");
    await roundTrip(rws);
  });

  test("over HTTP/2 (RFC 8441, h2c)", async (t) => {
    const server = echoServer(t, 0, true);
    await server.ready;
    const rws = reconnecting(t, `ws://127.0.0.1:${server.port}/`, { WebSocket: withOptions({ http2: true }) });
    assert.equal(await nextMessage(rws), "hello over HTTP/2");
    await roundTrip(rws);
  });
});
