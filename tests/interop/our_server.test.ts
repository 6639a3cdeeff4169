// Interop, our server <- clients nobody here wrote: the `ws` package (Node),
// the native WebSocket of Deno, Bun and Node 22, Python's `websockets`, and
// headless Chromium. Each runs tests/interop/fixtures/exchange.mjs (Python a
// mirror of it) in its own process against our server on this runtime:
// multi-byte text, binary, empty, 125/126/65535/65536-byte and 1 MiB
// messages, a subprotocol, pings both ways, and closes with code and reason
// from either end.
import { after, before, describe, Releases, test } from "../_test.ts";
import assert from "node:assert/strict";
import type { WebSocketConnection } from "../../src/connection/connection.ts";
import { Message } from "../../src/message.ts";
import { nodeBinary } from "../_node_versions.ts";
import { type Running, start } from "../_server.ts";
import {
  assertExchange,
  BUN,
  DENO,
  type ExchangeResult,
  findChromium,
  findPython,
  fixture,
  freshProfile,
  MiB,
  runClient,
} from "./_peers.ts";

/** Echoes, and obeys the commands the exchange sends ("ping:<data>", "close:<code>:<reason>"). */
async function interopApp(ws: WebSocketConnection): Promise<void> {
  try {
    for (;;) {
      const msg = await ws.recvAll();
      if (msg.type === "close") return;
      if (msg.type === "ping") continue;
      if (msg.type === "pong") {
        await ws.send(`pong:${new TextDecoder().decode(msg.data as Uint8Array)}`);
        continue;
      }
      if (msg.type === "text" && (msg.data as string).startsWith("ping:")) {
        await ws.send(new Message(new TextEncoder().encode((msg.data as string).slice(5)), "ping"));
        continue;
      }
      if (msg.type === "text" && (msg.data as string).startsWith("close:")) {
        const [, code, ...reason] = (msg.data as string).split(":");
        await ws.close(Number(code), reason.join(":"));
        return;
      }
      await ws.sendAll(msg);
    }
  } catch {
    // The client went away; its report says what it saw.
  }
}

const python = findPython();
const chromium = findChromium();
const node22 = nodeBinary(22);

interface Client {
  name: string;
  skip?: string;
  /** Whether the client is known to offer permessage-deflate (Deno's native one does not). */
  deflate?: boolean;
  run(url: string): Promise<ExchangeResult>;
  extra?(result: ExchangeResult): void;
}

const CLIENTS: Client[] = [
  { name: "ws client (Node)", deflate: true, run: (url) => runClient("node", [fixture("ws_client.mjs"), url]) },
  { name: "Deno native WebSocket", run: (url) => runClient(DENO, ["run", "-A", fixture("native_client.mjs"), url]) },
  { name: "Bun native WebSocket", run: (url) => runClient(BUN, [fixture("native_client.mjs"), url]) },
  {
    name: "Node 22 native WebSocket",
    skip: node22 === null ? "Node 22 is not installed in tests/node-versions (npm test's pretest installs it)" : undefined,
    run: (url) => runClient(node22!, [fixture("native_client.mjs"), url]),
  },
  {
    name: "Python websockets client",
    deflate: true,
    skip: "skip" in python ? python.skip : undefined,
    run: (url) => runClient((python as { python: string }).python, [fixture("python_client.py"), url]),
    extra: (result) => assert.equal(result.ownPing, "answered", "the client's own ping was answered"),
  },
  {
    name: "headless Chromium",
    deflate: true,
    skip: "skip" in chromium ? chromium.skip : undefined,
    async run(url) {
      const profile = freshProfile();
      try {
        return await runClient("node", [fixture("chromium_client.mjs"), url, profile.dir], 120_000);
      } finally {
        profile.remove();
      }
    },
  },
];

describe("interop: our server <- real clients", () => {
  let running: Running;
  const releases = new Releases();
  before(async () => {
    running = await start(releases, "serve", interopApp, {
      selectProtocol: (offered) => (offered.includes("interop.v1") ? "interop.v1" : null),
      maxFrameSize: 2 * MiB,
      pingInterval: 0,
    });
  });
  after(() => releases.release());

  for (const client of CLIENTS) {
    test(`[interop] our server <- ${client.name}`, { skip: client.skip ?? false }, async () => {
      const result = await client.run(`ws://127.0.0.1:${running.port}/interop`);
      assertExchange(result);
      client.extra?.(result);
    });
  }
});

describe("interop: our compressing server <- real clients (permessage-deflate)", () => {
  let running: Running;
  const negotiated: string[] = [];
  const releases = new Releases();
  before(async () => {
    running = await start(releases, "serve", (ws) => {
      negotiated.push(ws.extensions);
      return interopApp(ws);
    }, {
      selectProtocol: (offered) => (offered.includes("interop.v1") ? "interop.v1" : null),
      maxFrameSize: 2 * MiB,
      pingInterval: 0,
      compression: { threshold: 0 },
    });
  });
  after(() => releases.release());

  for (const client of CLIENTS) {
    test(`[interop] our compressing server <- ${client.name}`, { skip: client.skip ?? false }, async () => {
      negotiated.length = 0;
      const result = await client.run(`ws://127.0.0.1:${running.port}/interop`);
      assertExchange(result);
      client.extra?.(result);
      if (client.deflate) {
        assert.ok(negotiated.length > 0 && negotiated.every((e) => e.startsWith("permessage-deflate")), `negotiated ${negotiated}`);
      }
    });
  }
});
