// Peers that vanish, reset, crawl or come and go by the thousand, over real
// TCP against serve() and connect(): every connection ends with a typed
// outcome, nothing is left behind (sockets, timers, rejections), and the
// server goes on serving others.
import { describe, eventually, test, withTimeout } from "../_test.ts";
import { CAN_COUNT_DESCRIPTORS, openDescriptors } from "../_descriptors.ts";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { connect } from "../../src/client/connect.ts";
import type { WebSocketConnection } from "../../src/connection/connection.ts";
import { ConnectionClosedError, HandshakeError, TimeoutError } from "../../src/errors.ts";
import { rawFrame } from "../_helpers.ts";
import { upgradeRequest } from "../_server.ts";
import { ManualClock } from "../_clock.ts";
import {
  activeResources,
  attackedServer,
  dialRaw,
  hostileServer,
  openRaw,
  watchingRejections,
} from "./_hostile.ts";

async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const msg of ws) await ws.send(msg);
}

/** A well-behaved client: one echo round trip and a clean close. */
async function roundTrip(port: number, text = "still serving"): Promise<void> {
  const ws = await connect(`ws://127.0.0.1:${port}/`, { timeout: 5000 });
  await ws.send(text);
  assert.equal((await withTimeout(ws.recvAll(), 5000, "the echo")).data, text);
  const info = await withTimeout(ws.close(), 5000, "the close");
  assert.equal(info.code, 1000);
  assert.equal(info.wasClean, true);
}

/** Drops a socket with a TCP reset where the runtime can, else destroys it. */
function reset(socket: Socket): void {
  const withReset = socket as Socket & { resetAndDestroy?: () => void };
  if (typeof withReset.resetAndDestroy === "function") withReset.resetAndDestroy();
  else socket.destroy();
}

// The server must notice each of these at once: a long closeTimeout shows
// that nothing waits for it.
const PATIENT = { closeTimeout: 10_000 };

describe("a peer that vanishes", () => {
  test("mid-frame: serve() ends the connection with 1006 at once, and keeps serving", async (t) => {
    const attacked = await attackedServer(t, echo, PATIENT);
    const client = await openRaw(t, attacked.port);
    const frame = rawFrame(0x82, new Uint8Array(1000));
    client.write(frame.subarray(0, 500));
    await eventually(() => attacked.server.connections === 1, 5000, "the server has the connection");
    client.destroy();
    await withTimeout(eventually(() => attacked.closes.length === 1, 2000, "closed"), 2000, "the server notices");
    const info = attacked.closes[0];
    assert.equal(info.code, 1006);
    assert.ok(info.error instanceof ConnectionClosedError);
    assert.match(String((info.error.cause as Error).message), /middle of a frame/);
    assert.equal(attacked.server.connections, 0);
    await roundTrip(attacked.port);
    assert.deepEqual(attacked.errors, []);
  });

  test("mid-frame: connect() ends the connection with 1006 and a pending recv rejects", async (t) => {
    const server = await hostileServer(t, async (peer) => {
      // Gone once the kernel took the first 300 bytes of the frame.
      await peer.send(rawFrame(0x82, new Uint8Array(1000), null).subarray(0, 300));
      peer.destroy();
    });
    const ws = await connect(server.url, { ...PATIENT, pingInterval: 0 });
    const pending = ws.recv();
    await assert.rejects(pending, (err: unknown) => err instanceof ConnectionClosedError && err.closeCode === 1006);
    const info = await withTimeout(ws.closed, 2000, "closed");
    assert.equal(info.code, 1006);
    assert.equal(info.wasClean, false);
  });

  test("mid-handshake: serve() forgets the half-sent request, opens nothing, and keeps serving", async (t) => {
    const attacked = await attackedServer(t, echo, PATIENT);
    const request = upgradeRequest();
    for (const cut of [1, 20, request.length - 2]) {
      const client = await dialRaw(t, attacked.port);
      await client.send(request.slice(0, cut));
      client.destroy();
    }
    await roundTrip(attacked.port);
    assert.equal(attacked.accepted, 1);
    await eventually(() => attacked.server.connections === 0, 2000, "no connection left");
  });

  test("mid-handshake: connect() rejects with a HandshakeError when the server hangs up inside its 101", async (t) => {
    const server = await hostileServer(t, async (peer) => {
      await peer.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConn");
      peer.destroy();
    }, false);
    await assert.rejects(
      withTimeout(connect(server.url, { pingInterval: 0 }), 5000, "connect"),
      (err: unknown) => err instanceof HandshakeError && err.code === "ERR_HANDSHAKE_EOF",
    );
  });

  test("mid-closing-handshake: serve()'s close resolves with 1006 at once when the peer vanishes instead of answering", async (t) => {
    let first = true;
    const attacked = await attackedServer(t, (ws) => {
      if (!first) return echo(ws);
      first = false;
      return void ws.close(1000, "bye");
    }, PATIENT);
    const client = await openRaw(t, attacked.port);
    assert.equal(await client.readCloseCode(), 1000);
    const began = Date.now();
    client.destroy();
    await withTimeout(eventually(() => attacked.closes.length === 1, 2000, "closed"), 2000, "the server notices");
    assert.equal(attacked.closes[0].code, 1006);
    assert.ok(Date.now() - began < 2000);
    await roundTrip(attacked.port);
  });

  test("mid-closing-handshake: a peer that sends its close and vanishes leaves serve() closed with its code", async (t) => {
    const attacked = await attackedServer(t, echo, PATIENT);
    const client = await openRaw(t, attacked.port);
    client.write(rawFrame(0x88, [0x0f, 0xa0, ...new TextEncoder().encode("gone")]));
    client.destroy();
    await withTimeout(eventually(() => attacked.closes.length === 1, 2000, "closed"), 2000, "the server notices");
    assert.equal(attacked.closes[0].code, 4000);
    assert.equal(attacked.closes[0].reason, "gone");
    assert.equal(attacked.server.connections, 0);
    await roundTrip(attacked.port);
  });

  test("mid-closing-handshake: connect()'s close resolves with 1006 at once when the server vanishes instead of answering", async (t) => {
    const server = await hostileServer(t, async (peer) => {
      const frame = await peer.readFrame();
      assert.equal(frame?.opcode, 8);
      peer.destroy();
    });
    const ws = await connect(server.url, { ...PATIENT, pingInterval: 0 });
    const info = await withTimeout(ws.close(1000), 2000, "the close");
    assert.equal(info.code, 1006);
    assert.equal(info.wasClean, false);
  });
});

describe("a TCP reset", () => {
  test("serve() ends the connection with 1006, onSocket's failed read is not reported, and it keeps serving", async (t) => {
    let readError: unknown = null;
    const attacked = await attackedServer(t, async (ws) => {
      try {
        for await (const msg of ws) if (msg.data !== "before the reset") await ws.send(msg);
      } catch (err) {
        readError = err;
        throw err;
      }
    }, PATIENT);
    const client = await openRaw(t, attacked.port);
    client.write(rawFrame(0x81, "before the reset"));
    await eventually(() => attacked.server.connections === 1, 5000, "the server has the connection");
    reset(client.socket);
    await withTimeout(eventually(() => attacked.closes.length === 1, 2000, "closed"), 2000, "the server notices");
    assert.equal(attacked.closes[0].code, 1006);
    await eventually(() => readError !== null, 2000, "onSocket's loop fails");
    assert.ok(readError instanceof ConnectionClosedError && readError.closeCode === 1006, String(readError));
    // The loop's failure is the peer's doing, not a fault of the server.
    assert.deepEqual(attacked.errors, []);
    await roundTrip(attacked.port);
  });

  test("connect() ends the connection with 1006 and a pending recv rejects", async (t) => {
    // The reset follows once the client has read "hello" (a reset may discard what the client has not read).
    let helloRead!: () => void;
    const read = new Promise<void>((resolve) => (helloRead = resolve));
    const server = await hostileServer(t, async (peer) => {
      peer.write(rawFrame(0x81, "hello", null));
      await read;
      reset(peer.socket);
    });
    const ws = await connect(server.url, { ...PATIENT, pingInterval: 0 });
    assert.equal((await ws.recv()).data, "hello");
    helloRead();
    await assert.rejects(ws.recv(), (err: unknown) => err instanceof ConnectionClosedError && err.closeCode === 1006);
    assert.equal((await withTimeout(ws.closed, 2000, "closed")).code, 1006);
  });
});

describe("slowloris", () => {
  test("handshakes sent one byte per second are answered 408 at handshakeTimeout while others are served", async (t) => {
    // The server's handshake timers run on a clock the test moves: one
    // "second" per byte, and no wall-clock margins.
    const clock = new ManualClock();
    const attacked = await attackedServer(t, echo, { handshakeTimeout: 1500, clock });
    const crawlers = await Promise.all(Array.from({ length: 20 }, () => dialRaw(t, attacked.port)));
    const request = new TextEncoder().encode(upgradeRequest());
    let sent = 0;
    const dribble = () => {
      for (const crawler of crawlers) crawler.write(request.subarray(sent, sent + 1));
      sent++;
    };
    dribble();
    // Meanwhile, a client that does not crawl is served at once: with time
    // standing still it cannot be waiting for the crawlers to time out.
    await roundTrip(attacked.port);
    await clock.advance(1000);
    dribble();
    await clock.advance(499);
    // A 408 written at 1499 would be in the crawlers' buffers before a round trip through the same server ends.
    await roundTrip(attacked.port);
    for (const crawler of crawlers) {
      assert.equal(crawler.buffered, 0, "answered before handshakeTimeout");
      assert.equal(crawler.ended, false, "dropped before handshakeTimeout");
    }
    await clock.advance(1);
    const heads = await withTimeout(Promise.all(crawlers.map((crawler) => crawler.readHead(5000))), 5000, "the 408s");
    for (const head of heads) assert.equal(head.startLine, "HTTP/1.1 408 Request Timeout");
    // After the 408 the server ends TCP, and drops the socket after a linger at the latest.
    await clock.advance(1000);
    await withTimeout(Promise.all(crawlers.map((crawler) => crawler.closed)), 5000, "the crawlers are dropped");
    assert.equal(sent, 2, "two bytes trickled in before the server gave up");
    assert.equal(attacked.accepted, 2, "the two round trips");
  });

  test("connect()'s timeout ends a 101 that arrives one byte per second", async (t) => {
    let dribble: ReturnType<typeof setInterval> | undefined;
    t.after(() => clearInterval(dribble));
    const server = await hostileServer(t, (peer) => {
      const answer = new TextEncoder().encode("HTTP/1.1 101 Switching Protocols\r\n");
      let sent = 0;
      dribble = setInterval(() => peer.write(answer.subarray(sent, ++sent)), 1000);
    }, false);
    const began = Date.now();
    await assert.rejects(
      withTimeout(connect(server.url, { timeout: 1500 }), 5000, "connect"),
      (err: unknown) => err instanceof TimeoutError,
    );
    const took = Date.now() - began;
    assert.ok(took >= 1400 && took < 3000, `gave up after ${took} ms`);
  });
});

describe("1,000 connections opening and closing", () => {
  test("leave no socket, timer or unhandled rejection behind, and the server keeps serving", async (t) => {
    const { rejections } = await watchingRejections(async () => {
      const attacked = await attackedServer(t, echo, { closeTimeout: 2000, pingInterval: 60_000 });
      await roundTrip(attacked.port, "warm-up");
      await eventually(() => attacked.server.connections === 0, 5000, "the warm-up connection gone");
      const before = activeResources();
      const descriptorsBefore = CAN_COUNT_DESCRIPTORS ? openDescriptors() : 0;
      const total = 1000;
      const concurrency = 10;
      let next = 0;
      const outcomes = new Map<string, number>();
      const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
      const worker = async () => {
        while (next < total) {
          const i = next++;
          switch (i % 4) {
            case 0: // a clean round trip, closed by the client
              await roundTrip(attacked.port, `message ${i}`);
              count("clean");
              break;
            case 1: { // the client vanishes after the handshake
              const client = await openRaw(t, attacked.port);
              client.write(rawFrame(0x81, `message ${i}`));
              client.destroy();
              count("vanished");
              break;
            }
            case 2: { // the client resets mid-handshake
              const client = await dialRaw(t, attacked.port);
              client.write(upgradeRequest().slice(0, 30));
              reset(client.socket);
              count("reset");
              break;
            }
            case 3: { // the server closes: the client answers and waits for the server's FIN
              const ws = await connect(`ws://127.0.0.1:${attacked.port}/`, { timeout: 5000, pingInterval: 0 });
              await ws.send("please close");
              await ws.recv();
              const info = await withTimeout(ws.close(1000), 5000, "the close");
              assert.equal(info.code, 1000);
              count("closed");
              break;
            }
          }
        }
      };
      await withTimeout(Promise.all(Array.from({ length: concurrency }, worker)), 60_000, "the churn");
      assert.deepEqual(Object.fromEntries(outcomes), { clean: 250, vanished: 250, reset: 250, closed: 250 });
      await eventually(() => attacked.server.connections === 0, 5000, "every connection gone");
      await eventually(() => attacked.closes.length === 1 + 750, 5000, "every close recorded");
      // Open descriptors, on every runtime: the one count that sees a
      // socket the runtime still holds (Node's resource list below sees
      // only libuv handles, and Deno's and Bun's list nothing, which is
      // how Deno's leaked descriptor per closed connection went unseen).
      if (CAN_COUNT_DESCRIPTORS) {
        await eventually(() => openDescriptors() <= descriptorsBefore + 8, 5000, "descriptors back to the baseline");
      }
      // Node lists its live handles: back where it was before the churn.
      await eventually(() => {
        const after = activeResources();
        return ["TCPSocketWrap", "TCPWRAP", "Timeout"].every((kind) => (after.get(kind) ?? 0) <= (before.get(kind) ?? 0));
      }, 5000, "handles back to the baseline");
      await roundTrip(attacked.port, "after the churn");
      assert.deepEqual(attacked.errors, []);
      await attacked.close();
    });
    assert.deepEqual(rejections, []);
  });
});
