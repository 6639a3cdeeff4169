// Our server with clients nobody here wrote (the `ws` package, the runtime's
// own WebSocket) and with our own connect(): plain and TLS, behind serve()
// and behind requestHandler on node:http / node:https, and 500 at once.
import { assertBytesEqual, describe, eventually, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { connect } from "../src/client/connect.ts";
import type { WebSocketConnection } from "../src/connection/connection.ts";
import { Message } from "../src/message.ts";
import { nodeBinary } from "./_node_versions.ts";
import { KINDS, start } from "./_server.ts";
import { testCertificate } from "./_tls.ts";

async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const msg of ws) await ws.send(msg);
}

const chooseChat = (offered: string[]) => offered.find((p) => p === "chat") ?? null;

interface Exchange {
  protocol: string;
  received: (string | number[])[];
  code: number;
}

/** Sends a text and a binary message with the `ws` package and collects the echoes. */
function wsExchange(url: string, protocols: string[], options: WebSocket.ClientOptions = {}): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(url, protocols, options);
    const received: (string | number[])[] = [];
    client.on("open", () => {
      client.send("héllo ✓");
      client.send(new Uint8Array([1, 2, 3, 250]));
    });
    client.on("message", (data, isBinary) => {
      received.push(isBinary ? Array.from(new Uint8Array(data as Buffer)) : String(data));
      if (received.length === 2) client.close(1000, "done");
    });
    client.on("error", reject);
    client.on("close", (code) => resolve({ protocol: client.protocol, received, code }));
  });
}

/** The same exchange with the runtime's own WebSocket (Deno, Bun, Node 22+). */
function nativeExchange(url: string, protocols: string[]): Promise<Exchange> {
  const Native = (globalThis as { WebSocket?: typeof globalThis.WebSocket }).WebSocket!;
  return new Promise((resolve, reject) => {
    const client = new Native(url, protocols);
    client.binaryType = "arraybuffer";
    const received: (string | number[])[] = [];
    client.onopen = () => {
      client.send("héllo ✓");
      client.send(new Uint8Array([1, 2, 3, 250]));
    };
    client.onmessage = (event) => {
      received.push(
        typeof event.data === "string" ? event.data : Array.from(new Uint8Array(event.data as ArrayBuffer)),
      );
      if (received.length === 2) client.close(1000, "done");
    };
    client.onerror = () => reject(new Error("native WebSocket failed"));
    client.onclose = (event) => resolve({ protocol: client.protocol, received, code: event.code });
  });
}

/** Node 20 has no global WebSocket: run Node 22's in a child process. */
function childNativeExchange(node: string, url: string, protocols: string[]): Promise<Exchange> {
  const script = fileURLToPath(new URL("./fixtures/native_ws_client.mjs", import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(node, [script, url, protocols.join(",")], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stdout}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split("\n").pop()!));
    });
  });
}

function assertEchoed(result: Exchange, protocol: string): void {
  assert.equal(result.protocol, protocol);
  assert.deepEqual(result.received, ["héllo ✓", [1, 2, 3, 250]]);
  assert.equal(result.code, 1000);
}

const hasNativeWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket === "function";

for (const kind of KINDS) {
  describe(`real clients against ${kind}`, () => {
    test("the ws package: echo, with the subprotocol it asked for", async (t) => {
      const running = await start(t, kind, echo, { selectProtocol: chooseChat });
      assertEchoed(await wsExchange(`ws://127.0.0.1:${running.port}/`, ["superchat", "chat"]), "chat");
      await assert.rejects(wsExchange(`ws://127.0.0.1:${running.port}/`, ["nope"]), /400/);
    });

    test("the runtime's own WebSocket: echo, with the subprotocol it asked for", async (t) => {
      const running = await start(t, kind, echo, { selectProtocol: chooseChat });
      const url = `ws://127.0.0.1:${running.port}/`;
      if (hasNativeWebSocket) {
        assertEchoed(await nativeExchange(url, ["superchat", "chat"]), "chat");
      } else {
        const node22 = nodeBinary(22);
        if (node22 === null) return;
        assertEchoed(await childNativeExchange(node22, url, ["superchat", "chat"]), "chat");
      }
    });

    test("our own connect(): every message type and the close code round trip", async (t) => {
      const running = await start(t, kind, async (ws) => {
        for await (const msg of ws) await ws.sendAll(msg);
        await ws.close(4000, "bye");
      }, { selectProtocol: chooseChat });
      const ws = await connect(`ws://127.0.0.1:${running.port}/room`, { protocol: ["chat"] });
      assert.equal(ws.protocol, "chat");
      const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i * 7);
      await ws.send("text");
      await ws.send(new Message("frag", "text", true));
      await ws.send(new Message("mented", "text"));
      const sending = ws.sendAll(big);
      assert.equal((await ws.recvAll()).data, "text");
      assert.equal((await ws.recvAll()).data, "fragmented");
      assertBytesEqual((await ws.recvAll(8 * 1024 * 1024)).data, big, "3 MiB sent with sendAll");
      await sending;
      await ws.send(new Message(new TextEncoder().encode("p"), "ping"));
      assert.equal((await ws.recv()).type, "pong");
      const info = await ws.close(1000);
      assert.equal(info.code, 1000);
      assert.ok(info.wasClean);
    });

    test("TLS (wss://) with the ws package and with connect()", async (t) => {
      const { cert, key } = await testCertificate();
      const running = await start(t, kind, echo, { selectProtocol: chooseChat, tls: { cert, key } });
      const url = `wss://127.0.0.1:${running.port}/`;
      assertEchoed(await wsExchange(url, ["chat"], { ca: cert }), "chat");
      const ws = await connect(url, { protocol: "chat", tls: { ca: cert } });
      await ws.send("secure");
      assert.equal((await ws.recv()).data, "secure");
      assert.equal((await ws.close()).code, 1000);
      // Without trusting the certificate the client must refuse the server.
      await assert.rejects(connect(url, { protocol: "chat", timeout: 5000 }));
    });

    test("500 concurrent connections each exchange messages", async (t) => {
      const running = await start(t, kind, echo);
      const count = 500;
      const results = await withTimeout(
        Promise.all(Array.from({ length: count }, async (_, i) => {
          const ws = await connect(`ws://127.0.0.1:${running.port}/`, { timeout: 30_000 });
          const got: string[] = [];
          for (let j = 0; j < 3; j++) {
            await ws.send(`${i}:${j}`);
            got.push((await ws.recv()).data as string);
          }
          await ws.close();
          return got.join(",");
        })),
        90_000,
        `${count} connections`,
      );
      for (let i = 0; i < count; i++) assert.equal(results[i], `${i}:0,${i}:1,${i}:2`);
      if (running.server !== undefined) {
        const server = running.server;
        await eventually(() => server.connections === 0, 5000, "every connection to be released");
      }
    });
  });
}

test("serve reports open connections and ws clients see 1001 at shutdown", async (t) => {
  const running = await start(t, "serve", echo);
  const server = running.server!;
  const codes = Array.from({ length: 3 }, () =>
    new Promise<number>((resolve, reject) => {
      const client = new WebSocket(`ws://127.0.0.1:${running.port}/`);
      client.on("error", reject);
      client.on("close", (code) => resolve(code));
    }));
  await eventually(() => server.connections === 3, 5000, "three open connections");
  await withTimeout(server.close(), 5000, "close()");
  assert.deepEqual(await withTimeout(Promise.all(codes), 5000, "the ws clients' close events"), [1001, 1001, 1001]);
  assert.equal(server.connections, 0);
});
