// Promises the README makes that no other test held it to: requiring a
// subprotocol with verify (selectProtocol alone cannot, Gerbil's rule), what
// recv returns after a close, answering messages that arrive with the peer's
// close, the defaults it states, http: URLs, and the command line's exit code
// for a close without error. And the README's runnable examples themselves,
// extracted from it and run as programs with only the import, ports and URLs
// rewritten (the reconnecting ones run in tests/reconnecting.test.ts).
import { assertBytesEqual, describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import {
  connect,
  ConnectionClosedError,
  type ConnectOptions,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_COMPRESSION_THRESHOLD,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_MEM_LEVEL,
  DEFAULT_SERVER_WINDOW_BITS,
  DEFAULT_MAX_MESSAGE_SIZE,
  HandshakeError,
  Message,
  type WebSocketConnection,
} from "../mod.ts";
import { DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT } from "../src/connection/options.ts";
import { createServer as createTcpServer, type Socket } from "node:net";
import { RawPeer, rawFrame } from "./_helpers.ts";
import { type Finished, run, type Started } from "./_spawn.ts";
import { exchange, KINDS, start, type StartOptions } from "./_server.ts";
import { codeBlocks, programOf, section, startProgram } from "./_readme.ts";
import { freePort, RedisServer, redisServerBinary } from "./_redis.ts";

const redisBinary = redisServerBinary();

for (const kind of KINDS) {
  describe(`requiring a subprotocol, the README's recipe (${kind})`, () => {
    test("a client that offers none is refused by verify with 400; selectProtocol is never asked", async (t) => {
      const asked: string[][] = [];
      // The README's recipe, as written there.
      const options: StartOptions = {
        selectProtocol: (offered) => {
          asked.push(offered);
          return offered.includes("chat.v1") ? "chat.v1" : null;
        },
        verify: (request) => request.protocols.length > 0 || { status: 400, body: "Offer the chat.v1 subprotocol" },
      };
      const running = await start(t, kind, async (ws) => {
        for await (const msg of ws) await ws.sendAll(msg);
      }, options);
      const url = `ws://127.0.0.1:${running.port}/`;
      const none = await connect(url).then(() => null, (e: unknown) => e);
      assert.ok(none instanceof HandshakeError, String(none));
      assert.equal(none.status, 400);
      assert.equal(new TextDecoder().decode(none.body).trim(), "Offer the chat.v1 subprotocol");
      assert.match(none.message, /400 Bad Request \(Offer the chat\.v1 subprotocol\)$/);
      assert.deepEqual(asked, [], "selectProtocol is not called when the client offers none");

      await assert.rejects(connect(url, { protocol: "chat.v0" }), { name: "HandshakeError", status: 400 });
      const ws = await connect(url, { protocol: ["chat.v2", "chat.v1"] });
      assert.equal(ws.protocol, "chat.v1");
      await ws.send("hi");
      assert.equal((await ws.recvAll()).data, "hi");
      await ws.close();
      assert.deepEqual(asked, [["chat.v0"], ["chat.v2", "chat.v1"]]);
    });

    test("without verify, selectProtocol alone lets a client that offers none in", async (t) => {
      const running = await start(t, kind, (ws) => ws.closed.then(() => {}), {
        selectProtocol: (offered) => offered.includes("chat.v1") ? "chat.v1" : null,
      });
      const ws = await connect(`ws://127.0.0.1:${running.port}/`);
      assert.equal(ws.protocol, null);
      await ws.close();
    });
  });
}

describe("recv after close", () => {
  test("after our close(): the unread frames, the peer's close frame once, then ConnectionClosedError", async (t) => {
    let echoed!: () => void;
    const echoSent = new Promise<void>((resolve) => (echoed = resolve));
    const running = await start(t, "serve", async (ws) => {
      for await (const msg of ws) {
        await ws.sendAll(msg);
        echoed();
      }
    });
    const ws = await connect(`ws://127.0.0.1:${running.port}/`);
    t.after(() => ws.terminate());
    await ws.send("unread");
    // The echo is written before our close reaches the server, so it arrives
    // before the server's close frame and stays unread in the inbox.
    await withTimeout(echoSent, 5000, "the server's echo of \"unread\"");
    assert.deepEqual(await withTimeout(ws.close(1000, "bye"), 10_000, "close"), {
      code: 1000,
      reason: "",
      wasClean: true,
    });
    assert.equal((await ws.recv()).data, "unread");
    const close = await ws.recv();
    assert.equal(close.type, "close");
    assert.equal(close.code, 1000); // the peer's answer echoes our code
    await assert.rejects(ws.recv(), (err: unknown) => err instanceof ConnectionClosedError && err.closeCode === 1000);
    await assert.rejects(ws.recv(), ConnectionClosedError);
    await assert.rejects(ws.send("late"), ConnectionClosedError);
  });

  test("after the peer's close: its close frame once, then ConnectionClosedError", async (t) => {
    const running = await start(t, "serve", (ws) => ws.close(4000, "server done").then(() => {}));
    const ws = await connect(`ws://127.0.0.1:${running.port}/`);
    const close = await withTimeout(ws.recv(), 10_000, "recv");
    assert.equal(close.type, "close");
    assert.equal(close.code, 4000);
    assert.equal(close.data, "server done");
    await assert.rejects(ws.recv(), (err: unknown) => err instanceof ConnectionClosedError && err.closeCode === 4000);
    assert.equal((await ws.closed).code, 4000);
  });

  test("when the peer never answers our close: no close frame, recv rejects with 1006", async (t) => {
    const peer = new RawPeer(t, "server", { closeTimeout: 100 });
    const info = await withTimeout(peer.ws.close(1000), 5000, "close");
    assert.equal(info.code, 1006);
    await assert.rejects(
      peer.ws.recv(),
      (err: unknown) => err instanceof ConnectionClosedError && err.closeCode === 1006,
    );
  });
});

describe("the defaults the README states", () => {
  test("maxFrameSize 1 MiB, maxMessageSize 64 MiB, closeTimeout 5 s, keepalive 20 s + 20 s, handshakeTimeout 10 s, threshold 1 KiB, a server's 12-bit windows and memLevel 5", async (t) => {
    assert.equal(DEFAULT_MAX_FRAME_SIZE, 1024 * 1024);
    assert.equal(DEFAULT_PING_INTERVAL, 20_000);
    assert.equal(DEFAULT_PING_TIMEOUT, 20_000);
    assert.equal(DEFAULT_MAX_MESSAGE_SIZE, 64 * 1024 * 1024);
    assert.equal(DEFAULT_CLOSE_TIMEOUT, 5000);
    assert.equal(DEFAULT_HANDSHAKE_TIMEOUT, 10_000);
    assert.equal(DEFAULT_COMPRESSION_THRESHOLD, 1024);
    assert.equal(DEFAULT_SERVER_WINDOW_BITS, 12);
    assert.equal(DEFAULT_MEM_LEVEL, 5);
    let serverSide = 0;
    const running = await start(t, "serve", (ws) => {
      serverSide = ws.maxFrameSize;
      return ws.closed.then(() => {});
    });
    const ws = await connect(`ws://127.0.0.1:${running.port}/`);
    assert.equal(ws.maxFrameSize, 1048576);
    await ws.close();
    assert.equal(serverSide, 1048576);
  });
});

describe("connect takes http: URLs as ws:", () => {
  test("http://127.0.0.1:port/ opens a WebSocket connection", async (t) => {
    const running = await start(t, "serve", async (ws) => {
      for await (const msg of ws) await ws.sendAll(msg);
    });
    const ws = await connect(`http://127.0.0.1:${running.port}/`);
    await ws.send("over http:");
    assert.equal((await ws.recvAll()).data, "over http:");
    await ws.close();
  });
});

describe("the command line's exit codes", () => {
  test("a close with 1001 or with no status code exits 0", async (t) => {
    const running = await start(t, "serve", async (ws, request) => {
      await ws.recv(); // the client's first line
      if (request.url === "/going-away") await ws.close(1001, "shutting down");
      else await ws.send(new Message("", "close")); // an empty close payload: no status code (1005)
      await ws.closed;
    });
    for (const [path, code] of [["/going-away", 1001], ["/no-status", 1005]] as const) {
      const result = await run("src/cli/main.ts", ["connect", `ws://127.0.0.1:${running.port}${path}`], { input: "x\n" });
      assert.equal(result.code, 0, `${path}: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`^< close ${code}`, "m"));
    }
  });
});

describe("connect holds the response head to 16 KiB and 100 fields", () => {
  for (
    const [what, head] of [
      ["a head over 16 KiB", `HTTP/1.1 101 Switching Protocols\r\nX-Filler: ${"a".repeat(17 * 1024)}\r\n`],
      ["more than 100 fields", `HTTP/1.1 101 Switching Protocols\r\n${"X-F: 1\r\n".repeat(101)}`],
    ]
  ) {
    test(`${what} fails the handshake at once, without waiting for the head's end`, async (t) => {
      const sockets = new Set<Socket>();
      const server = createTcpServer((socket) => {
        sockets.add(socket);
        socket.on("error", () => {});
        socket.once("data", () => socket.write(head)); // and never ends the head
      });
      t.after(() => {
        for (const socket of sockets) socket.destroy();
        server.close();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as { port: number };
      const err = await withTimeout(
        connect(`ws://127.0.0.1:${port}/`, { timeout: 20_000 }).then(() => null, (e: unknown) => e),
        10_000,
        "connect",
      );
      assert.ok(err instanceof HandshakeError, String(err));
      assert.equal(err.code, "ERR_HANDSHAKE_MALFORMED");
    });
  }
});

describe("serve answers more than maxHeaders fields with 431 as soon as the limit is crossed", () => {
  test("101 field lines of a head that never ends", async (t) => {
    const running = await start(t, "serve", () => {});
    const head = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n${"X-F: 1\r\n".repeat(100)}`; // no blank line
    const response = await withTimeout(exchange(running.port, head), 5000, "the answer");
    assert.equal(response.startLine, "HTTP/1.1 431 Request Header Fields Too Large");
  });
});

describe("a reply after the peer's close was answered", () => {
  test("is refused with ConnectionClosedError and never follows our close frame", async (t) => {
    const peer = new RawPeer(t, "server", { closeTimeout: 1000 });
    let closeFrameRead!: () => void;
    const afterOurCloseFrame = new Promise<void>((resolve) => (closeFrameRead = resolve));
    let replied!: Promise<unknown>;
    const reading = (async () => {
      for await (const msg of peer.ws) {
        // The application answers only once our close frame is on the wire.
        await afterOurCloseFrame;
        replied = peer.ws.send(msg).then(() => null, (err) => err);
      }
    })();
    await peer.write(rawFrame(0x81, "late"), rawFrame(0x88, [0x03, 0xe8]));
    const close = await peer.expectFrame();
    assert.equal(close.opcode, 8, "the close came first: the reply was not sent before it");
    closeFrameRead();
    await withTimeout(reading, 5000, "the end of the for await loop after the peer's close");
    const err = await replied;
    assert.ok(err instanceof ConnectionClosedError, String(err));
    assert.equal(await peer.readEnd(), true);
    assert.equal(await peer.readFrame(), null, "nothing after our close frame");
  });
});

/** An echo server on this process for the client examples, closed when `t` ends; records the request targets. */
async function echoServer(t: Owner): Promise<{ port: number; targets: string[] }> {
  const targets: string[] = [];
  const running = await start(t, "serve", async (ws, request) => {
    targets.push(request.url);
    for await (const msg of ws) await ws.sendAll(msg);
  });
  return { port: running.port, targets };
}

/** Runs a README block as a program to its end (killed after `timeout` ms); its output. */
function runBlock(t: Owner, code: string, replace: [string, string][] = [], timeout = 30_000): Promise<Finished> {
  return startProgram(t, programOf(code, replace)).finished(timeout);
}

/** Starts a README block as a long-running program (a server), stopped by its PID when `t` ends. */
function startBlock(t: Owner, code: string, replace: [string, string][], env: Record<string, string> = {}): Started {
  return startProgram(t, programOf(code, replace), env);
}

/**
 * connect, retried while the port refuses (a program that does not say when
 * it listens), for up to 10 s; the connection is dropped when `t` ends.
 */
async function connectWhenListening(t: Owner, url: string): Promise<WebSocketConnection> {
  let ws: WebSocketConnection | null = null;
  const connected = async () => {
    try {
      ws = await connect(url, { pingInterval: 0 });
      t.after(() => ws!.terminate());
      return true;
    } catch (err) {
      if ((err as { code?: string }).code !== "ECONNREFUSED") throw err;
      return false;
    }
  };
  await eventually(connected, 10_000, `${url} accepting connections`);
  return ws!;
}

/** A redis-server of its own on a free port, killed by its PID when `t` ends. */
async function startRedis(t: Owner): Promise<RedisServer> {
  return await RedisServer.startFor(t, redisBinary!);
}

/** connect, the connection dropped when `t` ends (a clean close is the test's to do). */
async function connectFor(t: Owner, url: string, options: ConnectOptions = {}): Promise<WebSocketConnection> {
  const ws = await connect(url, options);
  t.after(() => ws.terminate());
  return ws;
}

function blockUnder(heading: string, index = 0, lang?: string): string {
  const blocks = codeBlocks(section(heading)).filter((b) => lang === undefined || b.lang === lang);
  if (blocks[index] === undefined) throw new Error(`No block ${index} under ${JSON.stringify(heading)}`);
  return blocks[index].code;
}

describe("the README's examples, run as they are written", () => {
  test("Quickstart: the echo prints hello, then a clean close with 1000", async (t) => {
    const done = await runBlock(t, blockUnder("Quickstart", 0, "ts"));
    assert.equal(done.code, 0, done.stderr);
    const [first, ...rest] = done.stdout.trim().split("\n");
    assert.equal(first, "hello");
    // Each runtime prints the object its own way: { code: 1000, reason: "", wasClean: true }.
    assert.match(rest.join(" "), /code: 1000,\s+reason: ["']["'],\s+wasClean: true/);
  });

  test("connect: the echo comes back, and the URL's fragment is never sent", async (t) => {
    const server = await echoServer(t);
    const done = await runBlock(t, blockUnder("The client: `connect`", 0), [["ws://127.0.0.1:8080", `ws://127.0.0.1:${server.port}`]]);
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.stdout.trim(), "hello");
    assert.deepEqual(server.targets, ["/chat?room=1"]);
  });

  test("connect's errors: ConnectError ECONNREFUSED as the comment says, and a HandshakeError's status", async (t) => {
    const code = blockUnder("The client: `connect`", 2);
    const refusedPort = await freePort();
    const refused = await runBlock(t, code, [["127.0.0.1:8080", `127.0.0.1:${refusedPort}`]]);
    assert.equal(refused.code, 0, refused.stderr);
    assert.equal(refused.stdout.trim(), `ECONNREFUSED Connection refused by 127.0.0.1:${refusedPort}`);
    const running = await start(t, "node:http", () => {}, { verify: () => ({ status: 403, body: "members only" }) });
    const forbidden = await runBlock(t, code, [["127.0.0.1:8080", `127.0.0.1:${running.port}`]]);
    assert.equal(forbidden.code, 0, forbidden.stderr);
    assert.match(forbidden.stdout.trim(), /^403 text\/plain.* members only$/);
  });

  // The three echo servers of "The server" (Deno, Bun and Node spellings),
  // each on this runtime: serve and node:http's upgrade echo what sendAll
  // fragments, and a single frame over 1 MiB fails with 1009 as the comments say.
  for (const [index, spelling] of [[0, "Deno"], [1, "Bun"], [2, "Node"]] as const) {
    test(`The server: the ${spelling} echo server answers on both ports, within its limits`, async (t) => {
      const block = codeBlocks(section("The server")).filter((b) => b.lang === "ts" || b.lang === "js")[index];
      const [servePort, httpPort] = [await freePort(), await freePort()];
      const program = startBlock(t, block.code, [
        ["serve({ port: 8080 }", `serve({ port: ${servePort}, hostname: "127.0.0.1" }`],
        ["http.listen(8081,", `http.listen(${httpPort}, "127.0.0.1",`],
        ["localhost:8081", `localhost:${httpPort}`],
      ]);
      await program.waitFor(new RegExp(`serve: ws://localhost:${servePort}/`));
      await program.waitFor(new RegExp(`node:http: ws://localhost:${httpPort}/`));
      for (const port of [servePort, httpPort]) {
        const big = new Uint8Array(2 << 20).fill(7);
        const ws = await connectFor(t, `ws://127.0.0.1:${port}/`);
        await ws.sendAll(big); // two frames of 1 MiB
        const echo = await withTimeout(ws.recvAll(), 10_000, "the echo of 2 MiB");
        assertBytesEqual(echo.data, big, "the echo of 2 MiB");
        await ws.close();
        // One frame of 2 MiB: over the server's maxFrameSize.
        const oneFrame = await connectFor(t, `ws://127.0.0.1:${port}/`, { maxFrameSize: 4 << 20 });
        await oneFrame.send(big);
        assert.equal((await withTimeout(oneFrame.closed, 10_000, "the 1009")).code, 1009);
      }
    });
  }

  test("Topics: a message reaches the others in the room, not the sender nor another room", async (t) => {
    const port = await freePort();
    const program = startBlock(t, blockUnder("Topics: publish/subscribe, across cores and machines", 0), [
      ["serve({ port: 8080 }", `serve({ port: ${port}, hostname: "127.0.0.1" }`],
    ]);
    await program.waitFor(/^0$/m); // subscriberCount("/lobby") before anyone joined
    // The example does not await server.ready: connect once it listens.
    const alice = await connectWhenListening(t, `ws://127.0.0.1:${port}/lobby`);
    const [bob, carol] = await Promise.all(
      ["/lobby", "/dev"].map((path) => connectFor(t, `ws://127.0.0.1:${port}${path}`, { pingInterval: 0 })),
    );
    // Joined: a publish from alice reaches bob; carol is in /dev.
    await alice.send("hi lobby");
    assert.equal((await withTimeout(bob.recvAll(), 5000, "bob's message from alice")).data, "hi lobby");
    await carol.send("hi dev");
    await bob.send("bye");
    assert.equal(
      (await withTimeout(alice.recvAll(), 5000, "alice's message from bob")).data,
      "bye",
      "the sender is skipped, other rooms too",
    );
    await Promise.all([alice.close(), bob.close(), carol.close()]);
  });

  test("Compression: the client's ws.extensions says permessage-deflate", async (t) => {
    const port = await freePort();
    const code = blockUnder("Compression (permessage-deflate)", 0) + "\nawait ws.close();\nawait server.close();\n";
    const done = await runBlock(t, code, [
      ["serve({ port: 8080 }", `serve({ port: ${port}, hostname: "127.0.0.1" }`],
      ["ws://127.0.0.1:8080/", `ws://127.0.0.1:${port}/`],
    ]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout.trim(), /^permessage-deflate/);
  });

  test("the Redis backplane: two processes of the example form one chat", { skip: redisBinary === null }, async (t) => {
    const redis = await startRedis(t);
    const code = blockUnder("Across processes and machines: the Redis backplane", 0);
    const ports = [await freePort(), await freePort()];
    for (const port of ports) {
      const program = startProgram(
        t,
        programOf(code, [["redis://127.0.0.1:6379", redis.url]]) + `\nconsole.log("listening");\n`,
        { PORT: String(port) },
      );
      await program.waitFor(/listening/);
    }
    const a = await connectWhenListening(t, `ws://127.0.0.1:${ports[0]}/room`);
    const b = await connectWhenListening(t, `ws://127.0.0.1:${ports[1]}/room`);
    // Subscriptions reach Redis asynchronously: send until one crosses (200 ms a try).
    let got: string | null = null;
    const crossing = b.recvAll().then((m) => (got = m.data as string));
    for (let i = 0; i < 50 && got === null; i++) {
      await a.send(`across ${i}`);
      await withTimeout(crossing, 200, "a message across").catch(() => {});
    }
    assert.match(got ?? "", /^across \d+$/, "a message from one process reached a client of the other");
    await Promise.all([a.close(), b.close()]);
  });
});
