import { describe, test } from "./_test.ts";
import assert from "node:assert/strict";
import { computeAccept, generateKey, isValidKey } from "../src/handshake/key.ts";
import { type HttpHeadError, HttpHeadParser, headerTokens } from "../src/handshake/http.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("Sec-WebSocket-Key and Sec-WebSocket-Accept", () => {
  test("the accept value for the RFC 6455 §1.3 sample key", async () => {
    assert.equal(await computeAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });

  test("generated keys are base64 of 16 random bytes and differ", () => {
    const a = generateKey();
    const b = generateKey();
    assert.ok(isValidKey(a) && isValidKey(b));
    assert.notEqual(a, b);
    assert.equal(atob(a).length, 16);
  });

  test("keys that are not base64 of 16 bytes are invalid", () => {
    for (const key of ["", "abc", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZSE=", "dGhlIHNhbXBsZSBub25jZ!=="]) {
      assert.ok(!isValidKey(key), key);
    }
  });
});

describe("HTTP/1.1 head parser", () => {
  const request = "GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" +
    "Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n\r\n";

  test("parses a request head however it is split, and keeps the bytes after it", () => {
    const wire = new Uint8Array([...bytes(request), 0x81, 0x00]);
    for (let cut = 1; cut < wire.length; cut++) {
      const parser = new HttpHeadParser();
      const first = parser.push(wire.subarray(0, cut));
      const head = first ?? parser.push(wire.subarray(cut));
      assert.ok(head, `cut at ${cut}`);
      assert.deepEqual(head.startLine, ["GET", "/chat?x=1", "HTTP/1.1"]);
      assert.equal(head.headers.get("upgrade"), "websocket");
      assert.equal(head.headers.get("sec-websocket-protocol"), "a, b");
      assert.deepEqual(headerTokens(head.headers.get("connection")), ["keep-alive", "Upgrade"]);
      // Bytes after the head: those in the head's read, then any later read.
      const rest = first === null ? Array.from(head.rest) : [...first.rest, ...wire.subarray(cut)];
      assert.deepEqual(rest, [0x81, 0x00]);
    }
  });

  test("parses a response status line with a multi-word reason", () => {
    const head = new HttpHeadParser().push(bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"));
    assert.deepEqual(head?.startLine, ["HTTP/1.1", "101", "Switching Protocols"]);
  });

  test("refuses an oversized head with 431 before it ends", () => {
    const parser = new HttpHeadParser({ maxHeadSize: 1024 });
    parser.push(bytes("GET / HTTP/1.1\r\n"));
    assert.throws(() => parser.push(bytes("X-Filler: " + "a".repeat(2000))), (e: HttpHeadError) => e.status === 431);
  });

  test("refuses too many header fields with 431", () => {
    const many = Array.from({ length: 101 }, (_, i) => `X-${i}: v`).join("\r\n");
    assert.throws(() => new HttpHeadParser().push(bytes(`GET / HTTP/1.1\r\n${many}\r\n\r\n`)), (e: HttpHeadError) => e.status === 431);
  });

  test("refuses malformed lines with 400", () => {
    for (const bad of ["GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nNo colon here\r\n\r\n", "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"]) {
      assert.throws(() => new HttpHeadParser().push(bytes(bad)), (e: HttpHeadError) => e.status === 400, bad);
    }
  });

  test("a TLS record (a ClientHello, an alert) is refused as soon as its first 3 bytes are in, however split", () => {
    const hello = new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);
    const alert = new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]);
    for (const record of [hello, alert]) {
      const parser = new HttpHeadParser();
      assert.equal(parser.push(record.subarray(0, 1)), null);
      assert.equal(parser.push(record.subarray(1, 2)), null);
      assert.throws(() => parser.push(record.subarray(2)), (e: HttpHeadError) => e.tls && e.status === 400);
    }
    // Not for HTTP, nor for text that merely starts with a control byte.
    assert.equal(new HttpHeadParser().push(bytes("GET / HTTP/1.1\r\n")), null);
    assert.equal(new HttpHeadParser().push(bytes("HTTP/1.1 101 ")), null);
  });
});
