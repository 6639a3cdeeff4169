// How connect fails before there is a connection: the same code and message
// on every runtime for a refused or reset TCP connection and for TLS that
// cannot work (the runtime's own error kept as `cause`), fast and naming the
// way out; and a HandshakeError whose message carries the server's short reason.
import { describe, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import { connect, ConnectError, HandshakeError, WebSocketError } from "../mod.ts";
import { connectErrorOf } from "../src/errors.ts";
import { refusalReason } from "../src/handshake/client.ts";
import { isRetryable, serve, type Server } from "../mod.ts";
import selfsigned from "selfsigned";
import { exchange } from "./_server.ts";
import { run } from "./_spawn.ts";
import { testCertificate } from "./_tls.ts";
import { currentRuntime } from "../src/transport/runtime.ts";

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
    const other = withCode("something else", "EWHATEVER");
    assert.equal(connectErrorOf(other, "10.0.0.1", 443), other);
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

const TRUST_HINT = "trust its CA with tls: { ca } (CLI: --ca <file>), or, for testing only, skip verification " +
  "with tls: { rejectUnauthorized: false } (CLI: --insecure)";

/** A server that closes every connection at once, on TLS when given; closed when `t` ends. */
async function closingServer(t: Owner, tls?: { cert: string; key: string }): Promise<Server> {
  const server = serve({ hostname: "127.0.0.1", port: 0, tls }, (ws) => void ws.close());
  t.after(() => server.close());
  await server.ready;
  return server;
}

/** connect's rejection, failing the test if it resolves or takes over 10 s. */
async function refusedWith(url: string, options: Parameters<typeof connect>[1] = {}): Promise<unknown> {
  return await withTimeout(connect(url, { timeout: 20_000, ...options }).then(() => null, (e: unknown) => e), 10_000, url);
}

describe("TLS that cannot work is named at once, in the same words on every runtime", () => {
  test("wss:// to a plain ws:// port: the server answers 400 at once, and connect says the port does not speak TLS", async (t) => {
    const server = await closingServer(t);
    // The start of a TLS ClientHello: answered, not left to the 10 s handshake timeout.
    const answer = await withTimeout(
      exchange(server.port, new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])),
      5000,
      "the server's answer",
    );
    assert.equal(answer.startLine, "HTTP/1.1 400 Bad Request");
    assert.match(answer.body, /plain HTTP \(ws:\/\/\), not TLS/);
    const started = Date.now();
    const err = await refusedWith(`wss://127.0.0.1:${server.port}/`);
    assert.ok(Date.now() - started < 5000, "not the server's handshake timeout");
    assert.ok(err instanceof ConnectError, String(err));
    assert.equal(err.code, "ERR_TLS_NOT_TLS");
    assert.equal(
      err.message,
      `127.0.0.1:${server.port} does not speak TLS: it answered a TLS handshake in plain text (a ws:// port? then use ws://)`,
    );
    assert.equal(isRetryable(err), false);
  });

  test("ws:// to a TLS port: a TLS answer is ERR_HANDSHAKE_TLS, silence gets the hint, both at once", async (t) => {
    const sockets = new Set<Socket>();
    // A TLS server's alert (Deno's answer to plain HTTP): 21, TLS 1.2, decode_error.
    const alerting = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.once("data", () => socket.end(new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32])));
    });
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => alerting.close(() => resolve()));
    });
    await new Promise<void>((resolve) => alerting.listen(0, "127.0.0.1", resolve));
    const tls = await closingServer(t, await testCertificate());
    const port = (alerting.address() as { port: number }).port;
    const alerted = await refusedWith(`ws://127.0.0.1:${port}/`);
    assert.ok(alerted instanceof HandshakeError, String(alerted));
    assert.equal(alerted.code, "ERR_HANDSHAKE_TLS");
    assert.equal(alerted.message, `127.0.0.1:${port} answered in TLS: it is a wss:// port, so connect with wss://`);
    // Our own TLS port, on this runtime: Deno's alerts, Node's and Bun's close without a byte.
    const ours = await refusedWith(`ws://127.0.0.1:${tls.port}/`);
    assert.ok(ours instanceof HandshakeError, String(ours));
    assert.ok(["ERR_HANDSHAKE_TLS", "ERR_HANDSHAKE_EOF"].includes(ours.code), ours.code);
    assert.match(ours.message, /wss:\/\//);
  });

  test("a self-signed certificate: ConnectError ERR_TLS_CERT_UNTRUSTED naming tls: { ca }, --ca and --insecure", async (t) => {
    const server = await closingServer(t, await testCertificate());
    const err = await refusedWith(`wss://127.0.0.1:${server.port}/`);
    assert.ok(err instanceof ConnectError, String(err));
    assert.equal(err.code, "ERR_TLS_CERT_UNTRUSTED");
    assert.equal(
      err.message,
      `The TLS certificate of 127.0.0.1:${server.port} is not trusted (self-signed, or issued by an unknown CA): ${TRUST_HINT}`,
    );
    assert.ok(err.cause instanceof Error, "the runtime's error is the cause");
    assert.equal(isRetryable(err), false);
    // The command line says the same, and exits 3.
    const cli = await run("src/cli/main.ts", ["connect", `wss://127.0.0.1:${server.port}/`], { input: "" });
    assert.equal(cli.code, 3, cli.stderr);
    assert.ok(cli.stderr.includes(err.message), cli.stderr);
  });

  test("a certificate for another name: ERR_TLS_CERT_NAME", async (t) => {
    const cert = await testCertificate();
    const server = await closingServer(t, cert);
    const err = await refusedWith(`wss://127.0.0.1:${server.port}/`, { tls: { ca: cert.cert, serverName: "other.test" } });
    assert.ok(err instanceof ConnectError, String(err));
    assert.equal(err.code, "ERR_TLS_CERT_NAME");
    assert.match(err.message, /^The TLS certificate of 127\.0\.0\.1:\d+ is not issued for that name: .*tls: \{ serverName \}/);
  });

  test("an expired certificate: ERR_TLS_CERT_EXPIRED", async (t) => {
    const day = 24 * 3600 * 1000;
    const pems = await selfsigned.generate([{ name: "commonName", value: "localhost" }], {
      notBeforeDate: new Date(Date.now() - 3 * day),
      notAfterDate: new Date(Date.now() - day),
      keySize: 2048,
      algorithm: "sha256",
      extensions: [
        { name: "basicConstraints", cA: false },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
        { name: "extKeyUsage", serverAuth: true },
        { name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] },
      ],
    });
    const server = await closingServer(t, { cert: pems.cert, key: pems.private });
    const err = await refusedWith(`wss://127.0.0.1:${server.port}/`, { tls: { ca: pems.cert } });
    assert.ok(err instanceof ConnectError, String(err));
    if (currentRuntime() === "deno") {
      // Deno's node:tls reports an expired certificate as UNABLE_TO_VERIFY_LEAF_SIGNATURE, nothing more.
      assert.equal(err.code, "ERR_TLS_CERT_UNTRUSTED");
    } else {
      assert.equal(err.code, "ERR_TLS_CERT_EXPIRED");
      assert.match(err.message, /^The TLS certificate of 127\.0\.0\.1:\d+ has expired or is not valid yet/);
    }
  });
});
