// WebSocketStream and WebSocketError, from the WebSockets Standard's pending
// WebSocketStream text and the web-platform-tests websockets/stream/tentative/
// tests (constructor, close, remote-close, read, write, abort,
// backpressure-*, websocket-error), against our server and ws. No runtime
// ships WebSocketStream by default (Deno only behind --unstable-net), so
// these run against ours; tests/web/chromium.test.ts compares it with Chromium's.
import assert from "node:assert/strict";
import { HandshakeError } from "../../src/errors.ts";
import { Message } from "../../src/message.ts";
import { serve } from "../../mod.ts";
import { WebSocketError, WebSocketStream, type WebSocketStreamOptions } from "../../src/web/mod.ts";
import { after, before, describe, type Owner, Releases, test, withTimeout } from "../_test.ts";
import { isDomException, type ScenarioServer, SERVERS } from "./_web.ts";

/** A WebSocketStream, closed when `t` ends (its `closed` awaited, 5 s at most). */
function openStream(t: Owner, url: string, options?: WebSocketStreamOptions): WebSocketStream {
  const wss = new WebSocketStream(url, options);
  t.after(async () => {
    wss.close();
    await withTimeout(wss.closed, 5000, "the stream's closed").catch(() => {});
  });
  return wss;
}

/** `promise`, bounded: rejects naming `what` after 10 s. */
const settled = <T>(promise: Promise<T>, what: string): Promise<T> => withTimeout(promise, 10_000, what);

const read = async (readable: ReadableStream<string | Uint8Array>) => {
  const reader = readable.getReader();
  try {
    return await withTimeout(reader.read(), 10_000, "a message from the readable");
  } finally {
    reader.releaseLock();
  }
};

describe("WebSocketError", () => {
  test("defaults: name WebSocketError, DOMException code 0, empty message, closeCode null, reason empty", () => {
    const error = new WebSocketError();
    assert.ok(error instanceof DOMException);
    assert.deepEqual([error.name, error.code, error.message, error.closeCode, error.reason], ["WebSocketError", 0, "", null, ""]);
  });

  test("message, closeCode and reason from the arguments; a reason alone means 1000", () => {
    const error = new WebSocketError("message", { closeCode: 3456, reason: "reason" });
    assert.deepEqual([error.message, error.closeCode, error.reason], ["message", 3456, "reason"]);
    assert.equal(new WebSocketError("", { reason: "specified" }).closeCode, 1000);
    assert.equal(new WebSocketError("", { closeCode: 3333 }).reason, "");
  });

  test("invalid codes throw InvalidAccessError, long reasons (in UTF-8 bytes) SyntaxError", () => {
    for (const closeCode of [999, 1001, 2999, 5000]) {
      assert.throws(() => new WebSocketError("", { closeCode }), isDomException("InvalidAccessError"));
    }
    assert.throws(() => new WebSocketError("", { closeCode: 1000, reason: "x".repeat(124) }), isDomException("SyntaxError"));
    assert.throws(() => new WebSocketError("", { reason: "🔌".repeat(32) }), isDomException("SyntaxError"));
  });
});

describe("WebSocketStream constructor", () => {
  test("no URL and options that are not an object or a list of protocols throw TypeError; a bad URL SyntaxError", () => {
    assert.throws(() => new (WebSocketStream as unknown as new () => unknown)(), TypeError);
    assert.throws(() => new WebSocketStream("invalid:"), isDomException("SyntaxError"));
    assert.throws(() => new WebSocketStream("ws://127.0.0.1:1/#frag"), isDomException("SyntaxError"));
    assert.throws(() => new WebSocketStream("ws://127.0.0.1:1/", true as never), TypeError);
    assert.throws(() => new WebSocketStream("ws://127.0.0.1:1/", { signal: {} as never }), TypeError, "a signal that is not an AbortSignal");
    assert.throws(() => new WebSocketStream("ws://127.0.0.1:1/", { protocols: "hi" as never }), TypeError);
    assert.throws(() => new WebSocketStream("ws://127.0.0.1:1/", { protocols: ["a", "a"] }), isDomException("SyntaxError"));
  });

  test("an aborted signal rejects opened and closed with its reason and never connects", async (t) => {
    let connections = 0;
    const server = serve({ port: 0, hostname: "127.0.0.1" }, () => void connections++);
    t.after(() => server.close());
    await server.ready;
    const controller = new AbortController();
    controller.abort();
    const wss = openStream(t, `ws://127.0.0.1:${server.port}/`, { signal: controller.signal });
    await assert.rejects(settled(wss.opened, "opened"), isDomException("AbortError"));
    await assert.rejects(settled(wss.closed, "closed"), isDomException("AbortError"));
    assert.equal(connections, 0);
  });
});

for (const [serverName, startServer] of SERVERS) {
  describe(`WebSocketStream (${serverName})`, () => {
    let server: ScenarioServer;
    let echo = "";
    const releases = new Releases();
    before(async () => {
      server = await startServer(releases);
      echo = `${server.origin}/echo`;
    });
    after(() => releases.release());

    test("opened resolves with a ReadableStream, a WritableStream, protocol and extensions; url is the URL", async (t) => {
      const wss = openStream(t, echo.replace("ws:", "http:"), { protocols: ["alpha", "beta"] });
      assert.equal(wss.url, echo);
      const { readable, writable, protocol, extensions } = await settled(wss.opened, "opened");
      ReadableStream.prototype.getReader.call(readable).releaseLock();
      WritableStream.prototype.getWriter.call(writable).releaseLock();
      assert.equal(protocol, "alpha");
      assert.equal(typeof extensions, "string");
      wss.close();
      await settled(wss.closed, "closed");
    });

    test("strings are text messages and come back as strings; BufferSources come back as Uint8Arrays", async (t) => {
      const wss = openStream(t, echo);
      const { readable, writable } = await settled(wss.opened, "opened");
      const writer = writable.getWriter();
      await writer.write("héllo");
      await writer.write(new Uint16Array([0x0201]));
      await writer.write(new ArrayBuffer(3));
      assert.equal((await read(readable)).value, "héllo");
      const binary = (await read(readable)).value as Uint8Array;
      assert.equal(binary.constructor, Uint8Array);
      assert.deepEqual(Array.from(binary), Array.from(new Uint8Array(new Uint16Array([0x0201]).buffer)));
      assert.equal(binary.byteLength, binary.buffer.byteLength, "the chunk's buffer holds exactly the message");
      assert.equal(((await read(readable)).value as Uint8Array).byteLength, 3);
      wss.close();
      await settled(wss.closed, "closed");
    });

    test("writing what cannot be stringified, or a shared or resizable buffer, rejects with TypeError", async (t) => {
      const wss = openStream(t, echo);
      const { writable } = await settled(wss.opened, "opened");
      for (const chunk of [{ toString() { return this; } }, new Uint8Array(new SharedArrayBuffer(4)), new ArrayBuffer(8, { maxByteLength: 16 })]) {
        const writer = (await settled(openStream(t, echo).opened, "opened")).writable.getWriter();
        await assert.rejects(writer.write(chunk as never), TypeError);
      }
      writable.getWriter().releaseLock();
      wss.close();
      await settled(wss.closed, "closed");
    });

    for (
      const [closeInfo, code, reason, what] of [
        [undefined, 1005, "", "close() sends an empty close frame: 1005"],
        [{}, 1005, "", "close({}) likewise"],
        [{ reason: "" }, 1005, "", "close({ reason: '' }) likewise"],
        [{ reason: "non-empty" }, 1000, "non-empty", "a reason alone is sent with 1000"],
        [{ closeCode: 3456, reason: "pizza" }, 3456, "pizza", "closeCode and reason are sent and reflected back"],
      ] as [object | undefined, number, string, string][]
    ) {
      test(what, async (t) => {
        const wss = openStream(t, echo);
        await settled(wss.opened, "opened");
        wss.close(closeInfo);
        const closed = await settled(wss.closed, "closed");
        assert.equal(closed.closeCode, code);
        assert.equal(closed.reason, server.echoesCloseReason ? reason : "");
      });
    }

    test("close() checks its argument: TypeError, InvalidAccessError, SyntaxError", async (t) => {
      const wss = openStream(t, echo);
      await settled(wss.opened, "opened");
      assert.throws(() => wss.close(true as never), TypeError);
      for (const closeCode of [999, 1001, 2999, 5000]) assert.throws(() => wss.close({ closeCode }), isDomException("InvalidAccessError"));
      assert.throws(() => wss.close({ closeCode: 70000 }), TypeError);
      assert.throws(() => wss.close({ reason: ".".repeat(124) }), isDomException("SyntaxError"));
      wss.close();
      await settled(wss.closed, "closed");
    });

    test("close during the handshake rejects opened and closed with WebSocketErrors", async (t) => {
      const wss = openStream(t, echo);
      wss.close();
      const opened = await settled(wss.opened, "opened").then(() => null, (e) => e);
      const closed = await settled(wss.closed, "closed").then(() => null, (e) => e);
      assert.ok(opened instanceof WebSocketError);
      assert.equal(opened.closeCode, null, "opened: a new WebSocketError, without a close code");
      assert.ok(closed instanceof WebSocketError);
      assert.equal(closed.closeCode, 1006);
    });

    for (
      const [what, path, protocols] of [
        ["a refused handshake (403)", "/refuse", undefined],
        // Our server refuses (400) an offer it picks none of; ws answers 101 without Sec-WebSocket-Protocol.
        ["a server choosing none of the offered subprotocols", serverName === "our server" ? "/echo" : "/protocol-none", [
          "unsupported.a",
        ]],
      ] as const
    ) {
      test(`${what} rejects opened (no close code) and closed (1006) with WebSocketErrors carrying the cause`, async (t) => {
        const wss = openStream(t, `${server.origin}${path}`, protocols === undefined ? undefined : { protocols: [...protocols] });
        const opened = await settled(wss.opened, "opened").then(() => null, (e) => e);
        const closed = await settled(wss.closed, "closed").then(() => null, (e) => e);
        assert.ok(opened instanceof WebSocketError && opened instanceof DOMException, `opened rejected with ${opened}`);
        assert.equal(opened.name, "WebSocketError");
        assert.equal(opened.closeCode, null);
        assert.ok(closed instanceof WebSocketError, `closed rejected with ${closed}`);
        assert.deepEqual([closed.closeCode, closed.reason], [1006, ""]);
        // streamsock's addition: the typed cause, the HandshakeError with the server's status.
        const cause = opened.cause as HandshakeError;
        assert.ok(cause instanceof HandshakeError, `the cause is a HandshakeError: ${cause}`);
        assert.equal(closed.cause, cause);
        const expected = path === "/refuse" ? [403, "ERR_HANDSHAKE_STATUS"] : path === "/echo" ? [400, "ERR_HANDSHAKE_STATUS"] : [101, "ERR_HANDSHAKE_PROTOCOL"];
        assert.deepEqual([cause.status, cause.code], expected);
      });
    }

    test("closing the writable closes cleanly (1005), and writer.close() waits for the closing handshake", async (t) => {
      const wss = openStream(t, echo);
      const { writable } = await settled(wss.opened, "opened");
      let closedFirst = false;
      void wss.closed.then(() => (closedFirst = true));
      await settled(writable.getWriter().close(), "writer.close()");
      assert.ok(closedFirst, "closed settled before writer.close() resolved");
      assert.equal((await settled(wss.closed, "closed")).closeCode, 1005);
    });

    for (const [method, stream] of [["abort", "writable"], ["cancel", "readable"]] as const) {
      test(`${method}() on the ${stream}: 1005, or the WebSocketError's code and reason; other reasons are ignored`, async (t) => {
        for (
          const [reason, code, text] of [
            [undefined, 1005, ""],
            [new WebSocketError("", { closeCode: 3456, reason: "set" }), 3456, "set"],
            [{ code: 3456, reason: "ignored" }, 1005, ""],
            [new DOMException("yes", "DataCloneError"), 1005, ""],
          ] as [unknown, number, string][]
        ) {
          const wss = openStream(t, echo);
          const info = await settled(wss.opened, "opened");
          await (method === "abort" ? info.writable.abort(reason) : info.readable.cancel(reason));
          const closed = await settled(wss.closed, "closed");
          assert.equal(closed.closeCode, code);
          assert.equal(closed.reason, server.echoesCloseReason ? text : "");
        }
      });
    }

    test("a clean close by the server: closed resolves, the readable ends, the writable errors with InvalidStateError", async (t) => {
      const wss = openStream(t, echo);
      const { readable, writable } = await settled(wss.opened, "opened");
      const writer = writable.getWriter();
      await writer.write("close:4000:robot");
      assert.deepEqual(await settled(wss.closed, "closed"), { closeCode: 4000, reason: "robot" });
      assert.equal((await read(readable)).done, true);
      await assert.rejects(writer.ready, isDomException("InvalidStateError"));
    });

    test("the server's close without a body: 1005", async (t) => {
      const wss = openStream(t, echo);
      const { writable } = await settled(wss.opened, "opened");
      await writable.getWriter().write("close");
      assert.deepEqual(await settled(wss.closed, "closed"), { closeCode: 1005, reason: "" });
    });

    test("an abrupt close: closed rejects with a WebSocketError (1006), the same object errors both streams", async (t) => {
      const wss = openStream(t, echo);
      const { readable, writable } = await settled(wss.opened, "opened");
      const writer = writable.getWriter();
      await writer.write("drop");
      const error = await settled(wss.closed, "closed").then(() => null, (e) => e);
      assert.ok(error instanceof WebSocketError);
      assert.equal(error.name, "WebSocketError");
      assert.equal(error.closeCode, 1006);
      await assert.rejects(readable.getReader().read(), (e) => e === error);
      await assert.rejects(writer.ready, (e) => e === error);
    });

    test("the signal does nothing once the connection is open", async (t) => {
      const controller = new AbortController();
      const wss = openStream(t, echo, { signal: controller.signal });
      const { readable, writable } = await settled(wss.opened, "opened");
      controller.abort();
      await writable.getWriter().write("connected");
      assert.equal((await read(readable)).value, "connected");
      wss.close();
      await settled(wss.closed, "closed");
    });
  });
}

describe("WebSocketStream backpressure", () => {
  test("a reader that does not read stops our socket reads: the server's sends stall, then all arrive", async (t) => {
    const size = 64 * 1024;
    const total = 512; // 32 MiB, far beyond every buffer on the way
    let sent = 0;
    let senderDone: Promise<void> = Promise.resolve();
    const server = serve({ port: 0, hostname: "127.0.0.1" }, async (ws) => {
      senderDone = (async () => {
        const chunk = new Uint8Array(size);
        for (let i = 0; i < total; i++) {
          await ws.send(new Message(chunk, "binary"));
          sent++;
        }
      })().catch(() => {});
      await senderDone;
      await ws.closed;
    });
    t.after(() => server.close());
    await server.ready;
    const wss = openStream(t, `ws://127.0.0.1:${server.port}/`);
    const { readable } = await settled(wss.opened, "opened");
    // Until the server's sends stop advancing, then check how far they got. A sleep, because it must be:
    // nothing reads, and no event says the sends stopped; 300 ms without one does.
    let last = -1;
    while (sent !== last) {
      last = sent;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.ok(sent < total / 2, `the server could send only part of the data while nobody read (${sent} of ${total} messages)`);
    const reader = readable.getReader();
    let bytes = 0;
    for (let i = 0; i < total; i++) bytes += ((await withTimeout(reader.read(), 10_000, `message ${i}`)).value as Uint8Array).byteLength;
    assert.equal(bytes, size * total);
    await settled(senderDone, "the server's last send");
    assert.equal(sent, total);
    reader.releaseLock();
    wss.close();
    await settled(wss.closed, "closed");
  });

  test("writes wait while the server does not read (writer.ready)", async (t) => {
    let release: () => void = () => {};
    const reading = new Promise<void>((resolve) => (release = resolve));
    const server = serve({ port: 0, hostname: "127.0.0.1" }, async (ws) => {
      await reading;
      for await (const _ of ws) { /* drain */ }
    });
    t.after(() => server.close());
    t.after(() => release());
    await server.ready;
    const wss = openStream(t, `ws://127.0.0.1:${server.port}/`);
    const { writable } = await settled(wss.opened, "opened");
    const writer = writable.getWriter();
    let written = 0;
    const chunk = new Uint8Array(1024 * 1024);
    const writing = (async () => {
      for (let i = 0; i < 64; i++) {
        await writer.ready;
        void writer.write(chunk);
        written++;
      }
    })();
    // Until the writes stop advancing. A sleep, because it must be: no event says they stopped;
    // 300 ms without one does.
    let last = -1;
    while (written !== last) {
      last = written;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.ok(written < 64, `writes went on while the server did not read (${written} of 64 MiB)`);
    release();
    await withTimeout(writing, 30_000, "the writes after the server started reading");
    await settled(writer.close(), "writer.close()");
  });
});
