// reconnecting(): our server stopped and restarted under a client reading a
// stream of messages; the README's loops, as written there, surviving a
// server process killed with SIGKILL and started again, and the nested loop
// surviving a reset and a keepalive timeout; what is not retried (4xx, TLS
// verification, bad URL); Retry-After; the backoff reset; abort ending the
// loop with nothing left.
import { describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { createServer as createNetServer } from "node:net";
import { HandshakeError, ProxyError } from "../src/errors.ts";
import { isRetryable, type ReconnectAttempt, reconnecting, retryAfterDelay } from "../src/client/reconnecting.ts";
import { connect } from "../src/client/connect.ts";
import { serve, type Server } from "../src/server/serve.ts";
import { testCertificate } from "./_tls.ts";
import { codeBlocks, programOf, section, startProgram } from "./_readme.ts";
import { type Started, start } from "./_spawn.ts";
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { computeAccept } from "../src/handshake/key.ts";
import { HttpHeadParser } from "../src/handshake/http.ts";
import { rawFrame } from "./_helpers.ts";
import { ManualClock } from "./_clock.ts";

/** A server that sends 0, 1, 2... every 20 ms to each connection; closed when `t` ends. */
async function counterServer(t: Owner, port = 0): Promise<Server> {
  const server = serve({ hostname: "127.0.0.1", port, shutdownTimeout: 1000 }, async (ws) => {
    // Until send fails: the connection is closed.
    for (let i = 0;; i++) {
      try {
        await ws.send(String(i));
      } catch {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 0)); // a turn for the rest, no pace needed
    }
  });
  t.after(() => server.close());
  await server.ready;
  return server;
}

/** A TCP server that answers every request with `response`; counts requests. Closed when `t` ends. */
async function answering(t: Owner, response: string) {
  let requests = 0;
  const server = createNetServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", () => {
      requests++;
      socket.end(response);
    });
  });
  t.after(() => server.close());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, requests: () => requests };
}

describe("reconnecting", () => {
  test("survives the server being stopped and restarted mid-stream", async (t) => {
    let server = await counterServer(t);
    const port = server.port;
    const attempts: ReconnectAttempt[] = [];
    const controller = new AbortController();
    t.after(() => controller.abort());
    let restarting: Promise<void> | null = null;
    t.after(() => restarting);
    const received: string[][] = [];
    const run = async () => {
      for await (
        const ws of reconnecting(`ws://127.0.0.1:${port}/`, {
          initialDelay: 50,
          factor: 2,
          maxDelay: 200,
          pingInterval: 0,
          signal: controller.signal,
          onAttempt: (attempt) => {
            attempts.push(attempt);
            // Bring the server back after two refused attempts.
            if (attempts.filter((a) => a.error !== undefined).length === 2) {
              restarting = counterServer(t, port).then((s) => void (server = s));
            }
          },
        })
      ) {
        const messages: string[] = [];
        received.push(messages);
        for await (const message of ws) {
          messages.push(message.data as string);
          if (received.length === 1 && messages.length === 5) void server.close();
          if (received.length === 2 && messages.length === 3) controller.abort();
        }
      }
    };
    await withTimeout(run(), 20_000, "the reconnecting loop");
    // The abort closed the open connection: the server sees none left.
    await eventually(() => server.connections === 0, 2000, "the restarted server to see no connection left");
    assert.equal(received.length, 2, "two connections");
    assert.deepEqual(received[0].slice(0, 5), ["0", "1", "2", "3", "4"]);
    assert.deepEqual(received[1].slice(0, 3), ["0", "1", "2"]);
    assert.equal(attempts[0].attempt, 1);
    assert.equal(attempts[0].delay, 0);
    assert.equal(attempts[1].closed?.code, 1001, "the first connection ended with the server going away");
    const failed = attempts.filter((a) => a.error !== undefined);
    assert.ok(failed.length >= 2, `refused attempts: ${failed.length}`);
    for (const a of attempts) assert.ok(a.delay <= 200, `delay ${a.delay} exceeds maxDelay`);
    assert.deepEqual(
      attempts.map((a) => a.attempt),
      attempts.map((_, i) => i + 1),
      "the short-lived connection did not reset the backoff",
    );
  });

  test("a connection that lived resetAfter resets the backoff: attempt 1 again, at once", async (t) => {
    // The client says when its connection has lived resetAfter on its clock; the server then closes it.
    const server = serve({ hostname: "127.0.0.1", port: 0 }, async (ws) => {
      await ws.recv();
      await ws.close(1012, "restarting");
    });
    const clock = new ManualClock();
    t.after(() => server.close());
    await server.ready;
    const attempts: ReconnectAttempt[] = [];
    let connections = 0;
    for await (
      const ws of reconnecting(`ws://127.0.0.1:${server.port}/`, {
        resetAfter: 10,
        pingInterval: 0,
        clock,
        onAttempt: (a) => attempts.push(a),
      })
    ) {
      await clock.advance(10);
      await ws.send("lived resetAfter");
      await withTimeout(ws.closed, 5000, "server's close");
      if (++connections === 3) break;
    }
    assert.deepEqual(attempts.map((a) => [a.attempt, a.delay]), [[1, 0], [1, 0], [1, 0]]);
    assert.equal(attempts[1].closed?.code, 1012);
  });

  test("a 403 is not retried: the loop throws the HandshakeError after one attempt", async (t) => {
    const server = await answering(t, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    const loop = async () => {
      for await (const _ of reconnecting(`ws://127.0.0.1:${server.port}/`, { initialDelay: 10 })) {
        assert.fail("connected");
      }
    };
    const err = await withTimeout(loop(), 10_000, "the loop").then(() => assert.fail("loop ended"), (e) => e);
    assert.ok(err instanceof HandshakeError && err.status === 403, String(err));
    assert.equal(server.requests(), 1);
  });

  test("a 503's Retry-After sets the next delay; abort during the wait ends the loop at once", async (t) => {
    const server = await answering(t, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n");
    const controller = new AbortController();
    t.after(() => controller.abort());
    const attempts: ReconnectAttempt[] = [];
    const loop = async () => {
      for await (
        const _ of reconnecting(`ws://127.0.0.1:${server.port}/`, {
          initialDelay: 10,
          signal: controller.signal,
          onAttempt: (a) => {
            attempts.push(a);
            // onAttempt runs just before the wait: a turn later the loop is waiting.
            if (a.attempt === 2) setTimeout(() => controller.abort(), 0);
          },
        })
      ) {
        assert.fail("connected");
      }
    };
    const started = Date.now();
    await withTimeout(loop(), 10_000, "the loop");
    assert.ok(Date.now() - started < 10_000);
    assert.equal(attempts.length, 2);
    assert.equal(attempts[1].delay, 30_000);
    assert.equal((attempts[1].error as HandshakeError).status, 503);
  });

  test("a certificate that fails verification is not retried", async (t) => {
    const cert = await testCertificate();
    const server = serve({ hostname: "127.0.0.1", port: 0, tls: cert }, (ws) => void ws.close());
    t.after(() => server.close());
    await server.ready;
    const attempts: ReconnectAttempt[] = [];
    const loop = async () => {
      for await (const _ of reconnecting(`wss://127.0.0.1:${server.port}/`, { onAttempt: (a) => attempts.push(a) })) {
        assert.fail("connected without trusting the certificate");
      }
    };
    const err = await withTimeout(loop(), 10_000, "the loop").then(() => assert.fail("loop ended"), (e) => e);
    assert.ok(!isRetryable(err), `${err} (code ${(err as { code?: string }).code})`);
    assert.equal(attempts.length, 1);
  });

  test("abort during an attempt ends the loop and closes the attempt's socket", async (t) => {
    let onClosed: () => void;
    const closed = new Promise<void>((resolve) => (onClosed = resolve));
    const controller = new AbortController();
    // Aborted once the attempt's request reached the server: the attempt is under way.
    const silent = createNetServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", () => controller.abort());
      socket.resume();
      socket.once("close", () => onClosed());
    });
    t.after(() => silent.close());
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    t.after(() => controller.abort());
    const port = (silent.address() as { port: number }).port;
    const loop = async () => {
      for await (
        const _ of reconnecting(`ws://127.0.0.1:${port}/`, {
          signal: controller.signal,
        })
      ) {
        assert.fail("connected to a server that never answers");
      }
    };
    await withTimeout(loop(), 10_000, "the loop");
    await withTimeout(closed, 5000, "the server seeing the attempt's socket close");
  });

  test("a bad URL throws at once", async () => {
    const iterator = reconnecting("ftp://127.0.0.1/")[Symbol.asyncIterator]();
    await assert.rejects(iterator.next(), TypeError);
  });

  test("isRetryable and Retry-After parsing", () => {
    assert.equal(isRetryable(new HandshakeError("", { status: 429 })), true);
    assert.equal(isRetryable(new HandshakeError("", { status: 404 })), false);
    assert.equal(isRetryable(new HandshakeError("", { status: 502 })), true);
    assert.equal(isRetryable(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })), true);
    assert.equal(isRetryable(new TypeError("bad")), false);
    const selfSigned = Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" });
    assert.equal(
      isRetryable(new ProxyError("Cannot reach proxy", { code: "ERR_PROXY_UNREACHABLE", cause: selfSigned })),
      false,
    );
    assert.equal(isRetryable(new ProxyError("Proxy refused: 502", { status: 502 })), true);
    assert.equal(isRetryable(new ProxyError("Proxy refused: 403", { status: 403 })), false);
    assert.equal(retryAfterDelay("120"), 120_000);
    assert.equal(retryAfterDelay("Wed, 21 Oct 2015 07:28:10 GMT", Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")), 10_000);
    assert.equal(retryAfterDelay("soon"), 0);
    assert.equal(retryAfterDelay(null), 0);
  });
});

/** The feed fixture as its own process on `port` (0: any), stopped when `t` ends; resolves once it listens. */
async function feedProcess(t: Owner, name: string, port: number): Promise<{ process: Started; port: number }> {
  const feed = start(t, "tests/fixtures/feed_server.ts", [], { PORT: String(port), NAME: name });
  const [, listening] = await feed.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)\//);
  return { process: feed, port: Number(listening) };
}

/** The first `@example` of `reconnecting`'s doc comment, as code. */
function jsdocExample(): string {
  const source = readFileSync(new URL("../src/client/reconnecting.ts", import.meta.url), "utf8");
  const at = source.indexOf("@example A feed that survives server crashes and restarts");
  const block = source.slice(at).match(/```ts[^\n]*\n([\s\S]*?) \* ```/);
  if (at < 0 || block === null) throw new Error("reconnecting's doc comment lost its example");
  return block[1].split("\n").map((line) => line.replace(/^ \* ?/, "")).join("\n");
}

describe("the documented reconnecting loops, as written, against a server process killed with SIGKILL", () => {
  const readme = codeBlocks(section("Reconnecting: `reconnecting`")).filter((b) => b.lang === "ts");
  const programs: [string, string, string, RegExp][] = [
    // [where, code, its URL, what shows the client is reading]
    ["the README's feed loop", readme[0].code, "wss://api.test/feed", /second tick \d+/],
    ["the JSDoc example of reconnecting", jsdocExample(), "wss://example.test/feed", /second tick \d+/],
    // The body that answers: the restarted server prints the acks it gets.
    ["the README's answering loop", readme[1].code, "wss://api.test/rpc", /got ack second tick \d+/],
  ];
  for (const [where, code, url, reading] of programs) {
    test(`${where} keeps going after the server is killed and started again`, { timeout: 90_000 }, async (t) => {
      assert.match(code, /for await \(const \w+ of ws\)/, "the nested loop");
      const first = await feedProcess(t, "first", 0);
      const client = startProgram(t, programOf(code, [[url, `ws://127.0.0.1:${first.port}/`]]));
      const answers = where.includes("answering");
      await (answers ? first.process.waitFor(/got ack first tick 3/) : client.waitFor(/first tick 3/));
      const killed = await first.process.kill();
      assert.equal(killed.signal, "SIGKILL");
      if (!answers) {
        // onAttempt's line: how the connection ended, and a delay in whole milliseconds.
        const [, delay] = await client.waitFor(/attempt \d+ in (\S+) ms/);
        assert.match(delay, /^\d+$/, "onAttempt's delay is rounded");
      }
      const second = await feedProcess(t, "second", first.port);
      await (answers ? second.process.waitFor(reading, 30_000) : client.waitFor(reading, 30_000));
      assert.equal(client.process.exitCode, null, `the client exited:\n${client.stdout}\n${client.stderr}`);
      assert.doesNotMatch(client.stderr, /Error/, "nothing thrown out of the loop");
    });
  }
});

/**
 * A raw WebSocket server whose first connection ends badly (`breakFirst`)
 * after one message, "first"; later connections get "again" and a clean
 * close. `breakFirst` gets the socket and a promise of `delivered()`, which
 * the test calls once its client has read "first". Closed, with its
 * connections, when `t` ends.
 */
async function breakingServer(t: Owner, breakFirst: (socket: Socket, delivered: Promise<void>) => void) {
  let delivered!: () => void;
  const firstDelivered = new Promise<void>((resolve) => (delivered = resolve));
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const n = ++connections;
    const parser = new HttpHeadParser();
    const onData = async (chunk: Uint8Array) => {
      const head = parser.push(new Uint8Array(chunk));
      if (head === null) return;
      socket.off("data", onData);
      const accept = await computeAccept(head.headers.get("sec-websocket-key")!);
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      if (n === 1) {
        socket.write(rawFrame(0x81, "first", null));
        breakFirst(socket, firstDelivered);
      } else {
        socket.write(rawFrame(0x81, "again", null));
        // A clean close: the close frame, then the server closes TCP first (§7.1.1).
        socket.end(rawFrame(0x88, [0x03, 0xe8], null));
        socket.resume();
      }
    };
    socket.on("data", onData);
  });
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, delivered };
}

describe("the nested for await inside reconnecting ends normally however the connection ends", () => {
  const cases: [string, (socket: Socket, delivered: Promise<void>) => void, number, { pingInterval: number; pingTimeout?: number }][] = [
    // A reset (RST) once the client has read the first message (earlier, the RST could discard it).
    ["a reset", (socket, delivered) => void delivered.then(() => socket.resetAndDestroy()), 1006, { pingInterval: 0 }],
    // Alive but mute: never reads, never answers the keepalive ping.
    ["a keepalive timeout", (socket) => socket.pause(), 1011, { pingInterval: 100, pingTimeout: 100 }],
  ];
  for (const [what, breakFirst, code, keepalive] of cases) {
    test(`${what}: the loop goes on to the next connection; onAttempt and closed say how the first ended`, async (t) => {
      const server = await breakingServer(t, breakFirst);
      const seen: string[] = [];
      const attempts: ReconnectAttempt[] = [];
      const closed: number[] = [];
      const controller = new AbortController();
      t.after(() => controller.abort());
      await withTimeout((async () => {
        for await (
          const ws of reconnecting(`ws://127.0.0.1:${server.port}/`, {
            initialDelay: 10,
            onAttempt: (a) => attempts.push(a),
            signal: controller.signal,
            ...keepalive,
          })
        ) {
          for await (const message of ws) {
            seen.push(message.data as string);
            if (message.data === "first") server.delivered();
          }
          closed.push((await ws.closed).code);
          if (closed.length === 2) break;
        }
      })(), 20_000, "two connections");
      assert.deepEqual(seen, ["first", "again"]);
      assert.deepEqual(closed, [code, 1000]);
      assert.equal(attempts[1].closed?.code, code, "onAttempt saw how the first connection ended");
      assert.ok(attempts[1].closed?.error !== undefined, "with the error");
      assert.equal(attempts[1].delay, Math.round(attempts[1].delay));
    });
  }

  test("on a connection from connect, the same end makes for await throw", async (t) => {
    const server = await breakingServer(t, (socket, delivered) => void delivered.then(() => socket.resetAndDestroy()));
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { pingInterval: 0 });
    t.after(() => ws.terminate());
    const err = await withTimeout(
      (async () => {
        for await (const message of ws) if (message.data === "first") server.delivered();
      })().then(() => null, (e) => e),
      5000,
      "the end of for await after the reset",
    );
    assert.ok(err !== null && err.closeCode === 1006, String(err));
  });
});
