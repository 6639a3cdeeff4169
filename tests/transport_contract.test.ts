// One contract for every transport in src/transport/, run against each one
// this runtime has: node:net everywhere, Deno's and Bun's own sockets on their
// runtimes, the Web Streams shim, an HTTP/2 stream (h2c), a CONNECT tunnel
// through tinyproxy, and the frame tracer wrapped around node:net. Bytes in
// order both ways, bytes that arrive before `start`, pause and resume, the
// shared high-water mark and drain, `writev` where the transport has one, the
// end reported once however the connection ends, and the members a wrapper
// must forward. The socket shims also release their socket exactly once
// (counted in open descriptors).
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  type ClientHttp2Session,
  connect as http2Connect,
  constants as http2Constants,
  createServer as createHttp2Server,
  type ServerHttp2Stream,
} from "node:http2";
import { createServer, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { after, before, describe, eventually, type Owner, Releases, socketsPolled, test, withTimeout } from "./_test.ts";
import { type RunningProxy, startTinyproxy, TINYPROXY } from "./_proxies.ts";
import { readWireFrame } from "./_frames.ts";
import { rawFrame } from "./_helpers.ts";
import { currentRuntime } from "../src/transport/runtime.ts";
import { streamTransport } from "../src/transport/streams.ts";
import { http2StreamTransport } from "../src/transport/http2.ts";
import { dialThroughProxy } from "../src/transport/proxy.ts";
import { type TracedFrame, traceTransport } from "../src/transport/trace.ts";
import { parseProxyUrl } from "../src/client/proxy.ts";
import type { Transport, TransportSink } from "../src/transport/types.ts";
import { HIGH_WATER_MARK } from "../src/transport/write_queue.ts";
import { CAN_COUNT_DESCRIPTORS, NO_DESCRIPTOR_COUNT, openDescriptors } from "./_descriptors.ts";

/** What a sink heard, in order. */
class Recorder implements TransportSink {
  chunks: Uint8Array[] = [];
  ends = 0;
  errors: unknown[] = [];
  drains = 0;
  data(chunk: Uint8Array): void {
    this.chunks.push(chunk);
  }
  end(): void {
    this.ends++;
  }
  error(err: unknown): void {
    this.errors.push(err);
  }
  drain(): void {
    this.drains++;
  }
  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
  get finished(): boolean {
    return this.ends + this.errors.length > 0;
  }
  get all(): number[] {
    return this.chunks.flatMap((c) => [...c]);
  }
}

/** The far end of a transport under test: a socket, an HTTP/2 stream or a pair of Web Streams. */
interface Peer {
  /** Writes; resolves once the bytes were handed to what carries them. */
  write(bytes: Uint8Array): Promise<void>;
  /** Ends the peer's sending side. */
  end(): void;
  /** Stops and restarts reading. */
  pause(): void;
  resume(): void;
  /** Drops the connection abruptly (TCP reset, RST_STREAM, an aborted stream). */
  reset(): void;
  destroy(): void;
  /** Every byte read so far, in order. */
  received(): Uint8Array;
  /** How many bytes were read so far. */
  count(): number;
  /** Resolves once the peer has read our end. */
  ended: Promise<void>;
}

/** A transport, not started, with its peer. */
interface Opened {
  transport: Transport;
  peer: Peer;
}

/** One kind of transport: how to open one, and what it promises beyond the common contract. */
interface Kind {
  name: string;
  open(t: Owner): Promise<Opened>;
  /** Whether it must have `writev` (node:net and whatever wraps it). */
  writev: boolean;
  /** A socket of its own, whose release shows in the open descriptors. */
  socket: boolean;
  skip?: string | false;
  /** Run before and after its tests (a proxy to tunnel through). */
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

/** A Node Duplex (net.Socket, an HTTP/2 stream) as a peer. */
function duplexPeer(stream: Duplex, reset: () => void): Peer {
  const chunks: Uint8Array[] = [];
  let count = 0;
  stream.on("error", () => {});
  stream.on("data", (chunk: Uint8Array) => {
    chunks.push(chunk);
    count += chunk.length;
  });
  const ended = new Promise<void>((resolve) => stream.once("end", () => resolve()));
  return {
    write: (bytes) => new Promise<void>((resolve) => stream.write(bytes, () => resolve())),
    end: () => void stream.end(),
    pause: () => void stream.pause(),
    resume: () => void stream.resume(),
    reset,
    destroy: () => void stream.destroy(),
    received: () => new Uint8Array(Buffer.concat(chunks)),
    count: () => count,
    ended,
  };
}

/** A raw server whose accepted sockets come out of `next()`; closed, with them, when `t` ends. */
async function peerServer(t: Owner): Promise<{ port: number; next(): Promise<Socket> }> {
  const waiting: ((socket: Socket) => void)[] = [];
  const ready: Socket[] = [];
  const all = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on("error", () => {});
    all.add(socket);
    const take = waiting.shift();
    if (take) take(socket);
    else ready.push(socket);
  });
  t.after(() => {
    for (const socket of all) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    next: () => {
      const socket = ready.shift();
      if (socket) return Promise.resolve(socket);
      return withTimeout(new Promise((resolve) => waiting.push(resolve)), 5000, "The transport's connection to the peer server");
    },
  };
}

const servers = new WeakMap<Owner, ReturnType<typeof peerServer>>();

/** A kind over a TCP connection to a server of ours: `dial` opens the transport to the port. */
function socketKind(name: string, dial: (port: number) => Promise<Transport>, writev: boolean): Kind {
  return {
    name,
    writev,
    socket: true,
    async open(t) {
      // One server per test, however many connections the test opens.
      let server = servers.get(t);
      if (server === undefined) servers.set(t, server = peerServer(t));
      const transport = await dial((await server).port);
      t.after(() => transport.destroy());
      const socket = await (await server).next();
      return { transport, peer: duplexPeer(socket, () => socket.resetAndDestroy()) };
    },
  };
}

const dialNode = async (port: number) => {
  const { dialNode } = await import("../src/transport/node.ts");
  return dialNode({ hostname: "127.0.0.1", port });
};

/** tinyproxy for the tunnel kind, started before its tests and stopped after them. */
let tinyproxy: RunningProxy | null = null;
const proxyReleases = new Releases();

/** What the tracer saw, per transport it wraps. */
const traces = new WeakMap<Transport, TracedFrame[]>();

function kinds(): Kind[] {
  const all: Kind[] = [socketKind("node:net", dialNode, true)];
  if (currentRuntime() === "deno") {
    all.push(socketKind("Deno.connect", async (port) => {
      const { dialDeno } = await import("../src/transport/deno.ts");
      return dialDeno({ hostname: "127.0.0.1", port });
    }, false));
  }
  if (currentRuntime() === "bun") {
    all.push(socketKind("Bun.connect", async (port) => {
      const { dialBun } = await import("../src/transport/bun.ts");
      return dialBun({ hostname: "127.0.0.1", port });
    }, false));
  }
  all.push({
    name: "Web Streams",
    writev: false,
    socket: false,
    open(t) {
      const inbound = new TransformStream<Uint8Array, Uint8Array>();
      const outbound = new TransformStream<Uint8Array, Uint8Array>();
      const transport = streamTransport({ readable: inbound.readable, writable: outbound.writable });
      t.after(() => transport.destroy());
      const writer = inbound.writable.getWriter();
      const reader = outbound.readable.getReader();
      const chunks: Uint8Array[] = [];
      let count = 0;
      let paused = false;
      let wake = () => {};
      let ended!: () => void;
      const endedPromise = new Promise<void>((resolve) => (ended = resolve));
      void (async () => {
        for (;;) {
          while (paused) await new Promise<void>((resolve) => (wake = resolve));
          const { value, done } = await reader.read();
          if (done) return ended();
          chunks.push(value);
          count += value.length;
        }
      })().catch(() => {});
      const peer: Peer = {
        write: (bytes) => {
          writer.write(bytes).catch(() => {});
          return Promise.resolve();
        },
        end: () => void writer.close().catch(() => {}),
        pause: () => void (paused = true),
        resume: () => {
          paused = false;
          wake();
        },
        reset: () => {
          writer.abort(new Error("reset by the peer")).catch(() => {});
          reader.cancel().catch(() => {});
        },
        destroy: () => peer.reset(),
        received: () => new Uint8Array(Buffer.concat(chunks)),
        count: () => count,
        ended: endedPromise,
      };
      return Promise.resolve({ transport, peer });
    },
  });
  all.push({
    name: "HTTP/2 stream (h2c)",
    writev: false,
    socket: false,
    async open(t) {
      const server = createHttp2Server();
      const streams: ServerHttp2Stream[] = [];
      server.on("stream", (stream: ServerHttp2Stream) => {
        stream.on("error", () => {});
        stream.respond({ ":status": 200 });
        streams.push(stream);
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      let session: ClientHttp2Session | null = null;
      t.after(() => {
        session?.destroy();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      });
      session = http2Connect(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
      session.on("error", () => {});
      const stream = session.request({ ":method": "POST", ":path": "/contract" }, { endStream: false });
      stream.on("error", () => {});
      await withTimeout(new Promise<void>((resolve) => stream.once("response", () => resolve())), 5000, "the 200");
      await eventually(() => streams.length > 0, 5000, "the server's stream");
      const transport = http2StreamTransport(stream);
      t.after(() => transport.destroy());
      const serverStream = streams[0];
      return { transport, peer: duplexPeer(serverStream, () => serverStream.close(http2Constants.NGHTTP2_CANCEL)) };
    },
  });
  all.push({
    ...socketKind("CONNECT tunnel (tinyproxy)", (port) =>
      dialThroughProxy({ hostname: "127.0.0.1", port }, {
        address: parseProxyUrl(tinyproxy!.url),
        headers: [],
        tls: {},
      }), true),
    skip: TINYPROXY === null ? "tinyproxy is not installed" : false,
    setup: async () => void (tinyproxy = await startTinyproxy(proxyReleases)),
    teardown: () => proxyReleases.release(),
  });
  all.push(socketKind("frame tracer over node:net", async (port) => {
    const frames: TracedFrame[] = [];
    const traced = traceTransport(await dialNode(port), (frame) => frames.push(frame));
    traces.set(traced, frames);
    return traced;
  }, true));
  return all;
}

const bytes = (...values: number[]) => new Uint8Array(values);
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => (from + i) & 0xff);

const ROUNDS = 50;

for (const kind of kinds()) {
  describe(`the transport contract: ${kind.name}`, { skip: kind.skip ?? false }, () => {
    if (kind.setup !== undefined) before(kind.setup);
    if (kind.teardown !== undefined) after(kind.teardown);
    /** Opens one, starting it with a recorder unless told not to. */
    async function open(t: Owner, start = true) {
      const opened = await kind.open(t);
      const sink = new Recorder();
      if (start) opened.transport.start(sink);
      return { ...opened, sink };
    }

    test("has every member of Transport, writev where it must", async (t) => {
      const { transport } = await open(t, false);
      for (const method of ["start", "write", "pause", "resume", "end", "destroy"] as const) {
        assert.equal(typeof transport[method], "function", method);
      }
      assert.equal(typeof transport.mutableChunks, "boolean", "mutableChunks");
      assert.equal(transport.bufferedAmount, 0, "bufferedAmount before any write");
      if (kind.writev) assert.equal(typeof transport.writev, "function", "writev");
      if (kind.socket) assert.equal(transport.remoteAddress, "127.0.0.1", "remoteAddress");
      transport.destroy();
    });

    test("delivers bytes in order both ways and reports the peer's end once", async (t) => {
      const { transport, peer, sink } = await open(t);
      for (let i = 0; i < 100; i++) void peer.write(bytes(i));
      for (let i = 0; i < 100; i++) transport.write(bytes(i, i));
      // Both ways first: a proxy's tunnel does not carry one direction past the other's end.
      await eventually(() => sink.bytes === 100 && peer.count() === 200, 5000, "the bytes both ways");
      peer.end();
      await eventually(() => sink.finished, 5000, "the peer's end");
      assert.equal(sink.ends, 1, `ends: ${sink.ends}, errors: ${sink.errors}`);
      assert.deepEqual(sink.all, range(100));
      assert.ok(sink.chunks.every((c) => c.constructor === Uint8Array), "plain Uint8Arrays, never Buffers");
      transport.end();
      await withTimeout(peer.ended, 5000, "our end at the peer");
      assert.deepEqual([...peer.received()], range(100).flatMap((i) => [i, i]));
    });

    test("keeps the bytes and the end that arrive before start, and hands them over on start", async (t) => {
      const { transport, peer, sink } = await open(t, false);
      await peer.write(bytes(1, 2, 3));
      await peer.write(bytes(4, 5));
      peer.end();
      // They reached our side (and were read, where a runtime reads eagerly) before start.
      await socketsPolled();
      transport.start(sink);
      await eventually(() => sink.finished, 5000, "the peer's end after start");
      assert.deepEqual(sink.all, [1, 2, 3, 4, 5]);
      assert.deepEqual([sink.ends, sink.errors.length], [1, 0]);
    });

    test("pause stops delivery and resume restarts it, in order", async (t) => {
      const { transport, peer, sink } = await open(t);
      await peer.write(bytes(1));
      await eventually(() => sink.bytes === 1, 5000, "the first byte");
      transport.pause();
      await peer.write(bytes(2, 3));
      await peer.write(bytes(4));
      await socketsPolled();
      assert.deepEqual(sink.all, [1], "delivered while paused");
      transport.resume();
      await eventually(() => sink.bytes === 4, 5000, "the bytes sent while paused, after resume");
      assert.deepEqual(sink.all, [1, 2, 3, 4]);
      // Paused again across the peer's end: the end waits too.
      transport.pause();
      await peer.write(bytes(5));
      peer.end();
      await socketsPolled();
      assert.deepEqual([sink.all.length, sink.ends], [4, 0], "delivered while paused");
      transport.resume();
      await eventually(() => sink.finished, 5000, "the end, after resume");
      assert.deepEqual(sink.all, [1, 2, 3, 4, 5]);
      assert.equal(sink.ends, 1);
    });

    test("write returns false past the shared high-water mark, and drain follows once the peer reads", async (t) => {
      const { transport, peer, sink } = await open(t);
      peer.pause();
      let accepted = true;
      let written = 0;
      while (accepted && written < 64 * 1024 * 1024) {
        accepted = transport.write(new Uint8Array(16 * 1024));
        written += 16 * 1024;
      }
      assert.equal(accepted, false, `write never asked to wait (${written} bytes written)`);
      assert.ok(transport.bufferedAmount > HIGH_WATER_MARK / 2, `bufferedAmount ${transport.bufferedAmount}`);
      peer.resume();
      await eventually(() => sink.drains > 0, 20_000, "drain");
      await eventually(() => peer.count() === written, 20_000, `the peer reading all ${written} bytes`);
    });

    test(`writev ${kind.writev ? "sends its chunks in one call, in order, after what was written before" : "is absent or keeps the order"}`, async (t) => {
      const { transport, peer } = await open(t);
      if (transport.writev === undefined) {
        assert.equal(kind.writev, false, "writev is missing");
        return;
      }
      // Frames, so that a tracer has something to read.
      const frames = [rawFrame(0x82, bytes(1, 2, 3), null), rawFrame(0x82, new Uint8Array(20_000).fill(7), null)];
      assert.equal(transport.write(rawFrame(0x81, "first", null)), true);
      assert.equal(typeof transport.writev([frames[0], frames[1], rawFrame(0x81, "last", null)]), "boolean");
      transport.end();
      await withTimeout(peer.ended, 5000, "our end at the peer");
      const received = peer.received();
      const expected = Buffer.concat([rawFrame(0x81, "first", null), ...frames, rawFrame(0x81, "last", null)]);
      assert.equal(received.length, expected.length, "bytes at the peer");
      assert.ok(Buffer.from(received).equals(expected), "the bytes at the peer, in order");
      // Parsed by the test's own frame parser, not the tracer's.
      const parsed = [];
      for (let at = 0; at < received.length;) {
        const read = readWireFrame(received.subarray(at), false);
        assert.ok(read !== null, `a whole frame at byte ${at}`);
        parsed.push([read.frame.opcode, read.frame.payload.length]);
        at += read.size;
      }
      assert.deepEqual(parsed, [[1, 5], [2, 3], [2, 20_000], [1, 4]]);
      const traced = traces.get(transport);
      if (traced !== undefined) {
        assert.deepEqual(traced.map((f) => [f.direction, f.opcode, f.length]), [
          ["send", 1, 5],
          ["send", 2, 3],
          ["send", 2, 20_000],
          ["send", 1, 4],
        ], "the tracer saw the vectored frames");
      }
    });

    const endings: [string, (o: Opened & { sink: Recorder }) => Promise<void>][] = [
      ["our end, then the peer's", async ({ transport, peer, sink }) => {
        transport.end();
        await peer.ended;
        peer.end();
        await eventually(() => sink.finished, 5000, "the end");
      }],
      ["the peer's end, then ours", async ({ transport, peer, sink }) => {
        peer.end();
        await eventually(() => sink.finished, 5000, "the end");
        transport.end();
        await peer.ended;
      }],
      ["destroy, twice", ({ transport }) => {
        transport.destroy();
        transport.destroy();
        return Promise.resolve();
      }],
      ["a reset by the peer", async ({ peer, sink }) => {
        peer.reset();
        await eventually(() => sink.finished, 5000, "the end");
      }],
    ];
    for (const [how, end] of endings) {
      test(`reports the end at most once: ${how}`, async (t) => {
        const opened = await open(t);
        await withTimeout(end(opened), 5000, how);
        await socketsPolled();
        const { sink } = opened;
        assert.ok(sink.ends + sink.errors.length <= 1, `ends: ${sink.ends}, errors: ${sink.errors.length}`);
        assert.equal(opened.transport.write(bytes(1)), true, "a write after the end is taken and dropped");
        opened.transport.destroy();
      });
    }

    if (kind.socket) {
      for (const [how, end] of endings) {
        test(`releases the socket once both directions are done: ${how}`, {
          skip: CAN_COUNT_DESCRIPTORS ? false : NO_DESCRIPTOR_COUNT,
        }, async (t) => {
          const before = openDescriptors();
          const peers: Peer[] = [];
          for (let i = 0; i < ROUNDS; i++) {
            const opened = await open(t);
            peers.push(opened.peer);
            await withTimeout(end(opened), 5000, how);
            assert.ok(opened.sink.ends + opened.sink.errors.length <= 1, "the end was reported once");
          }
          for (const peer of peers) peer.destroy();
          await eventually(() => openDescriptors() <= before + 4, 5000, `descriptors released after ${ROUNDS} rounds of ${how}`);
        });
      }
    }
  });
}

describe("the Web Streams shim: its pair's close", () => {
  function pipe() {
    const inbound = new TransformStream<Uint8Array, Uint8Array>();
    const outbound = new TransformStream<Uint8Array, Uint8Array>();
    let closes = 0;
    const transport = streamTransport({ readable: inbound.readable, writable: outbound.writable, close: () => closes++ });
    const sink = new Recorder();
    transport.start(sink);
    return { transport, sink, peerIn: inbound.writable.getWriter(), peerOut: outbound.readable.getReader(), closes: () => closes };
  }

  test("closes the pair once, after both directions are done", async () => {
    const { transport, sink, peerIn, peerOut, closes } = pipe();
    await peerIn.write(new Uint8Array([1, 2, 3]));
    transport.write(new Uint8Array([4, 5]));
    assert.deepEqual([...(await peerOut.read()).value!], [4, 5]);
    await peerIn.close();
    await eventually(() => sink.finished, 1000, "the end");
    assert.equal(closes(), 0, "closed while our side was still open");
    transport.end();
    assert.equal((await peerOut.read()).done, true);
    await eventually(() => closes() === 1, 1000, "released");
    transport.destroy();
    assert.equal(closes(), 1, "released twice");
    assert.deepEqual([...sink.chunks[0]], [1, 2, 3]);
  });

  test("destroy releases at once, exactly once", () => {
    const { transport, closes } = pipe();
    transport.destroy();
    transport.destroy();
    assert.equal(closes(), 1);
  });
});
