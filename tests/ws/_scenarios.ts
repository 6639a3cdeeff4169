// The scenarios of the side-by-side runner (see _runner.ts). Each is written
// once against ws's API; families are generated from tables so that every
// variant (payload, deflate, binaryType, frame, code) is a scenario of its own.
import { Buffer } from "node:buffer";
import { request as httpRequest } from "node:http";
import { setImmediate } from "node:timers";
import { randomBytes, rawFrame } from "../_helpers.ts";
import { eventually, socketsPolled } from "../_test.ts";
import {
  closeServer,
  type Ctx,
  errorEntry,
  logFrames,
  logResponse,
  SAMPLE_ACCEPT,
  type Scenario,
  upgradeRequest,
} from "./_runner.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const scenarios: Scenario[] = [];
function scenario(name: string, run: (ctx: Ctx) => void | Promise<void>): void {
  scenarios.push({ name, run });
}

const TEXT = 0x81;
const BINARY = 0x82;
const PING = 0x89;
const PONG = 0x8a;
const CLOSE = 0x88;

function code(n: number, reason = ""): Uint8Array {
  const r = Buffer.from(reason);
  const out = new Uint8Array(2 + r.length);
  out[0] = n >> 8;
  out[1] = n & 0xff;
  out.set(r, 2);
  return out;
}

/** An echo server and a tapped client; `steps` drives the client once it is open. */
async function echoPair(
  ctx: Ctx,
  serverOptions: Record<string, unknown>,
  clientOptions: Record<string, unknown> | undefined,
  steps: (ws: Any) => void | Promise<void>,
  protocols?: unknown,
): Promise<{ ws: Any; watched: Any }> {
  const { wss, port } = await ctx.server(serverOptions);
  wss.on("connection", (ws: Any) => ws.on("message", (data: Any, isBinary: boolean) => ws.send(data, { binary: isBinary })));
  const tapped = await ctx.tap(port);
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${tapped}/echo`, protocols, clientOptions);
  await watched.when("open");
  await steps(ws);
  return { ws, watched };
}

// ------------------------------------------------------------------ echo

const PAYLOADS: [string, () => string | Uint8Array][] = [
  ["empty text", () => ""],
  ["short text", () => "hello"],
  ["unicode text", () => "héllo wörld ✓ 𝄞"],
  ["125-byte text", () => "x".repeat(125)],
  ["126-byte text", () => "y".repeat(126)],
  ["65535-byte text", () => "z".repeat(65535)],
  ["65536-byte binary", () => randomBytes(65536, 2)],
  ["empty binary", () => new Uint8Array(0)],
  ["small binary", () => new Uint8Array([0, 1, 2, 255])],
  ["1 MiB binary", () => randomBytes(1 << 20, 3)],
  ["4 MiB text", () => "abcdefghij".repeat(419430)],
];
for (const deflate of [false, true]) {
  for (const [label, make] of PAYLOADS) {
    scenario(`echo: ${label}${deflate ? ", permessage-deflate" : ""}`, async (ctx) => {
      const { ws, watched } = await echoPair(ctx, { perMessageDeflate: deflate }, { perMessageDeflate: deflate }, (ws) => {
        ws.send(make());
      });
      await watched.when("message");
      ws.close(1000);
      await watched.when("close");
    });
  }
}

for (const binaryType of ["nodebuffer", "arraybuffer", "fragments"]) {
  scenario(`binaryType ${binaryType}: binary and text messages`, async (ctx) => {
    const { ws, watched } = await echoPair(ctx, {}, {}, (ws) => {
      ws.binaryType = binaryType;
      ctx.log("client", "binaryType", ws.binaryType);
      ws.send(new Uint8Array([1, 2, 3]));
      ws.send("text stays a Buffer");
    });
    await watched.when("message", 2);
    ws.close();
    await watched.when("close");
  });
}

for (const binaryType of ["nodebuffer", "arraybuffer", "fragments"]) {
  for (const deflate of [false, true]) {
    scenario(`binaryType ${binaryType}: a message in several frames${deflate ? ", permessage-deflate" : ""}`, async (ctx) => {
      const { wss, port, connections } = await ctx.server({ perMessageDeflate: deflate });
      wss.on("connection", (ws: Any) => {
        // An empty frame among them: ws leaves it out of "fragments".
        ws.send(Buffer.from([1, 2, 3]), { fin: false });
        ws.send(Buffer.alloc(0), { fin: false });
        ws.send(Buffer.from([4, 5]), { fin: false });
        ws.send(Buffer.from([6]), { fin: true });
        ws.send(Buffer.alloc(0), { fin: false });
        ws.send(Buffer.alloc(0), { fin: true });
        ws.send("te", { fin: false });
        ws.send("xt", { fin: true });
      });
      const tapped = await ctx.tap(port);
      const { ws, watched } = ctx.client(`ws://127.0.0.1:${tapped}/`, undefined, { perMessageDeflate: deflate });
      ws.binaryType = binaryType;
      await watched.when("message", 3);
      ws.close();
      await watched.when("close");
      await connections[0].when("close");
    });
  }
}

scenario("binaryType: an unknown value is ignored", async (ctx) => {
  const { ws, watched } = await echoPair(ctx, {}, {}, (ws) => {
    ws.binaryType = "blobby";
    ctx.log("client", "binaryType", ws.binaryType);
  });
  ws.close();
  await watched.when("close");
});

const SEND_FORMS: [string, () => unknown, Record<string, unknown> | undefined][] = [
  ["a number", () => 42, undefined],
  ["an ArrayBuffer", () => new Uint8Array([9, 8, 7]).buffer, undefined],
  ["a Uint16Array", () => new Uint16Array([1, 2]), undefined],
  ["a DataView", () => new DataView(new Uint8Array([5, 6]).buffer), undefined],
  ["a Buffer as text", () => Buffer.from("buffered text"), { binary: false }],
  ["a string as binary", () => "binary string", { binary: true }],
  ["compress: false with deflate", () => "c".repeat(4096), { compress: false }],
];
for (const [label, make, options] of SEND_FORMS) {
  scenario(`send: ${label}`, async (ctx) => {
    const deflate = label.includes("deflate");
    const { ws, watched } = await echoPair(ctx, { perMessageDeflate: deflate }, { perMessageDeflate: deflate }, (ws) => {
      ws.send(make(), options);
    });
    await watched.when("message");
    ws.close();
    await watched.when("close");
  });
}

scenario("send: fragments with fin: false, then fin: true", async (ctx) => {
  const { ws, watched } = await echoPair(ctx, {}, {}, (ws) => {
    ws.send("one ", { fin: false });
    ws.send("two ", { fin: false });
    ws.send("three", { fin: true });
    ws.send(Buffer.from([1]), { fin: false });
    ws.send(Buffer.from([2]));
  });
  await watched.when("message", 2);
  ws.close();
  await watched.when("close");
});

scenario("send: the callback is called once per send, in order", async (ctx) => {
  const { ws, watched } = await echoPair(ctx, {}, {}, async (ws) => {
    await new Promise<void>((resolve) => {
      let n = 0;
      for (let i = 0; i < 5; i++) {
        ws.send(`m${i}`, (err: unknown) => {
          ctx.log("client", "sent", i, err === undefined || err === null ? "ok" : errorEntry(err));
          if (++n === 5) resolve();
        });
      }
    });
  });
  await watched.when("message", 5);
  ws.close();
  await watched.when("close");
});

scenario("send: a thousand messages in one go arrive in order", async (ctx) => {
  const { ws, watched } = await echoPair(ctx, {}, {}, (ws) => {
    for (let i = 0; i < 1000; i++) ws.send(`message ${i}`);
  });
  await watched.when("message", 1000);
  ws.close();
  await watched.when("close");
});

// ------------------------------------------------------------- ping/pong

const PING_PAYLOADS: [string, unknown][] = [["no data", undefined], ["text", "are you there"], ["125 bytes", "p".repeat(125)], [
  "a number",
  7,
], ["a Buffer", Buffer.from([1, 2, 3])]];
for (const [label, data] of PING_PAYLOADS) {
  scenario(`ping from the client with ${label}: auto pong`, async (ctx) => {
    const { ws, watched } = await echoPair(ctx, {}, {}, (ws) => ws.ping(data));
    await watched.when("pong");
    ws.close();
    await watched.when("close");
  });
}

scenario("ping from the server: the client answers and sees it", async (ctx) => {
  const { wss, port } = await ctx.server();
  wss.on("connection", (ws: Any) => ws.ping("from server"));
  const tapped = await ctx.tap(port);
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${tapped}/`);
  await watched.when("ping");
  ws.close();
  await watched.when("close");
});

scenario("pong unsolicited from the client", async (ctx) => {
  const { ws, watched } = await echoPair(ctx, {}, {}, (ws) => ws.pong("heartbeat"));
  ws.send("after");
  await watched.when("message");
  ws.close();
  await watched.when("close");
});

scenario("ping with more than 125 bytes throws", async (ctx) => {
  const { ws, watched } = await echoPair(ctx, {}, {}, (ws) => {
    try {
      ws.ping("q".repeat(126));
    } catch (err) {
      ctx.log("client", "threw", errorEntry(err));
    }
  });
  ws.close();
  await watched.when("close");
});

scenario("autoPong: false on the server: no pong", async (ctx) => {
  const { ws, watched } = await echoPair(ctx, { autoPong: false }, {}, (ws) => {
    ws.ping("unanswered");
    ws.send("then a message");
  });
  await watched.when("message");
  ws.close();
  await watched.when("close");
});

scenario("ping with a callback", async (ctx) => {
  const { ws, watched } = await echoPair(ctx, {}, {}, async (ws) => {
    await new Promise<void>((resolve) => ws.ping("cb", undefined, () => (ctx.log("client", "ping sent"), resolve())));
  });
  await watched.when("pong");
  ws.close();
  await watched.when("close");
});

// ----------------------------------------------------------------- closing

const CLOSES: [string, number | undefined, string | undefined][] = [
  ["no code", undefined, undefined],
  ["1000", 1000, undefined],
  ["1000 with a reason", 1000, "bye"],
  ["1001", 1001, "going away"],
  ["1003", 1003, undefined],
  ["1008", 1008, "policy"],
  ["1011", 1011, "oops"],
  ["3000", 3000, undefined],
  ["4999 with a unicode reason", 4999, "fin ✓"],
  ["4000 with a 123-byte reason", 4000, "r".repeat(123)],
];
for (const [label, closeCode, reason] of CLOSES) {
  scenario(`close from the client: ${label}`, async (ctx) => {
    const { ws, watched } = await echoPair(ctx, {}, {}, (ws) => ws.close(closeCode, reason));
    ctx.log("client", "readyState", ws.readyState);
    await watched.when("close");
    ctx.log("client", "readyState", ws.readyState);
  });
  scenario(`close from the server: ${label}`, async (ctx) => {
    const { wss, port, connections } = await ctx.server();
    wss.on("connection", (ws: Any) => ws.close(closeCode, reason));
    const tapped = await ctx.tap(port);
    const { watched } = ctx.client(`ws://127.0.0.1:${tapped}/`);
    await watched.when("close");
    await connections[0]?.when("close");
  });
}

const BAD_CLOSES: [string, unknown, unknown][] = [
  ["code 1005", 1005, undefined],
  ["code 1006", 1006, undefined],
  ["code 999", 999, undefined],
  ["code 5000", 5000, undefined],
  ["a string code", "1000", undefined],
  ["a 124-byte reason", 1000, "r".repeat(124)],
];
for (const [label, closeCode, reason] of BAD_CLOSES) {
  scenario(`close with ${label} throws`, async (ctx) => {
    const { ws, watched } = await echoPair(ctx, {}, {}, (ws) => {
      try {
        ws.close(closeCode, reason);
      } catch (err) {
        ctx.log("client", "threw", errorEntry(err));
      }
      ctx.log("client", "readyState", ws.readyState);
    });
    ws.close();
    await watched.when("close");
  });
}

scenario("close twice: the second does nothing", async (ctx) => {
  const { watched } = await echoPair(ctx, {}, {}, (ws) => {
    ws.close(1000, "first");
    ws.close(4000, "second");
  });
  await watched.when("close");
});

scenario("terminate from the client", async (ctx) => {
  const { port, connections } = await ctx.server();
  const tapped = await ctx.tap(port);
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${tapped}/`);
  await watched.when("open");
  await eventually(() => connections.length > 0, 5000, "the server's end of the connection");
  ws.terminate();
  ctx.log("client", "readyState", ws.readyState);
  await watched.when("close");
  await connections[0].when("close");
});

scenario("terminate from the server", async (ctx) => {
  const { wss, port, connections } = await ctx.server();
  let serverSide: Any;
  wss.on("connection", (ws: Any) => (serverSide = ws));
  const tapped = await ctx.tap(port);
  const { watched } = ctx.client(`ws://127.0.0.1:${tapped}/`);
  // Terminated once the client is open.
  await watched.when("open");
  await eventually(() => serverSide !== undefined, 5000, "the server's end of the connection");
  serverSide.terminate();
  await watched.when("close");
  await connections[0].when("close");
});

/** Sends, and resolves with what the callback got. */
function sent(ws: Any, data: unknown, options?: unknown): Promise<unknown> {
  return new Promise((resolve) => ws.send(data, options, (err: unknown) => resolve(err)));
}

/** The next turn of the event loop, when what a turn wrote has reached the socket. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

scenario("send after close: the callback gets ws's error, bufferedAmount counts it", async (ctx) => {
  const { ws, watched } = await echoPair(ctx, {}, {}, async (ws) => {
    ws.close();
    ctx.log("client", "send callback", errorEntry(await sent(ws, "late")));
    await nextTurn();
    ctx.log("client", "bufferedAmount", ws.bufferedAmount);
  });
  await watched.when("close");
  ctx.log("client", "send callback", errorEntry(await sent(ws, "after close")));
  ctx.log("client", "bufferedAmount", ws.bufferedAmount);
});

scenario("bufferedAmount in the turn of a send, and after it", async (ctx) => {
  const { ws, watched } = await echoPair(ctx, {}, {}, async (ws) => {
    ws.send("a short message");
    ctx.log("client", "bufferedAmount in the same turn", ws.bufferedAmount);
    await nextTurn();
    ctx.log("client", "bufferedAmount in the next turn", ws.bufferedAmount);
  });
  await watched.when("message");
  ws.close();
  await watched.when("close");
});

scenario("send while connecting throws", async (ctx) => {
  const { port } = await ctx.server();
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  for (const call of ["send", "ping", "pong"]) {
    try {
      ws[call]("x");
    } catch (err) {
      ctx.log("client", call, "threw", errorEntry(err));
    }
  }
  await watched.when("open");
  ws.close();
  await watched.when("close");
});

scenario("close while connecting", async (ctx) => {
  const { port } = await ctx.server({}, "quiet");
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  ws.close();
  ctx.log("client", "readyState", ws.readyState);
  await watched.when("close");
  ctx.log("client", "readyState", ws.readyState);
});

scenario("terminate while connecting", async (ctx) => {
  const { port } = await ctx.server({}, "quiet");
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  ws.terminate();
  await watched.when("close");
});

// ------------------------------------------------------ pause and resume

scenario("pause: messages wait until resume", async (ctx) => {
  const { wss, port } = await ctx.server();
  let serverSide: Any;
  wss.on("connection", (ws: Any) => (serverSide = ws));
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  await watched.when("open");
  ws.pause();
  ctx.log("client", "isPaused", ws.isPaused);
  await eventually(() => serverSide !== undefined, 5000, "the server's end of the connection");
  // Both in the kernel, then a round trip through it: an unpaused client would have read them first.
  await Promise.all([sent(serverSide, "one"), sent(serverSide, "two")]);
  await socketsPolled();
  ctx.log("client", "paused, after they reached its socket", watched.seen("message"));
  ws.resume();
  ctx.log("client", "isPaused", ws.isPaused);
  await watched.when("message", 2);
  ws.close();
  await watched.when("close");
});

scenario("pause and resume before open do nothing", async (ctx) => {
  const { port } = await ctx.server({}, "quiet");
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  ws.pause();
  ctx.log("client", "isPaused", ws.isPaused);
  await watched.when("open");
  ws.close();
  await watched.when("close");
});

scenario("server pauses a client that floods, then resumes", async (ctx) => {
  const { wss, port, connections } = await ctx.server();
  let serverSide: Any;
  wss.on("connection", (ws: Any) => {
    ws.pause();
    serverSide = ws;
  });
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  await watched.when("open");
  // Resumed once the whole flood was written.
  await Promise.all(Array.from({ length: 50 }, (_, i) => sent(ws, `flood ${i}`)));
  await eventually(() => connections.length > 0, 5000, "the server's end of the connection");
  serverSide.resume();
  await connections[0].when("message", 50);
  ws.close();
  await watched.when("close");
});

// ------------------------------------------------------------ backpressure

scenario("backpressure: bufferedAmount grows with unawaited sends and drains", async (ctx) => {
  const { wss, port } = await ctx.server();
  let received = 0;
  wss.on("connection", (ws: Any) => ws.on("message", () => received++));
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  await watched.when("open");
  const chunk = randomBytes(256 * 1024, 5);
  let callbacks = 0;
  for (let i = 0; i < 32; i++) ws.send(chunk, () => callbacks++);
  ctx.log("client", "bufferedAmount > 1 MiB right after", ws.bufferedAmount > 1 << 20);
  await eventually(() => callbacks === 32, 10_000, "the 32 send callbacks");
  ctx.log("client", "all callbacks", callbacks);
  await eventually(() => received === 32, 10_000, "the 32 messages at the server");
  ctx.log("client", "bufferedAmount after", ws.bufferedAmount);
  ws.close();
  await watched.when("close");
});

// -------------------------------------------------------- events and API

scenario("addEventListener and on… attributes", async (ctx) => {
  const { wss, port } = await ctx.server();
  wss.on("connection", (ws: Any) => ws.on("message", (data: Any, isBinary: boolean) => ws.send(data, { binary: isBinary })));
  const ws = new ctx.lib.WebSocket(`ws://127.0.0.1:${port}/`);
  ctx.defer(() => ws.terminate());
  const done = new Promise<void>((resolve) => {
    ws.onopen = (event: Any) => {
      ctx.log("client", "onopen", event.type, event.target === ws);
      ws.send("text");
      ws.send(Buffer.from([7]));
    };
    let n = 0;
    const listener = (event: Any) => {
      ctx.log("client", "message event", event.type, describeData(event.data));
      if (++n === 2) ws.close(4001, "done");
    };
    ws.addEventListener("message", listener);
    ws.addEventListener("message", listener);
    ws.addEventListener("unknown", listener);
    ws.onclose = (event: Any) => {
      ctx.log("client", "onclose", event.code, event.reason, event.wasClean);
      resolve();
    };
    ws.addEventListener("close", { handleEvent: (event: Any) => ctx.log("client", "handleEvent", event.type) }, { once: true });
  });
  ctx.log("client", "onmessage", ws.onmessage);
  await done;
});

/** Whether `event` settles within `ms` (false rather than a throw, so both libraries' logs say it). */
function eventOrTimeout(event: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([event.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

function describeData(data: unknown): string {
  return typeof data === "string" ? `string:${data}` : `binary:${Buffer.from(data as Uint8Array).toString("hex")}`;
}

scenario("onerror and removeEventListener", async (ctx) => {
  const ws = new ctx.lib.WebSocket("ws://127.0.0.1:1/");
  const removed = () => ctx.log("client", "removed listener called");
  ws.addEventListener("error", removed);
  ws.removeEventListener("error", removed);
  await new Promise<void>((resolve) => {
    ws.onerror = (event: Any) => ctx.log("client", "onerror", event.type, event.message);
    ws.onclose = (event: Any) => {
      ctx.log("client", "onclose", event.code, event.wasClean);
      resolve();
    };
  });
});

scenario("readyState constants and url", async (ctx) => {
  const { port } = await ctx.server({}, "quiet");
  const W = ctx.lib.WebSocket;
  ctx.log("client", "static", W.CONNECTING, W.OPEN, W.CLOSING, W.CLOSED);
  const { ws, watched } = ctx.client(`http://127.0.0.1:${port}/path?q=1`);
  ctx.log("client", "instance", ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED, ws.readyState, ws.url, ws.protocol, ws.extensions);
  await watched.when("open");
  ctx.log("client", "open", ws.readyState, ws.bufferedAmount, ws.isPaused, ws.binaryType);
  ws.close();
  await watched.when("close");
});

const BAD_CLIENTS: [string, () => [unknown, unknown, unknown]][] = [
  ["an invalid URL", () => ["not a url", undefined, undefined]],
  ["an ftp: URL", () => ["ftp://127.0.0.1/", undefined, undefined]],
  ["a URL with a fragment", () => ["ws://127.0.0.1/#frag", undefined, undefined]],
  ["a duplicated subprotocol", () => ["ws://127.0.0.1/", ["a", "a"], undefined]],
  ["an invalid subprotocol", () => ["ws://127.0.0.1/", "a b", undefined]],
  ["protocolVersion 12", () => ["ws://127.0.0.1/", undefined, { protocolVersion: 12 }]],
];
for (const [label, args] of BAD_CLIENTS) {
  scenario(`new WebSocket with ${label} throws`, (ctx) => {
    try {
      const ws = new ctx.lib.WebSocket(...args());
      ctx.defer(() => ws.terminate());
      ctx.log("client", "did not throw");
    } catch (err) {
      ctx.log("client", "threw", errorEntry(err));
    }
  });
}

scenario("subprotocols: the server picks the first offered", async (ctx) => {
  const { ws, watched } = await echoPair(ctx, {}, {}, (ws) => ctx.log("client", "protocol", ws.protocol), ["chat.v2", "chat.v1"]);
  ws.close();
  await watched.when("close");
});

scenario("subprotocols as options.protocols", async (ctx) => {
  const { port } = await ctx.server();
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`, { protocols: "only" });
  await watched.when("open");
  ctx.log("client", "protocol", ws.protocol);
  ws.close();
  await watched.when("close");
});

const HANDLE_PROTOCOLS: [string, (set: Set<string>) => string | false][] = [
  ["the last offered", (set) => [...set].at(-1)!],
  ["false: none", () => false],
];
for (const [label, choose] of HANDLE_PROTOCOLS) {
  scenario(`handleProtocols chooses ${label}`, async (ctx) => {
    const { port } = await ctx.server({
      handleProtocols: (set: Set<string>, req: Any) => {
        ctx.log("server", "handleProtocols", [...set], typeof req.url);
        return choose(set);
      },
    });
    const tapped = await ctx.tap(port);
    const { ws, watched } = ctx.client(`ws://127.0.0.1:${tapped}/`, ["a", "b"]);
    await watched.whenAny(["open", "close"]);
    ws.close();
    await watched.when("close");
  });
}

scenario("handleProtocols set after construction (as graphql-ws does)", async (ctx) => {
  const { wss, port } = await ctx.server();
  wss.options.handleProtocols = () => "late";
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`, ["early", "late"]);
  await watched.when("open");
  ctx.log("client", "protocol", ws.protocol);
  ws.close();
  await watched.when("close");
});

for (const deflate of [true, false]) {
  scenario(`extensions with perMessageDeflate ${deflate} on the server`, async (ctx) => {
    const { ws, watched } = await echoPair(ctx, { perMessageDeflate: deflate }, {}, (ws) => ctx.log("client", "extensions", ws.extensions));
    ws.close();
    await watched.when("close");
  });
}

scenario("perMessageDeflate with options: threshold, no context takeover", async (ctx) => {
  const deflate = { threshold: 10, serverNoContextTakeover: true, clientNoContextTakeover: true };
  const { ws, watched } = await echoPair(ctx, { perMessageDeflate: deflate }, { perMessageDeflate: deflate }, (ws) => {
    ws.send("a".repeat(100));
    ws.send("a".repeat(100));
    ws.send("short");
  });
  await watched.when("message", 3);
  ws.close();
  await watched.when("close");
});

scenario("createWebSocketStream: echo through a Duplex", async (ctx) => {
  const { wss, port } = await ctx.server();
  wss.on("connection", (ws: Any) => ws.on("message", (data: Any, isBinary: boolean) => ws.send(data, { binary: isBinary })));
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  const duplex = ctx.lib.createWebSocketStream(ws, { encoding: "utf8" });
  const chunks: string[] = [];
  duplex.on("data", (chunk: string) => chunks.push(chunk));
  duplex.write("through the stream");
  await eventually(() => chunks.length > 0, 5000, "the echo through the stream");
  ctx.log("client", "read", chunks.join(""));
  const closed = new Promise<void>((resolve) => duplex.once("close", resolve));
  duplex.end();
  await watched.when("close");
  ctx.log("client", "duplex closed", await eventOrTimeout(closed, 2000));
  ctx.log("client", "duplex destroyed", duplex.destroyed);
});

scenario("createWebSocketStream: the socket's error destroys the stream", async (ctx) => {
  const ws = new ctx.lib.WebSocket("ws://127.0.0.1:1/");
  const duplex = ctx.lib.createWebSocketStream(ws);
  await new Promise<void>((resolve) => {
    duplex.on("error", (err: unknown) => ctx.log("client", "stream error", (err as Error).message.split(" ")[0]));
    duplex.on("close", () => resolve());
  });
  ctx.log("client", "destroyed", duplex.destroyed);
});

// ------------------------------------------------------- the server's API

scenario("clientTracking: clients holds the open connections", async (ctx) => {
  const { wss, port, connections } = await ctx.server();
  // One after the other, so that the server's connections come in a known order.
  const a = ctx.client(`ws://127.0.0.1:${port}/a`, undefined, undefined, "client a");
  await a.watched.when("open");
  await eventually(() => connections.length === 1, 5000, "the server's end of /a");
  const b = ctx.client(`ws://127.0.0.1:${port}/b`, undefined, undefined, "client b");
  await b.watched.when("open");
  await eventually(() => connections.length === 2, 5000, "the server's end of /b");
  ctx.log("server", "clients", wss.clients.size);
  a.ws.close();
  await a.watched.when("close");
  await connections[0].when("close");
  ctx.log("server", "clients", wss.clients.size);
  b.ws.close();
  await b.watched.when("close");
  await connections[1].when("close");
  ctx.log("server", "clients", wss.clients.size);
});

scenario("clientTracking: false", async (ctx) => {
  const { wss, port } = await ctx.server({ clientTracking: false });
  ctx.log("server", "clients", wss.clients === undefined ? "undefined" : wss.clients.size);
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  await watched.when("open");
  ws.close();
  await watched.when("close");
});

scenario("address() and close(cb) on a port server", async (ctx) => {
  const wss = new ctx.lib.WebSocketServer({ port: 0, host: "127.0.0.1" });
  // null on Node and Deno; Bun's node:http binds at once, with either library.
  const before = wss.address();
  ctx.log("server", "address before listening", before === null ? null : "an address");
  await new Promise((resolve) => wss.once("listening", resolve));
  const address = wss.address();
  ctx.log("server", "address", address.address, address.family, typeof address.port);
  wss.on("close", () => ctx.log("server", "close event"));
  await new Promise<void>((resolve) => wss.close((err: unknown) => (ctx.log("server", "close cb", err ?? "none"), resolve())));
  await new Promise<void>((resolve) => wss.close((err: unknown) => (ctx.log("server", "second close cb", errorEntry(err)), resolve())));
});

scenario("constructor: port, server and noServer are exclusive", (ctx) => {
  for (const options of [{}, { port: 1, noServer: true }, { noServer: true, server: {} }]) {
    try {
      new ctx.lib.WebSocketServer(options);
      ctx.log("server", "accepted");
    } catch (err) {
      ctx.log("server", "threw", errorEntry(err));
    }
  }
});

scenario("noServer: address() throws, close emits close", async (ctx) => {
  const wss = new ctx.lib.WebSocketServer({ noServer: true });
  try {
    wss.address();
  } catch (err) {
    ctx.log("server", "address threw", errorEntry(err));
  }
  await new Promise<void>((resolve) => wss.close(() => (ctx.log("server", "closed"), resolve())));
});

scenario("noServer with a shared node:http server: routes by path", async (ctx) => {
  const { http, port } = await ctx.httpServer((_req, res) => res.end("plain"));
  const chat = new ctx.lib.WebSocketServer({ noServer: true });
  const feed = new ctx.lib.WebSocketServer({ noServer: true });
  ctx.defer(() => chat.close());
  ctx.defer(() => feed.close());
  for (const [name, wss] of [["chat", chat], ["feed", feed]] as const) {
    wss.on("connection", (ws: Any, req: Any) => {
      ctx.log("server", name, "connection", req.url);
      ws.send(`welcome to ${name}`);
    });
  }
  http.on("upgrade", (req: Any, socket: Any, head: Any) => {
    const path = req.url.split("?")[0];
    const target = path === "/chat" ? chat : path === "/feed" ? feed : null;
    if (target === null) {
      socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    target.handleUpgrade(req, socket, head, (ws: Any) => target.emit("connection", ws, req));
  });
  for (const path of ["/chat", "/feed"]) {
    const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}${path}`, undefined, undefined, `client ${path}`);
    await watched.when("message");
    ws.close();
    await watched.when("close");
  }
  const { watched } = ctx.client(`ws://127.0.0.1:${port}/nowhere`, undefined, undefined, "client /nowhere");
  await watched.when("close");
  const body = await new Promise<string>((resolve) =>
    httpRequest({ port, host: "127.0.0.1", path: "/" }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve(`${res.statusCode} ${text}`));
    }).end()
  );
  ctx.log("http", body);
});

scenario("server option: the WebSocketServer takes an existing node:http server's upgrades", async (ctx) => {
  const { http, port } = await ctx.httpServer();
  const wss = new ctx.lib.WebSocketServer({ server: http, path: "/ws" });
  ctx.defer(() => wss.close());
  wss.on("connection", (ws: Any, req: Any) => {
    ctx.log("server", "connection", req.url);
    ws.close(1000, "hi");
  });
  const good = ctx.client(`ws://127.0.0.1:${port}/ws?x=1`, undefined, undefined, "client /ws");
  await good.watched.when("close");
  const bad = ctx.client(`ws://127.0.0.1:${port}/other`, undefined, undefined, "client /other");
  await bad.watched.when("close");
});

scenario("a plain HTTP request to a port server gets 426", async (ctx) => {
  const { port } = await ctx.server({}, "quiet");
  const wire = await ctx.raw(port);
  wire.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  await logResponse(ctx, wire);
});

scenario("close() with connected clients: close waits for them (server mode)", async (ctx) => {
  const { http, port } = await ctx.httpServer();
  const wss = new ctx.lib.WebSocketServer({ server: http });
  wss.on("close", () => ctx.log("server", "close event", wss.clients.size));
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  await watched.when("open");
  await eventually(() => wss.clients.size === 1, 5000, "the server's end of the connection");
  const closed = new Promise<void>((resolve) => wss.once("close", resolve));
  wss.close();
  ctx.log("server", "closed, clients", wss.clients.size);
  ws.send("still open");
  ws.close();
  await watched.when("close");
  ctx.log("server", "close event within 2 s", await eventOrTimeout(closed, 2000));
});

scenario("headers event: a Set-Cookie on the 101", async (ctx) => {
  const { wss, port } = await ctx.server();
  wss.on("headers", (headers: string[], req: Any) => {
    ctx.log("server", "headers", headers.filter((h) => !h.startsWith("Sec-WebSocket-Accept")), typeof req.headers);
    headers.push("Set-Cookie: session=abc; HttpOnly");
  });
  const tapped = await ctx.tap(port);
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${tapped}/`);
  ws.on("upgrade", (res: Any) => ctx.log("client", "set-cookie", res.headers["set-cookie"]));
  await watched.when("open");
  ws.close();
  await watched.when("close");
});

// ------------------------------------------------ refused upgrades (raw)

const REFUSALS: [string, string][] = [
  ["POST", upgradeRequest("/").replace("GET", "POST")],
  ["no Upgrade header", upgradeRequest("/", [], ["Upgrade"])],
  ["Upgrade: h2c", upgradeRequest("/", ["Upgrade: h2c"], ["Upgrade"])],
  ["no key", upgradeRequest("/", [], ["Sec-WebSocket-Key"])],
  ["a short key", upgradeRequest("/", ["Sec-WebSocket-Key: c2hvcnQ="], ["Sec-WebSocket-Key"])],
  ["version 12", upgradeRequest("/", ["Sec-WebSocket-Version: 12"], ["Sec-WebSocket-Version"])],
  ["no version", upgradeRequest("/", [], ["Sec-WebSocket-Version"])],
  ["an invalid subprotocol list", upgradeRequest("/", ["Sec-WebSocket-Protocol: a,,b"])],
  ["a repeated subprotocol", upgradeRequest("/", ["Sec-WebSocket-Protocol: a, a"])],
];
for (const [label, request] of REFUSALS) {
  scenario(`refused upgrade: ${label}`, async (ctx) => {
    const { port } = await ctx.server();
    const wire = await ctx.raw(port);
    wire.write(request);
    await logResponse(ctx, wire);
  });
  scenario(`refused upgrade with a wsClientError listener: ${label}`, async (ctx) => {
    const { wss, port } = await ctx.server();
    wss.on("wsClientError", (err: Error, socket: Any, req: Any) => {
      ctx.log("server", "wsClientError", errorEntry(err), req.method);
      socket.end("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    const wire = await ctx.raw(port);
    wire.write(request);
    await logResponse(ctx, wire);
  });
}

scenario("refused upgrade: the path does not match", async (ctx) => {
  const { port } = await ctx.server({ path: "/only" });
  const wire = await ctx.raw(port);
  wire.write(upgradeRequest("/other"));
  await logResponse(ctx, wire);
});

scenario("refused upgrade: malformed Sec-WebSocket-Extensions with deflate on", async (ctx) => {
  const { port } = await ctx.server({ perMessageDeflate: true });
  const wire = await ctx.raw(port);
  wire.write(upgradeRequest("/", ["Sec-WebSocket-Extensions: permessage-deflate; ;"]));
  await logResponse(ctx, wire);
});

scenario("accepted upgrade from a raw client: the 101 as sent", async (ctx) => {
  const { port } = await ctx.server();
  const wire = await ctx.raw(port);
  wire.write(upgradeRequest("/raw", ["Sec-WebSocket-Protocol: x, y"]));
  await logResponse(ctx, wire);
  ctx.log("peer", "accept matches", SAMPLE_ACCEPT.length);
  await wire.send(rawFrame(CLOSE, code(1000)));
  await logFrames(ctx, wire);
});

const VERIFY: [string, (ctx: Ctx) => unknown][] = [
  ["sync true", () => () => true],
  ["sync false: 401", () => () => false],
  ["async true", () => (_info: unknown, done: Any) => setTimeout(() => done(true), 0)],
  ["async false: 401", () => (_info: unknown, done: Any) => done(false)],
  ["async false with 403, a message and headers", () => (_info: unknown, done: Any) =>
    done(false, 403, "Go away", { "X-Reason": "test" })],
  ["reads origin and secure", (ctx) => (info: Any) => {
    ctx.log("server", "verify", info.origin, info.secure, info.req.url);
    return info.origin === "https://example.com";
  }],
];
for (const [label, make] of VERIFY) {
  scenario(`verifyClient: ${label}`, async (ctx) => {
    const { port } = await ctx.server({ verifyClient: make(ctx) });
    const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/v`, undefined, { origin: "https://example.com" });
    await watched.whenAny(["open", "close"]);
    ws.close();
    await watched.when("close");
  });
}

scenario("handleUpgrade twice with the same socket throws", async (ctx) => {
  const { http, port } = await ctx.httpServer();
  const wss = new ctx.lib.WebSocketServer({ noServer: true });
  ctx.defer(() => wss.close());
  http.on("upgrade", (req: Any, socket: Any, head: Any) => {
    wss.handleUpgrade(req, socket, head, (ws: Any) => ws.close());
    try {
      wss.handleUpgrade(req, socket, head, () => {});
    } catch (err) {
      ctx.log("server", "threw", errorEntry(err));
    }
  });
  const { watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  await watched.when("close");
});

scenario("handleUpgrade after close() answers 503", async (ctx) => {
  const { http, port } = await ctx.httpServer();
  const wss = new ctx.lib.WebSocketServer({ noServer: true });
  wss.close();
  http.on("upgrade", (req: Any, socket: Any, head: Any) => wss.handleUpgrade(req, socket, head, () => {}));
  const { watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  await watched.when("close");
});

// -------------------------------------------- bad frames from the peer (raw)

const BAD_FRAMES: [string, () => Uint8Array][] = [
  ["RSV1 without an extension", () => rawFrame(0xc1, "x")],
  ["RSV2", () => rawFrame(0xa1, "x")],
  ["RSV3", () => rawFrame(0x91, "x")],
  ["reserved opcode 3", () => rawFrame(0x83, "x")],
  ["reserved opcode 7", () => rawFrame(0x87, "")],
  ["reserved opcode 11", () => rawFrame(0x8b, "")],
  ["reserved opcode 15", () => rawFrame(0x8f, "")],
  ["an unmasked frame", () => rawFrame(TEXT, "x", null)],
  ["a fragmented ping", () => rawFrame(0x09, "x")],
  ["a ping of 126 bytes", () => rawFrame(PING, new Uint8Array(126))],
  ["a close with a 1-byte payload", () => rawFrame(CLOSE, [3])],
  ["a close with code 999", () => rawFrame(CLOSE, code(999))],
  ["a close with code 1004", () => rawFrame(CLOSE, code(1004))],
  ["a close with code 1005", () => rawFrame(CLOSE, code(1005))],
  ["a close with code 1006", () => rawFrame(CLOSE, code(1006))],
  ["a close with code 1015", () => rawFrame(CLOSE, code(1015))],
  ["a close with code 2999", () => rawFrame(CLOSE, code(2999))],
  ["a close with code 5000", () => rawFrame(CLOSE, code(5000))],
  ["a close reason that is not UTF-8", () => rawFrame(CLOSE, [0x03, 0xe8, 0xff, 0xfe])],
  ["text that is not UTF-8", () => rawFrame(TEXT, [0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80])],
  ["a continuation with no message", () => rawFrame(0x80, "x")],
  ["a text frame inside a fragmented message", () => new Uint8Array([...rawFrame(0x01, "a"), ...rawFrame(TEXT, "b")])],
  ["a frame over maxPayload", () => rawFrame(BINARY, new Uint8Array(2000))],
  ["fragments over maxPayload in total", () => new Uint8Array([...rawFrame(0x02, new Uint8Array(800)), ...rawFrame(0x80, new Uint8Array(800))])],
  ["a 64-bit length with its top bit set", () => new Uint8Array([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4])],
];
for (const [label, frame] of BAD_FRAMES) {
  scenario(`bad frame from the peer: ${label}`, async (ctx) => {
    const { port, connections } = await ctx.server({ maxPayload: 1000 });
    const wire = await ctx.raw(port);
    wire.write(upgradeRequest("/"));
    await logResponse(ctx, wire);
    await wire.send(frame());
    await logFrames(ctx, wire, "peer", 5000, true);
    await connections[0]?.when("close");
  });
}

const GOOD_FRAMES: [string, () => Uint8Array][] = [
  ["text, ping and binary in one write", () =>
    new Uint8Array([...rawFrame(TEXT, "one"), ...rawFrame(PING, "p"), ...rawFrame(BINARY, [1, 2])])],
  ["a fragmented text with a ping between the fragments", () =>
    new Uint8Array([...rawFrame(0x01, "frag"), ...rawFrame(PING, "mid"), ...rawFrame(0x80, "ment")])],
  ["a pong nobody asked for", () => rawFrame(PONG, "unsolicited")],
  ["a message and a close in one write", () => new Uint8Array([...rawFrame(TEXT, "last words"), ...rawFrame(CLOSE, code(1000, "done"))])],
  ["an empty close", () => rawFrame(CLOSE, [])],
  ["a zero mask key", () => rawFrame(TEXT, "zero mask", [0, 0, 0, 0])],
];
for (const [label, frames] of GOOD_FRAMES) {
  scenario(`frames from the peer: ${label}`, async (ctx) => {
    const { port, connections } = await ctx.server();
    const wire = await ctx.raw(port);
    wire.write(upgradeRequest("/"));
    await logResponse(ctx, wire);
    await wire.send(frames());
    if (!label.includes("close")) await wire.send(rawFrame(CLOSE, code(1000)));
    await logFrames(ctx, wire);
    await connections[0]?.when("close");
  });
}

scenario("a server that echoes: a message and a close in one write", async (ctx) => {
  const { wss, port, connections } = await ctx.server();
  wss.on("connection", (ws: Any) =>
    ws.on("message", (data: Any, isBinary: boolean) =>
      ws.send(data, { binary: isBinary }, (err: unknown) => ctx.log("server", "echo callback", err === undefined || err === null ? "ok" : errorEntry(err)))));
  const wire = await ctx.raw(port);
  wire.write(upgradeRequest("/"));
  await logResponse(ctx, wire);
  await wire.send(new Uint8Array([...rawFrame(TEXT, "last words"), ...rawFrame(CLOSE, code(1000, "done"))]));
  await logFrames(ctx, wire);
  await connections[0]?.when("close");
});

// ----------------------------------------------- the client's handshake

const ANSWERS: [string, (head: string) => string][] = [
  ["403 with a body", () => "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope"],
  ["500", () => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"],
  ["200 to an upgrade", () => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["101 with a wrong accept", () =>
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n"],
  ["101 without Upgrade", (head) =>
    `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(head)}\r\n\r\n`],
  ["101 with a subprotocol nobody asked for", (head) =>
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(head)}\r\nSec-WebSocket-Protocol: x\r\n\r\n`],
  ["101 with an extension nobody asked for", (head) =>
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(head)}\r\nSec-WebSocket-Extensions: x-unknown\r\n\r\n`],
  ["the connection closed without an answer", () => ""],
];

function acceptOf(head: string): string {
  const key = /sec-websocket-key: *(\S+)/i.exec(head)![1];
  return createAccept(key);
}

function createAccept(key: string): string {
  // deno-lint-ignore no-explicit-any
  const { createHash } = (globalThis as any).__nodeCrypto ??= nodeCrypto;
  return createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
}
import * as nodeCrypto from "node:crypto";

for (const [label, answer] of ANSWERS) {
  for (const listen of [false, true]) {
    if (listen && !/^\d{3}/.test(label)) continue;
    scenario(`client handshake: ${label}${listen ? ", unexpected-response listened to" : ""}`, async (ctx) => {
      const port = await ctx.rawServer((socket, head) => {
        const text = answer(head);
        if (text === "") socket.destroy();
        else socket.end(text);
      });
      const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`, undefined, { perMessageDeflate: false });
      if (listen) {
        ws.on("unexpected-response", (req: Any, res: Any) => {
          ctx.log("client", "unexpected-response", res.statusCode, res.statusMessage, req.method, req.path);
          let body = "";
          res.on("data", (chunk: Any) => (body += chunk));
          res.on("end", () => {
            ctx.log("client", "body", body, res.headers["content-length"]);
            ws.terminate();
          });
        });
      }
      await watched.when("close");
    });
  }
}

scenario("client: connection refused", async (ctx) => {
  const { ws, watched } = ctx.client("ws://127.0.0.1:1/");
  ctx.log("client", "readyState", ws.readyState);
  await watched.when("close");
  ctx.log("client", "readyState", ws.readyState);
});

scenario("client: wss:// to a server whose certificate it does not trust", async (ctx) => {
  const { port } = await ctx.httpsServer();
  const { ws, watched } = ctx.client(`wss://127.0.0.1:${port}/`);
  await watched.when("close");
  ctx.log("client", "readyState", ws.readyState);
});

scenario("client: wss:// with the server's CA (ca), an echo and a close", async (ctx) => {
  const { https, port, ca } = await ctx.httpsServer();
  const wss = new ctx.lib.WebSocketServer({ server: https });
  ctx.defer(() => closeServer(wss));
  wss.on("connection", (ws: Any) => ws.on("message", (data: Any, isBinary: boolean) => ws.send(data, { binary: isBinary })));
  const { ws, watched } = ctx.client(`wss://127.0.0.1:${port}/`, undefined, { ca });
  await watched.when("open");
  ws.send("over TLS");
  await watched.when("message");
  ws.close(1000, "done");
  await watched.when("close");
});

scenario("client: ws:// to a TLS port", async (ctx) => {
  const { port } = await ctx.httpsServer();
  const { watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  await watched.when("close");
});

scenario("client: handshakeTimeout", async (ctx) => {
  const port = await ctx.rawServer(() => {});
  const { watched } = ctx.client(`ws://127.0.0.1:${port}/`, undefined, { handshakeTimeout: 100 });
  await watched.when("close");
});

scenario("client: headers, origin and the request the server sees", async (ctx) => {
  const { wss, port } = await ctx.server();
  wss.on("connection", (_ws: Any, req: Any) =>
    ctx.log("server", "request", req.headers["x-custom"], req.headers.origin, req.headers["sec-websocket-version"]));
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/h`, undefined, {
    headers: { "X-Custom": "yes" },
    origin: "https://app.example",
  });
  await watched.when("open");
  ws.close();
  await watched.when("close");
});

const REDIRECTS: [string, Record<string, unknown>, number][] = [
  ["not followed by default", {}, 1],
  ["followed", { followRedirects: true }, 1],
  ["over maxRedirects", { followRedirects: true, maxRedirects: 1 }, 2],
];
for (const [label, options, hops] of REDIRECTS) {
  scenario(`client redirect: ${label}`, async (ctx) => {
    const { port } = await ctx.server();
    let left = hops;
    const redirector = await ctx.rawServer((socket) => {
      const target = left-- > 1 ? "/again" : `ws://127.0.0.1:${port}/final`;
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${target.startsWith("/") ? `ws://127.0.0.1:${redirectorPort}${target}` : target}\r\nContent-Length: 0\r\n\r\n`);
    });
    const redirectorPort = redirector;
    const { ws, watched } = ctx.client(`ws://127.0.0.1:${redirector}/start`, undefined, options);
    await watched.whenAny(["open", "close"]);
    ctx.log("client", "url", ws.url.replace(String(port), "PORT").replace(String(redirector), "REDIRECTOR"));
    ws.close();
    await watched.when("close");
  });
}

scenario("client: ws.close() in an upgrade listener", async (ctx) => {
  const { port } = await ctx.server({}, "quiet");
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${port}/`);
  ws.on("upgrade", () => ws.close());
  await watched.when("close");
});

// ------------------------------------------------------ maxPayload both ways

scenario("maxPayload on the client: a message over it fails with 1009", async (ctx) => {
  const { wss, port, connections } = await ctx.server();
  wss.on("connection", (ws: Any) => ws.send(new Uint8Array(2048)));
  const tapped = await ctx.tap(port);
  const { watched } = ctx.client(`ws://127.0.0.1:${tapped}/`, undefined, { maxPayload: 1024 });
  await watched.when("close");
  await connections[0].when("close");
});

scenario("maxPayload on the client: fragments over it in total fail with 1009", async (ctx) => {
  const { wss, port, connections } = await ctx.server();
  wss.on("connection", (ws: Any) => {
    ws.send(new Uint8Array(600), { fin: false });
    ws.ping("between");
    ws.send(new Uint8Array(600), { fin: true });
    ws.send("not delivered");
  });
  const tapped = await ctx.tap(port);
  const { watched } = ctx.client(`ws://127.0.0.1:${tapped}/`, undefined, { maxPayload: 1024 });
  await watched.when("close");
  await connections[0].when("close");
});

for (const [label, maxFragments, frames] of [["over maxFragments", 3, 4], ["at maxFragments", 3, 3], [
  "maxFragments 0: no limit",
  0,
  40,
]] as const) {
  scenario(`maxFragments on the client: a message ${label}`, async (ctx) => {
    const { wss, port, connections } = await ctx.server();
    wss.on("connection", (ws: Any) => {
      for (let i = 1; i <= frames; i++) ws.send(`f${i}`, { fin: i === frames });
      ws.send("after");
    });
    const tapped = await ctx.tap(port);
    const { ws, watched } = ctx.client(`ws://127.0.0.1:${tapped}/`, undefined, { maxFragments });
    await watched.whenAny(["close", "message"], frames > maxFragments && maxFragments > 0 ? 1 : 2);
    ws.close();
    await watched.when("close");
    await connections[0].when("close");
  });
}

scenario("maxFragments on the server: a peer's message with too many frames fails with 1008", async (ctx) => {
  const { port, connections } = await ctx.server({ maxFragments: 2 });
  const wire = await ctx.raw(port);
  wire.write(upgradeRequest("/"));
  await logResponse(ctx, wire);
  await wire.send(new Uint8Array([...rawFrame(0x01, "a"), ...rawFrame(0x00, "b"), ...rawFrame(0x80, "c")]));
  await logFrames(ctx, wire, "peer", 5000, true);
  await connections[0]?.when("close");
});

scenario("maxPayload on the sender: a longer message is still sent", async (ctx) => {
  const { wss, port, connections } = await ctx.server({ maxPayload: 4 });
  wss.on("connection", (ws: Any) => ws.send(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])));
  const tapped = await ctx.tap(port);
  const { ws, watched } = ctx.client(`ws://127.0.0.1:${tapped}/`);
  ws.binaryType = "fragments";
  await watched.when("message");
  ws.close();
  await watched.when("close");
  await connections[0].when("close");
});

scenario("maxPayload on the server: a message at the limit passes", async (ctx) => {
  const { ws, watched } = await echoPair(ctx, { maxPayload: 1024 }, {}, (ws) => ws.send(new Uint8Array(1024)));
  await watched.when("message");
  ws.close();
  await watched.when("close");
});

export { scenarios };
