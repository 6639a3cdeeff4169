// reconnecting(): our server stopped and restarted under a client reading a
// stream of messages; what is not retried (4xx, TLS verification, bad URL);
// Retry-After; the backoff reset; abort ending the loop with nothing left.
import { describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { createServer as createNetServer } from "node:net";
import { HandshakeError, ProxyError } from "../src/errors.ts";
import { isRetryable, type ReconnectAttempt, reconnecting, retryAfterDelay } from "../src/reconnecting.ts";
import { serve, type Server } from "../src/server.ts";
import { testCertificate } from "./_tls.ts";

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
      await new Promise((resolve) => setTimeout(resolve, 20));
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
    const server = serve({ hostname: "127.0.0.1", port: 0 }, async (ws) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await ws.close(1012, "restarting");
    });
    t.after(() => server.close());
    await server.ready;
    const attempts: ReconnectAttempt[] = [];
    let connections = 0;
    for await (
      const ws of reconnecting(`ws://127.0.0.1:${server.port}/`, {
        resetAfter: 10,
        pingInterval: 0,
        onAttempt: (a) => attempts.push(a),
      })
    ) {
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
            if (a.attempt === 2) setTimeout(() => controller.abort(), 50);
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
    const silent = createNetServer((socket) => {
      socket.on("error", () => {});
      socket.resume();
      socket.once("close", () => onClosed());
    });
    t.after(() => silent.close());
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const controller = new AbortController();
    t.after(() => controller.abort());
    const port = (silent.address() as { port: number }).port;
    const loop = async () => {
      for await (
        const _ of reconnecting(`ws://127.0.0.1:${port}/`, {
          signal: controller.signal,
          onAttempt: () => void setTimeout(() => controller.abort(), 100),
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
