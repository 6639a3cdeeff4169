// The opening-handshake driver both `connect` and the server run on
// (src/opening.ts), over the Web Streams transport, so the peer's
// bytes, its close and the transport's release are all real.
import { describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import { ManualClock } from "./_clock.ts";
import assert from "node:assert/strict";
import { Opening, type OpeningEnd, type OpeningOptions } from "../src/opening.ts";
import type { HttpHead } from "../src/handshake/http.ts";
import { streamTransport } from "../src/transport/streams.ts";
import type { Transport, TransportSink } from "../src/transport/types.ts";

const encoder = new TextEncoder();
const REQUEST = "GET /chat HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n\r\n";

/**
 * An Opening over an in-memory byte pipe, with what it reported and a handle
 * on the peer's end; closed (its timers cleared) when the test ends.
 */
function opening(t: Owner, options: OpeningOptions) {
  const toUs = new TransformStream<Uint8Array, Uint8Array>();
  const toPeer = new TransformStream<Uint8Array, Uint8Array>();
  let released!: () => void;
  const transportClosed = new Promise<void>((resolve) => (released = resolve));
  const real = streamTransport({ readable: toUs.readable, writable: toPeer.writable, close: () => released() });
  // Counts the chunks the transport delivered, so that tests wait for the
  // bytes themselves rather than for time to pass.
  let delivered = 0;
  let peerEndRead!: () => void;
  const peerEnded = new Promise<void>((resolve) => (peerEndRead = resolve));
  const transport: Transport = Object.assign(Object.create(real), {
    start(sink: TransportSink) {
      real.start({
        data: (chunk) => {
          delivered++;
          sink.data(chunk);
        },
        end: () => {
          sink.end();
          peerEndRead();
        },
        error: (err) => sink.error(err),
        drain: () => sink.drain(),
      });
    },
  });
  const heads: HttpHead[] = [];
  const ends: OpeningEnd[] = [];
  let ended!: (end: OpeningEnd) => void;
  const firstEnd = new Promise<OpeningEnd>((resolve) => (ended = resolve));
  const driver = new Opening(transport, options, {
    head: (head) => heads.push(head),
    ended: (end) => {
      ends.push(end);
      ended(end);
    },
  });
  t.after(() => driver.close());
  driver.start();
  const peer = toUs.writable.getWriter();
  return {
    driver,
    heads,
    ends,
    firstEnd,
    transportClosed,
    /** Resolves once the opening was handed the peer's end of stream (and returned). */
    peerEnded: () => withTimeout(peerEnded, 5000, "the peer's end of stream"),
    delivered: (n: number) => eventually(() => delivered >= n, 5000, `${n} chunks delivered`),
    send: (bytes: string | Uint8Array) => peer.write(typeof bytes === "string" ? encoder.encode(bytes) : bytes),
    closePeer: () => peer.close(),
  };
}

describe("Opening: reading the head", () => {
  test("reports the head once, however it is split, and keeps the bytes after it for the connection", async (t) => {
    const o = opening(t, { head: {} });
    for (const piece of [REQUEST.slice(0, 5), REQUEST.slice(5, 30)]) await o.send(piece);
    const rest = encoder.encode(REQUEST.slice(30));
    await o.send(Uint8Array.of(...rest, 0x81, 0x02));
    await o.send(new Uint8Array([0x68, 0x69]));
    await o.delivered(4);
    assert.equal(o.heads.length, 1);
    assert.deepEqual(o.heads[0].startLine, ["GET", "/chat", "HTTP/1.1"]);
    assert.equal(o.heads[0].headers.get("host"), "example.test");
    assert.deepEqual([...o.driver.release()!], [0x81, 0x02, 0x68, 0x69]);
    assert.deepEqual(o.ends, []);
  });

  test("release without bytes after the head hands over nothing", async (t) => {
    const o = opening(t, { head: {} });
    await o.send(REQUEST);
    await o.delivered(1);
    assert.equal(o.driver.release(), undefined);
  });

  test("a malformed head ends the opening as malformed, with 400", async (t) => {
    const o = opening(t, { head: {} });
    await o.send("NOT-HTTP\r\n\r\n");
    const end = await withTimeout(o.firstEnd, 5000, "the malformed head");
    assert.equal(end.cause, "malformed");
    assert.equal(end.cause === "malformed" && end.error.status, 400);
  });

  test("a head over maxHeadSize ends the opening with 431 before it is complete", async (t) => {
    const o = opening(t, { head: { maxHeadSize: 64 } });
    await o.send("GET / HTTP/1.1\r\nX-Long: " + "a".repeat(100));
    const end = await withTimeout(o.firstEnd, 5000, "the oversized head");
    assert.equal(end.cause === "malformed" && end.error.status, 431);
  });

  test("without head limits every byte is kept as following the head (node:http read it)", async (t) => {
    const o = opening(t, { head: null });
    assert.equal(o.driver.readingHead, false);
    o.driver.data(new Uint8Array([1]));
    await o.send(new Uint8Array([2, 3]));
    await o.delivered(1);
    assert.deepEqual([...o.driver.release()!], [1, 2, 3]);
    assert.equal(o.heads.length, 0);
  });

  test("more than maxLeftover bytes after the head end the opening as overflow", async (t) => {
    const o = opening(t, { head: {}, maxLeftover: 4 });
    await o.send(REQUEST + "abcd");
    await o.delivered(1);
    assert.deepEqual(o.ends, []);
    await o.send("e");
    assert.equal((await withTimeout(o.firstEnd, 5000, "the overflow")).cause, "overflow");
  });

  test("follow sends the kept bytes, then every later chunk, to its consumer", async (t) => {
    const o = opening(t, { head: {} });
    await o.send(REQUEST + "ab");
    await o.delivered(1);
    const seen: string[] = [];
    o.driver.follow((chunk) => seen.push(new TextDecoder().decode(chunk)));
    await o.send("cd");
    await o.delivered(2);
    assert.deepEqual(seen, ["ab", "cd"]);
  });
});

describe("Opening: what ends it, once", () => {
  test("the deadline ends it as timeout", async (t) => {
    const o = opening(t, { head: {}, timeout: 30 });
    assert.equal((await withTimeout(o.firstEnd, 5000, "the deadline")).cause, "timeout");
    assert.equal(o.driver.reading, false);
  });

  test("the signal ends it as abort with the signal's reason", async (t) => {
    const controller = new AbortController();
    const o = opening(t, { head: {}, signal: controller.signal });
    const reason = new Error("stop");
    controller.abort(reason);
    const end = await withTimeout(o.firstEnd, 5000, "the abort");
    assert.equal(end.cause === "abort" && end.reason, reason);
  });

  test("a signal aborted before start ends it at start, as abort", async (t) => {
    const o = opening(t, { head: {}, signal: AbortSignal.abort(new Error("already")) });
    const end = await withTimeout(o.firstEnd, 5000, "the abort");
    assert.equal(end.cause === "abort" && (end.reason as Error).message, "already");
    o.driver.close();
    await withTimeout(o.transportClosed, 5000, "the transport's release");
  });

  test("the peer's close ends it as eof", async (t) => {
    const o = opening(t, { head: {} });
    await o.send("GET / HTT");
    await o.closePeer();
    assert.equal((await withTimeout(o.firstEnd, 5000, "the peer's close")).cause, "eof");
  });

  test("after release neither the deadline, the signal nor the peer's close is reported", async (t) => {
    const controller = new AbortController();
    const clock = new ManualClock();
    const o = opening(t, { head: {}, signal: controller.signal, timers: clock });
    await o.send(REQUEST);
    await o.delivered(1);
    o.driver.deadline(30);
    o.driver.release();
    assert.equal(clock.pending, 0, "release clears the deadline's timer");
    controller.abort(new Error("too late"));
    await clock.advance(100);
    await o.closePeer();
    await o.peerEnded();
    assert.deepEqual(o.ends, []);
  });

  test("only the first end is reported, and nothing after close", async (t) => {
    const controller = new AbortController();
    const clock = new ManualClock();
    const o = opening(t, { head: {}, timeout: 30, signal: controller.signal, timers: clock });
    controller.abort(new Error("first"));
    await withTimeout(o.firstEnd, 5000, "the abort");
    await clock.advance(100);
    await o.closePeer().catch(() => {});
    await o.peerEnded();
    assert.deepEqual(o.ends.map((e) => e.cause), ["abort"]);
    o.driver.close();
    await withTimeout(o.transportClosed, 5000, "the transport's release");
  });

  test("linger drops the transport as soon as the peer closes after reading the answer", async (t) => {
    const o = opening(t, { head: {} });
    await o.send("BAD\r\n\r\n");
    await withTimeout(o.firstEnd, 5000, "the malformed head");
    o.driver.linger(60_000);
    await o.closePeer();
    await withTimeout(o.transportClosed, 5000, "the transport's release after the peer's close");
  });

  test("linger drops the transport after its grace period when the peer stays", async (t) => {
    const o = opening(t, { head: {} });
    o.driver.linger(30);
    await withTimeout(o.transportClosed, 5000, "the transport's release after the grace period");
    assert.deepEqual(o.ends, []);
  });
});
