// How connect fails before there is a connection: the same code and message
// on every runtime for a refused or reset TCP connection (the runtime's own
// error kept as `cause`), and a HandshakeError whose message carries the
// server's short reason.
import { describe, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import { connect, ConnectError, HandshakeError, WebSocketError } from "../mod.ts";
import { connectErrorOf } from "../src/errors.ts";
import { refusalReason } from "../src/handshake/client.ts";

/** A port on 127.0.0.1 where nothing listens: bound by the system, then released. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("connect's network errors are the same on every runtime", () => {
  test("a refused connection rejects with ConnectError ECONNREFUSED, ws:// and wss://", async () => {
    const port = await closedPort();
    for (const scheme of ["ws", "wss"]) {
      const err = await withTimeout(
        connect(`${scheme}://127.0.0.1:${port}/`).then(() => null, (e: unknown) => e),
        10_000,
        `${scheme} connect`,
      );
      assert.ok(err instanceof ConnectError, `${scheme}: ${err}`);
      assert.ok(err instanceof WebSocketError);
      assert.equal(err.name, "ConnectError");
      assert.equal(err.code, "ECONNREFUSED");
      assert.equal(err.message, `Connection refused by 127.0.0.1:${port}`);
      assert.equal(err.hostname, "127.0.0.1");
      assert.equal(err.port, port);
      assert.ok(err.cause instanceof Error, "the runtime's own error is the cause");
    }
  });

  test("a connection reset during the handshake rejects with ConnectError ECONNRESET", async (t) => {
    const sockets = new Set<Socket>();
    const server = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.once("data", () => socket.resetAndDestroy()); // RST as soon as the request arrives
    });
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      server.close();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const err = await withTimeout(
      connect(`ws://127.0.0.1:${port}/`).then(() => null, (e: unknown) => e),
      10_000,
      "connect",
    );
    assert.ok(err instanceof ConnectError, String(err));
    assert.equal(err.code, "ECONNRESET");
    assert.equal(err.message, `Connection reset by 127.0.0.1:${port} during the opening handshake`);
    assert.ok(err.cause instanceof Error);
  });

  test("connectErrorOf maps each runtime's shape of the same failure, and leaves other errors alone", () => {
    const withCode = (message: string, code: string, name = "Error") =>
      Object.assign(new Error(message), { code, name });
    const shapes: [unknown, string][] = [
      [withCode("connect ECONNREFUSED 10.0.0.1:80", "ECONNREFUSED"), "ECONNREFUSED"], // Node, node:tls anywhere
      [withCode("Failed to connect", "ECONNREFUSED"), "ECONNREFUSED"], // Bun.connect
      [withCode("Connection refused (os error 111)", "ECONNREFUSED", "ConnectionRefused"), "ECONNREFUSED"], // Deno.connect
      [withCode("read ECONNRESET", "ECONNRESET"), "ECONNRESET"],
      [withCode("Connection reset by peer (os error 104)", "ECONNRESET", "ConnectionReset"), "ECONNRESET"],
      [withCode("connect EHOSTUNREACH 10.0.0.1:80", "EHOSTUNREACH"), "EHOSTUNREACH"],
      [withCode("connect ENETUNREACH 10.0.0.1:80", "ENETUNREACH"), "ENETUNREACH"],
      [withCode("connect ETIMEDOUT 10.0.0.1:80", "ETIMEDOUT"), "ETIMEDOUT"],
      [withCode("getaddrinfo ENOTFOUND nowhere.invalid", "ENOTFOUND"), "ENOTFOUND"],
      [new Error("failed to lookup address information: Name or service not known"), "ENOTFOUND"], // Deno
    ];
    for (const [raw, code] of shapes) {
      const mapped = connectErrorOf(raw, "10.0.0.1", 80);
      assert.ok(mapped instanceof ConnectError, String(raw));
      assert.equal(mapped.code, code);
      assert.equal(mapped.cause, raw);
      assert.match(mapped.message, /10\.0\.0\.1:80/);
    }
    const tls = withCode("self-signed certificate", "DEPTH_ZERO_SELF_SIGNED_CERT");
    assert.equal(connectErrorOf(tls, "10.0.0.1", 443), tls);
    const handshake = new HandshakeError("Server closed the connection before answering the handshake");
    assert.equal(connectErrorOf(handshake, "10.0.0.1", 80), handshake);
  });
});

describe("HandshakeError's message carries the server's short reason", () => {
  /** An HTTP server that refuses every upgrade as given; closed when `t` ends. */
  async function refusingServer(t: Owner, status: number, contentType: string, body: string) {
    const http = createHttpServer((_req, res) => {
      res.writeHead(status, { "content-type": contentType });
      res.end(body);
    });
    http.on("upgrade", (_req, socket) => {
      socket.end(
        `HTTP/1.1 ${status} Refused\r\nContent-Type: ${contentType}\r\nContent-Length: ${
          Buffer.byteLength(body)
        }\r\nConnection: close\r\n\r\n${body}`,
      );
    });
    t.after(() => {
      http.closeAllConnections?.();
      http.close();
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    return http;
  }

  async function refusal(t: Owner, status: number, contentType: string, body: string): Promise<HandshakeError> {
    const http = await refusingServer(t, status, contentType, body);
    const { port } = http.address() as { port: number };
    const err = await withTimeout(
      connect(`ws://127.0.0.1:${port}/`).then(() => null, (e: unknown) => e),
      10_000,
      "connect",
    );
    assert.ok(err instanceof HandshakeError, String(err));
    return err;
  }

  test("the first line of a plain-text body", async (t) => {
    const err = await refusal(t, 403, "text/plain", "\nmembers only\nsecond line\n");
    assert.equal(err.message, "Server refused the WebSocket upgrade: 403 Refused (members only)");
    assert.equal(err.status, 403);
    assert.equal(new TextDecoder().decode(err.body), "\nmembers only\nsecond line\n");
  });

  test("control characters are replaced and a long reason is cut to 200 characters", async (t) => {
    const err = await refusal(t, 400, "text/plain", `\u001b[31mred\u0007 alert\t${"x".repeat(500)}`);
    const reason = err.message.slice(err.message.indexOf("(") + 1, -1);
    assert.ok(reason.startsWith("[31mred  alert x"), reason);
    assert.equal(reason.length, 200);
    assert.ok(reason.endsWith("…"));
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(err.message, /[\u0000-\u001f\u007f]/);
  });

  test("an HTML page or an empty body adds nothing", async (t) => {
    assert.equal(
      (await refusal(t, 404, "text/html; charset=utf-8", "<!DOCTYPE html>\n<p>Not here</p>")).message,
      "Server refused the WebSocket upgrade: 404 Refused",
    );
    assert.equal((await refusal(t, 401, "text/plain", "")).message, "Server refused the WebSocket upgrade: 401 Refused");
    assert.equal(refusalReason(new TextEncoder().encode("<html>"), new Headers()), "");
  });
});
